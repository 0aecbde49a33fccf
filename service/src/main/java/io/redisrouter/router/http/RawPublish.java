package io.redisrouter.router.http;

import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.Validation;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.MediaTypes;

import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A raw-body publish: {@code POST /v1/channels/{channel}/messages} with any content type but JSON. The body is the
 * payload as it is (no JSON, no base64), the request's {@code Content-Type} is the message's content type, and the
 * metadata comes in headers: {@code Idempotency-Key}, {@code X-Router-Partition-Key}, {@code X-Router-TTL} ("30s",
 * "500ms", ISO-8601 "PT30S"), {@code X-Router-Deadline} (ISO-8601 instant), and one {@code X-Router-Header-<name>}
 * per message header; for the loss audit {@code X-Router-Producer-Id} with {@code X-Router-Sequence}. A JSON body ({@code application/json}), a form ({@code application/x-www-form-urlencoded}, what
 * {@code curl -d} sends unless told otherwise) and a body without a content type ({@code application/octet-stream})
 * are read as {@link PublishBody}.
 */
final class RawPublish {
  static final String PARTITION_KEY = "X-Router-Partition-Key";
  static final String TTL = "X-Router-TTL";
  static final String DEADLINE = "X-Router-Deadline";
  static final String HEADER_PREFIX = "X-Router-Header-";
  static final String PRODUCER_ID = "X-Router-Producer-Id";
  static final String SEQUENCE = "X-Router-Sequence";

  private RawPublish() {}

  /**
   * Whether {@code request} is a raw-body publish: its content type is not JSON, a form, or
   * {@code application/octet-stream} (what HTTP assumes for a body that names no type, so such a body is read as JSON
   * as it always was: raw bytes are published with a type that names them, e.g. {@code application/x-protobuf}).
   */
  static boolean isRaw(HttpRequest request) {
    var media = request.entity().getContentType().mediaType();
    return !(media.equals(MediaTypes.APPLICATION_JSON) || media.equals(MediaTypes.APPLICATION_X_WWW_FORM_URLENCODED)
        || media.equals(MediaTypes.APPLICATION_OCTET_STREAM));
  }

  /**
   * The publish request of a raw body, with field errors (named by the header or "body" they came from) added to
   * {@code errors}; null when there are any.
   */
  static PublishRequest toRequest(String channel, HttpRequest http, byte[] body, String contentType,
      RouterSettings settings, List<FieldError> errors) {
    int before = errors.size();
    String partitionKey = null;
    Duration ttl = null;
    Instant deadline = null;
    String key = null;
    String producerId = null;
    Long sequence = null;
    Map<String, String> headers = new LinkedHashMap<>();
    for (HttpHeader h : http.getHeaders()) {
      String lower = h.lowercaseName();
      if (lower.equals("idempotency-key")) {
        key = h.value();
      } else if (lower.equals(PARTITION_KEY.toLowerCase(Locale.ROOT))) {
        partitionKey = h.value();
      } else if (lower.equals(TTL.toLowerCase(Locale.ROOT))) {
        ttl = Durations.parse(h.value());
        if (ttl == null) {
          errors.add(new FieldError(TTL, "invalid-ttl", TTL + " '" + h.value() + "' is invalid: use e.g. \"30s\","
              + " \"500ms\", \"5m\" or ISO-8601 \"PT30S\""));
        }
      } else if (lower.equals(DEADLINE.toLowerCase(Locale.ROOT))) {
        try {
          deadline = Instant.parse(h.value());
        } catch (DateTimeParseException e) {
          errors.add(new FieldError(DEADLINE, "invalid-deadline", DEADLINE + " '" + h.value() + "' is invalid: use"
              + " an ISO-8601 instant like 2030-01-01T00:00:00Z"));
        }
      } else if (lower.equals(PRODUCER_ID.toLowerCase(Locale.ROOT))) {
        producerId = h.value();
      } else if (lower.equals(SEQUENCE.toLowerCase(Locale.ROOT))) {
        sequence = PublishBody.parseSequence(h.value());
        if (sequence == null) {
          String shown = h.value().length() > 40 ? h.value().substring(0, 40) + "..." : h.value();
          errors.add(new FieldError(SEQUENCE, "invalid-sequence", SEQUENCE + " '" + shown + "' is invalid: give"
              + " an integer from 0 to " + Long.MAX_VALUE));
          sequence = 0L; // reported; do not report it missing as well
        }
      } else if (lower.startsWith(HEADER_PREFIX.toLowerCase(Locale.ROOT))) {
        String name = h.name().substring(HEADER_PREFIX.length());
        if (headers.put(name, h.value()) != null) {
          errors.add(new FieldError(HEADER_PREFIX + name, "duplicate-header", "message header '" + name
              + "' is given twice: send each " + HEADER_PREFIX + "<name> once"));
        }
      } else if (lower.startsWith("x-router-")) {
        errors.add(new FieldError(h.name(), "unknown-header", "unknown header " + h.name() + ": use "
            + PARTITION_KEY + ", " + TTL + ", " + DEADLINE + ", " + PRODUCER_ID + ", " + SEQUENCE + " or "
            + HEADER_PREFIX + "<name>"));
      }
    }
    PublishRequest r = new PublishRequest(channel, key, partitionKey, body, contentType, headers, ttl, deadline,
        producerId, sequence);
    boolean channelReported = errors.stream().anyMatch(e -> e.field().equals("channel"));
    for (FieldError e : Validation.checkPublish(r, settings.limits(), Instant.now())) {
      if (e.field().equals("channel")) {
        if (!channelReported) errors.add(e);
        channelReported = true;
        continue;
      }
      String field = fieldOf(e.field());
      errors.add(new FieldError(field, e.code(), e.message()));
    }
    return errors.size() == before ? r : null;
  }

  /** The header (or "body") a protocol field of a raw publish came from. */
  private static String fieldOf(String protocolField) {
    return switch (protocolField) {
      case "messageId" -> "Idempotency-Key";
      case "partitionKey" -> PARTITION_KEY;
      case "timeToLive" -> TTL;
      case "deadline" -> DEADLINE;
      case "payload" -> "body";
      case "producerId" -> PRODUCER_ID;
      case "sequence" -> SEQUENCE;
      case "contentType" -> "Content-Type";
      case "headers" -> HEADER_PREFIX + "*";
      default -> protocolField.startsWith("headers.")
          ? HEADER_PREFIX + protocolField.substring("headers.".length())
          : protocolField;
    };
  }
}
