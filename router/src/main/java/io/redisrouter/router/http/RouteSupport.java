package io.redisrouter.router.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.redisrouter.protocol.EnvelopeCodec;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;

/** Helpers every route group shares: JSON responses, the error body, and the auth directive. */
public abstract class RouteSupport extends AllDirectives {
  protected static final ObjectMapper JSON = EnvelopeCodec.mapper();

  protected final Auth auth;
  protected final Endpoints endpoints;

  protected RouteSupport(Auth auth, Endpoints endpoints) {
    this.auth = auth;
    this.endpoints = endpoints;
  }

  /** A JSON response. */
  public static HttpResponse json(StatusCode status, Object body) {
    try {
      return HttpResponse.create().withStatus(status)
          .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, JSON.writeValueAsBytes(body)));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode response: " + e.getMessage(), e);
    }
  }

  /** An error response with the standard body. */
  public static HttpResponse error(StatusCode status, String code, String message) {
    return json(status, ApiError.of(code, message));
  }

  /** An error response telling the client when to retry. */
  public static HttpResponse retryLater(StatusCode status, String code, String message, Duration retryAfter) {
    long seconds = Math.max(1, (retryAfter.toMillis() + 999) / 1000);
    List<HttpHeader> headers = List.of(RawHeader.create("Retry-After", Long.toString(seconds)));
    return json(status, ApiError.of(code, message)).withHeaders(headers);
  }

  /** Runs {@code inner} only for a request whose bearer token has {@code scope}; else 401 or 403 with a JSON body. */
  protected Route authorized(HttpSettings.Scope scope, Supplier<Route> inner) {
    return optionalHeaderValueByName("Authorization", h -> switch (auth.check(h, scope)) {
      case ALLOWED -> inner.get();
      case MISSING -> complete(error(StatusCodes.UNAUTHORIZED, "unauthorized",
          "this endpoint needs a bearer token with scope '" + scope.configName()
              + "': send the header Authorization: Bearer <token>")
          .addHeader(RawHeader.create("WWW-Authenticate", "Bearer")));
      case INVALID -> complete(error(StatusCodes.UNAUTHORIZED, "unauthorized",
          "the bearer token is not valid: check the token configured for this router")
          .addHeader(RawHeader.create("WWW-Authenticate", "Bearer error=\"invalid_token\"")));
      case FORBIDDEN -> complete(error(StatusCodes.FORBIDDEN, "forbidden",
          "the token does not have scope '" + scope.configName() + "'"));
    });
  }

  /** A stage that is already complete. */
  protected static <T> java.util.concurrent.CompletionStage<T> done(T value) {
    return java.util.concurrent.CompletableFuture.completedFuture(value);
  }

  /** The first line of a (parser) message. */
  protected static String firstLine(String s) {
    if (s == null) return "parse error";
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
