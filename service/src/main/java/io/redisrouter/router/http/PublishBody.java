package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.Validation;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * One message of {@code POST /v1/channels/{channel}/messages} (or of a batch): {@code payload} (a JSON value: a
 * string is sent as its UTF-8 bytes, anything else as JSON) or {@code payloadBase64}; optional {@code contentType},
 * {@code headers} (string map), {@code partitionKey}, {@code ttl} ("30s", "500ms", ISO-8601 "PT30S") or
 * {@code deadline} (ISO-8601 instant), {@code idempotencyKey}, and for the loss audit {@code producerId} with
 * {@code sequence} (a JSON integer, or a string of digits for numbers beyond what JSON parsers hold exactly).
 */
public record PublishBody(JsonNode payload, String payloadBase64, String contentType, Map<String, String> headers,
    String partitionKey, String ttl, String deadline, String idempotencyKey, String producerId, JsonNode sequence) {

  static final String EXAMPLE = "an object like {\"payload\": ...}";

  static final JsonBodies.Spec<PublishBody> SPEC = new JsonBodies.Spec<>(PublishBody.class, EXAMPLE
      + " (or, to publish the body as it is, a Content-Type naming the payload's type, e.g. text/plain or"
      + " application/x-protobuf: application/octet-stream is what a body without a type is taken to be, and is"
      + " read as JSON)", null,
      path -> wrongType("", path));

  /** {@code {"messages": [...]}}. */
  public record Batch(List<PublishBody> messages) {
    static final JsonBodies.Spec<Batch> SPEC = new JsonBodies.Spec<>(Batch.class, "{\"messages\": [ ... ]}", null,
        Batch::wrongType);

    private static FieldError wrongType(String path) {
      if (path.isEmpty() || path.equals("messages")) return required();
      int close = path.indexOf(']');
      String prefix = path.substring(0, close + 1);
      String rest = close + 1 < path.length() ? path.substring(close + 2) : "";
      return PublishBody.wrongType(prefix + ".", rest);
    }

    static FieldError required() {
      return new FieldError("messages", "required", "messages must be a non-empty array of message objects");
    }
  }

  /** The field error for a value of the wrong type at {@code path} (relative to the message). */
  static FieldError wrongType(String prefix, String path) {
    String field = prefix + path;
    if (path.isEmpty()) {
      return new FieldError(prefix.isEmpty() ? "body" : prefix.substring(0, prefix.length() - 1), "invalid",
          "each message must be a JSON object like {\"payload\": ...}");
    }
    if (path.startsWith("headers.")) {
      String name = path.substring("headers.".length());
      return new FieldError(field, "invalid-header-value", "header '" + name + "' must be a string");
    }
    return switch (path) {
      case "headers" -> new FieldError(field, "invalid-headers", field + " must be an object of strings");
      case "ttl" -> invalidTtl(field, "(not a string)");
      case "deadline" -> invalidDeadline(field, "(not a string)");
      case "payloadBase64" -> invalidBase64(field);
      default -> new FieldError(field, "invalid", field + " must be a string");
    };
  }

  /**
   * The publish request this message asks for, with field errors (named with {@code prefix}) added to
   * {@code errors}: the body's own checks, then the protocol's, with the field names the client wrote.
   */
  PublishRequest toRequest(String channel, String headerKey, RouterSettings settings, String prefix,
      List<FieldError> errors) {
    int before = errors.size();
    byte[] bytes = null;
    String type = contentType;
    if (payload != null && payloadBase64 != null) {
      errors.add(new FieldError(prefix + "payload", "ambiguous-payload", "give payload or payloadBase64, not both"));
      errors.add(new FieldError(prefix + "payloadBase64", "ambiguous-payload",
          "give payload or payloadBase64, not both"));
    } else if (payloadBase64 != null) {
      try {
        bytes = Base64.getDecoder().decode(payloadBase64);
      } catch (IllegalArgumentException e) {
        errors.add(invalidBase64(prefix + "payloadBase64"));
      }
    } else if (payload != null) {
      if (payload.isTextual()) {
        bytes = payload.asText().getBytes(StandardCharsets.UTF_8);
        if (type == null) type = "text/plain; charset=utf-8";
      } else {
        bytes = payload.toString().getBytes(StandardCharsets.UTF_8);
        if (type == null) type = "application/json";
      }
    } else {
      errors.add(new FieldError(prefix + "payload", "required",
          prefix + "payload is missing: give payload (any JSON value) or payloadBase64 (bytes)"));
    }
    Duration timeToLive = null;
    if (ttl != null) {
      timeToLive = Durations.parse(ttl);
      if (timeToLive == null) errors.add(invalidTtl(prefix + "ttl", "'" + ttl + "'"));
    }
    Instant at = null;
    if (deadline != null) {
      try {
        at = Instant.parse(deadline);
      } catch (DateTimeParseException e) {
        errors.add(invalidDeadline(prefix + "deadline", "'" + deadline + "'"));
      }
    }
    Long seq = null;
    if (sequence != null && !sequence.isNull()) {
      seq = parseSequence(sequence);
      if (seq == null) {
        errors.add(new FieldError(prefix + "sequence", "invalid-sequence", prefix + "sequence " + shorten(sequence)
            + " is invalid: give an integer from 0 to " + Long.MAX_VALUE + " (a JSON number or a string of digits)"));
      }
    }
    String key = idempotencyKey != null ? idempotencyKey : headerKey;
    PublishRequest r = new PublishRequest(channel, key, partitionKey, bytes, type,
        headers == null ? Map.of() : headers, timeToLive, at, producerId,
        seq != null ? seq : sequence != null && !sequence.isNull() ? Long.valueOf(0) : null);
    boolean channelReported = errors.stream().anyMatch(e -> e.field().equals("channel"));
    if (bytes == null) {
      FieldError ch = Validation.checkName("channel", channel);
      if (ch != null && !channelReported) errors.add(ch);
      return r;
    }
    List<FieldError> protocol = new ArrayList<>();
    for (FieldError e : Validation.checkPublish(r, settings.limits(), Instant.now())) {
      String field = switch (e.field()) {
        case "messageId" -> "idempotencyKey";
        case "timeToLive" -> "ttl";
        default -> e.field();
      };
      if (field.equals("channel")) {
        if (!channelReported) protocol.add(e);
        channelReported = true;
      } else {
        protocol.add(new FieldError(prefix + field, e.code(), e.message()));
      }
    }
    errors.addAll(protocol);
    return errors.size() == before ? r : null;
  }

  /** A sequence number: a JSON integer or a string of decimal digits within a long, 0 or more; null otherwise. */
  static Long parseSequence(JsonNode n) {
    if (n.isIntegralNumber()) return n.canConvertToLong() && n.asLong() >= 0 ? n.asLong() : null;
    if (n.isTextual()) return parseSequence(n.asText());
    return null;
  }

  /** A sequence number written as decimal digits within a long; null otherwise. */
  static Long parseSequence(String text) {
    String t = text.trim();
    if (t.isEmpty() || t.length() > 19 || !t.chars().allMatch(c -> c >= '0' && c <= '9')) return null;
    try {
      return Long.parseLong(t);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private static String shorten(JsonNode n) {
    String s = n.toString();
    return s.length() > 40 ? s.substring(0, 40) + "..." : s;
  }

  private static FieldError invalidTtl(String field, String value) {
    return new FieldError(field, "invalid-ttl",
        field + " " + value + " is invalid: use e.g. \"30s\", \"500ms\", \"5m\" or ISO-8601 \"PT30S\"");
  }

  private static FieldError invalidDeadline(String field, String value) {
    return new FieldError(field, "invalid-deadline",
        field + " " + value + " is invalid: use an ISO-8601 instant like 2030-01-01T00:00:00Z");
  }

  private static FieldError invalidBase64(String field) {
    return new FieldError(field, "invalid-base64", field + " is not valid base64: encode the bytes with standard"
        + " base64");
  }
}
