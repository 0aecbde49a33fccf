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
    return extractRequest(request -> {
      long given = java.util.stream.StreamSupport.stream(request.getHeaders().spliterator(), false)
          .filter(h -> h.is("authorization")).count();
      // two tokens are ambiguous: refused, whichever of them is valid
      Auth.Result result = given > 1 && auth.enabled()
          ? Auth.Result.INVALID
          : auth.check(request.getHeader("Authorization").map(HttpHeader::value), scope);
      return switch (result) {
        case ALLOWED -> inner.get();
        case MISSING -> complete(authError(StatusCodes.UNAUTHORIZED, "unauthorized", "missing",
            "this endpoint needs a bearer token with scope '" + scope.configName()
                + "': send the header Authorization: Bearer <token>")
            .addHeader(RawHeader.create("WWW-Authenticate", "Bearer")));
        case INVALID -> complete(authError(StatusCodes.UNAUTHORIZED, "unauthorized", "invalid-token",
            given > 1
                ? "the request has " + given + " Authorization headers: send one, Authorization: Bearer <token>"
                : "the bearer token is not valid: check the token configured for this router")
            .addHeader(RawHeader.create("WWW-Authenticate", "Bearer error=\"invalid_token\"")));
        case FORBIDDEN -> complete(authError(StatusCodes.FORBIDDEN, "forbidden", "missing-scope",
            "the token does not have scope '" + scope.configName() + "'"));
      };
    });
  }

  /** A 401 or 403 whose field error names the Authorization header (never its value). */
  private static HttpResponse authError(StatusCode status, String code, String fieldCode, String message) {
    return json(status, new ApiError(code, message, List.of(new FieldError("Authorization", fieldCode, message))));
  }

  /**
   * The 415 or 400 for a body that is not declared as JSON: JSON, a form (what {@code curl -d} sends) and no type
   * ({@code application/octet-stream}) are read as JSON, any other type is refused, and so is a Content-Type header
   * Pekko could not parse (it is then left among the headers as a raw one); null when the type is fine.
   */
  protected static HttpResponse badContentType(org.apache.pekko.http.javadsl.model.HttpRequest request) {
    for (HttpHeader h : request.getHeaders()) {
      if (h.is("content-type")) {
        String message = "the Content-Type header '" + shorten(h.value()) + "' is malformed: send"
            + " Content-Type: application/json";
        return json(StatusCodes.BAD_REQUEST, new ApiError("invalid", message,
            List.of(new FieldError("Content-Type", "invalid-content-type", message))));
      }
    }
    if (request.entity().isKnownEmpty()
        || request.entity().getContentType().equals(org.apache.pekko.http.javadsl.model.ContentTypes.NO_CONTENT_TYPE)) {
      return null; // no body, or a body without a type: read as JSON (an empty one is the operation's default)
    }
    if (RawPublish.isRaw(request)) {
      String message = "the body is " + request.entity().getContentType().mediaType() + ": this endpoint reads"
          + " JSON, send Content-Type: application/json";
      return json(StatusCodes.UNSUPPORTED_MEDIA_TYPE, new ApiError("unsupported-media-type", message,
          List.of(new FieldError("Content-Type", "unsupported-media-type", message))));
    }
    return null;
  }

  /**
   * Reads the request body as {@code spec} says ({@link JsonBodies}) and runs {@code inner} with the record and the
   * unknown fields found (field errors the route adds to its own); a body that cannot be read is answered 400 here.
   */
  protected <T> Route jsonBody(JsonBodies.Spec<T> spec, BiFunction<T, List<FieldError>, Route> inner) {
    return extractRequest(request -> {
      HttpResponse bad = badContentType(request);
      return bad != null ? complete(bad) : readJson(spec, inner);
    });
  }

  private <T> Route readJson(JsonBodies.Spec<T> spec, BiFunction<T, List<FieldError>, Route> inner) {
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
