package io.redisrouter.router.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.router.redis.RedisFailures;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.slf4j.Logger;

import java.time.Duration;
import java.util.List;
import java.util.function.BiFunction;
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

  /**
   * Reads the request body as {@code spec} says ({@link JsonBodies}) and runs {@code inner} with the record and the
   * unknown fields found (field errors the route adds to its own); a body that cannot be read is answered 400 here.
   */
  protected <T> Route jsonBody(JsonBodies.Spec<T> spec, BiFunction<T, List<FieldError>, Route> inner) {
    return entity(Unmarshaller.entityToByteString(), bytes -> {
      JsonBodies.Parsed<T> parsed = JsonBodies.read(bytes, spec);
      if (parsed instanceof JsonBodies.Parsed.Ok<T> ok) return inner.apply(ok.value(), ok.unknownFields());
      return complete(((JsonBodies.Parsed.Invalid<T>) parsed).response());
    });
  }

  /**
   * The answer to a request that failed in Redis: Redis down (now, or while the commands ran) is 503 with
   * Retry-After; a Redis error reply, or anything else, is 500 and logged.
   */
  protected static HttpResponse redisFailure(Logger log, String what, Throwable t) {
    Throwable c = RedisFailures.unwrap(t);
    if (RedisFailures.isUnavailable(c)) {
      return retryLater(StatusCodes.SERVICE_UNAVAILABLE, "redis-unavailable",
          "redis is not reachable now (" + RedisFailures.describe(c) + "): retry later", Duration.ofSeconds(1));
    }
    log.warn("{} failed: {}", what, RedisFailures.describe(c));
    return error(StatusCodes.INTERNAL_SERVER_ERROR, "internal-error",
        "the " + what + " failed (" + RedisFailures.describe(c) + "); see the router's log");
  }

  /** A stage that is already complete. */
  protected static <T> java.util.concurrent.CompletionStage<T> done(T value) {
    return java.util.concurrent.CompletableFuture.completedFuture(value);
  }

  /** {@code s}, cut to 40 characters for an error message. */
  protected static String shorten(String s) {
    return s.length() > 40 ? s.substring(0, 40) + "..." : s;
  }
}
