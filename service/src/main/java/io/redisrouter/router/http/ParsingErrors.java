package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;
import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.http.ParsingErrorHandler;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.Connection;
import org.apache.pekko.http.scaladsl.model.ErrorInfo;
import org.apache.pekko.http.scaladsl.model.StatusCode;
import org.apache.pekko.http.scaladsl.settings.ServerSettings;

import java.util.List;
import java.util.Locale;

/**
 * The answer to a request so malformed that Pekko's HTTP parser refuses it before any route runs (a request target
 * over {@code pekko.http.server.parsing.max-uri-length} or not percent-encoded, a header over
 * {@code max-header-value-length}, more than {@code max-header-count} headers, a control character in a header): the
 * API's JSON error body instead of Pekko's plain text, naming the part of the request that was wrong ({@code uri} or
 * {@code headers}). Pekko closes the connection after it. A request line Pekko takes for an unsupported HTTP version
 * (a space in the target splits it) is a 400 here, not a 505: the client sent a malformed request. Only Pekko's
 * summary is quoted, never the offending value (it may be a token).
 */
public final class ParsingErrors extends ParsingErrorHandler {
  public ParsingErrors() {}

  @Override
  public HttpResponse handle(StatusCode status, ErrorInfo info, LoggingAdapter log, ServerSettings settings) {
    String summary = info.summary() == null ? "" : info.summary();
    String lower = summary.toLowerCase(Locale.ROOT);
    int code = status.intValue();
    if (code >= 500) code = 400; // 505: the request line was malformed (a space in its target)
    String field = code == 414 || lower.contains("uri") || lower.contains("request-target")
        || lower.contains("request target") || status.intValue() == 505
            ? "uri"
            : lower.contains("header") ? "headers" : "request";
    String fix = switch (field) {
      case "uri" -> "send a request target of at most pekko.http.server.parsing.max-uri-length characters,"
          + " percent-encoded (RFC 3986)";
      case "headers" -> "send at most pekko.http.server.parsing.max-header-count headers, each value at most"
          + " max-header-value-length characters, without control characters";
      default -> "send a well-formed HTTP/1.1 request";
    };
    String message = "the request was refused before routing (" + scrub(summary) + "): " + fix;
    log.debug("refused a malformed request: {} {}", code, summary);
    org.apache.pekko.http.javadsl.model.StatusCode answered = code == status.intValue()
        ? status
        : StatusCodes.BAD_REQUEST;
    return RouteSupport.json(answered, new ApiError("malformed-request", message,
        List.of(new FieldError(field, "malformed-request", message)))).addHeader(Connection.create("close"));
  }

  /** Pekko's summary without any quoted value (a header's value may be a secret). */
  private static String scrub(String s) {
    String t = s.replaceAll("'[^']*'", "'...'").replaceAll("\"[^\"]*\"", "\"...\"");
    return t.length() > 200 ? t.substring(0, 200) + "..." : t;
  }
}
