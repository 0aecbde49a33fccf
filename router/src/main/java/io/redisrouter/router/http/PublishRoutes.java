package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.util.ByteString;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * {@code POST /v1/channels/{channel}/messages} (one message) and {@code POST /v1/channels/{channel}/messages/batch}.
 *
 * <p>Body of one message: {@code payload} (a JSON value: a string is sent as its UTF-8 bytes, anything else as JSON)
 * or {@code payloadBase64}; optional {@code contentType}, {@code headers} (string map), {@code partitionKey},
 * {@code ttl} ("30s", "500ms", ISO-8601 "PT30S") or {@code deadline} (ISO-8601 instant), {@code idempotencyKey}
 * (or the {@code Idempotency-Key} header for a single message).
 */
public final class PublishRoutes extends RouteSupport {
  private final RouterRuntime runtime;
  private final HttpSettings settings;

  public PublishRoutes(RouterRuntime runtime, HttpSettings settings, Auth auth, Endpoints endpoints) {
    super(auth, endpoints);
    this.runtime = runtime;
    this.settings = settings;
  }

  public Route route() {
    endpoints.add("POST", "/v1/channels/{channel}/messages");
    endpoints.add("POST", "/v1/channels/{channel}/messages/batch");
    return pathPrefix("v1", () -> pathPrefix("channels", () -> pathPrefix(PathMatchers.segment(), channel ->
        pathPrefix("messages", () -> concat(
            pathEnd(() -> post(() -> authorized(HttpSettings.Scope.PUBLISH, () ->
                optionalHeaderValueByName("Idempotency-Key", key ->
                    entity(Unmarshaller.entityToByteString(), body ->
                        onSuccess(publishOne(channel, body, key), this::complete)))))),
            path("batch", () -> post(() -> authorized(HttpSettings.Scope.PUBLISH, () ->
                entity(Unmarshaller.entityToByteString(), body ->
                    onSuccess(publishBatch(channel, body), this::complete))))))))));
  }

  private CompletionStage<HttpResponse> publishOne(String channel, ByteString body, Optional<String> key) {
    JsonNode node;
    try {
      node = JSON.readTree(body.toArray());
    } catch (IOException e) {
      return done(error(StatusCodes.BAD_REQUEST, "invalid-json",
          "the body is not valid JSON (" + firstLine(e.getMessage()) + "): send an object like {\"payload\": ...}"));
    }
    List<FieldError> errors = new ArrayList<>();
    PublishRequest request = toRequest(channel, node, key.orElse(null), "", errors);
    if (!errors.isEmpty()) {
      return done(invalid(errors));
    }
    return runtime.publish(request).thenApply(PublishRoutes::toResponse);
  }

  private CompletionStage<HttpResponse> publishBatch(String channel, ByteString body) {
    JsonNode node;
    try {
      node = JSON.readTree(body.toArray());
    } catch (IOException e) {
      return done(error(StatusCodes.BAD_REQUEST, "invalid-json",
          "the body is not valid JSON (" + firstLine(e.getMessage()) + "): send {\"messages\": [ ... ]}"));
    }
    JsonNode messages = node == null ? null : node.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      return done(json(StatusCodes.BAD_REQUEST, new ApiError("invalid", "messages must be a non-empty array",
          List.of(new FieldError("messages", "required", "messages must be a non-empty array of message objects")))));
    }
    if (messages.size() > settings.maxBatch()) {
      return done(json(StatusCodes.PAYLOAD_TOO_LARGE, new ApiError("batch-too-large",
          "the batch has " + messages.size() + " messages, at most " + settings.maxBatch() + " are allowed",
          List.of(new FieldError("messages", "batch-too-large", "send at most " + settings.maxBatch()
              + " messages per batch (redis-router.http.max-batch)")))));
    }
    // validate all first: a batch with an invalid message publishes nothing
    List<PublishRequest> requests = new ArrayList<>(messages.size());
    List<FieldError> errors = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      requests.add(toRequest(channel, messages.get(i), null, "messages[" + i + "].", errors));
    }
    if (!errors.isEmpty()) {
      return done(invalid(errors));
    }
    List<CompletableFuture<PublishReply>> replies = new ArrayList<>(requests.size());
    for (PublishRequest r : requests) replies.add(runtime.publish(r).toCompletableFuture());
    return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).thenApply(v -> {
      ArrayNode results = JSON.createArrayNode();
      boolean allAccepted = true;
      for (CompletableFuture<PublishReply> f : replies) {
        PublishReply r = f.join(); // completed: allOf finished
        allAccepted &= r instanceof PublishReply.Accepted;
        results.add(resultNode(r));
      }
      ObjectNode out = JSON.createObjectNode();
      out.put("accepted", replies.stream().filter(f -> f.join() instanceof PublishReply.Accepted).count());
      out.put("total", replies.size());
      out.set("results", results);
      // 202 when every message was accepted; 207 (per-message status in results) otherwise
      return json(allAccepted ? StatusCodes.ACCEPTED : StatusCodes.MULTI_STATUS, out);
    });
  }

  /** The single-message response for a reply. */
  static HttpResponse toResponse(PublishReply reply) {
    ObjectNode body = resultNode(reply);
    StatusCode status = statusOf(reply);
    HttpResponse resp = json(status, body);
    if (reply instanceof PublishReply.Rejected r && !r.retryAfter().isZero()) {
      long seconds = Math.max(1, (r.retryAfter().toMillis() + 999) / 1000);
      resp = resp.addHeader(org.apache.pekko.http.javadsl.model.headers.RawHeader.create("Retry-After",
          Long.toString(seconds)));
    }
    return resp;
  }

  static StatusCode statusOf(PublishReply reply) {
    if (reply instanceof PublishReply.Accepted) return StatusCodes.ACCEPTED;
    if (reply instanceof PublishReply.Expired) return StatusCodes.GATEWAY_TIMEOUT;
    PublishReply.Rejected r = (PublishReply.Rejected) reply;
    return switch (r.reason()) {
      case OVERLOADED -> StatusCodes.TOO_MANY_REQUESTS;
      case UNAVAILABLE, SHUTTING_DOWN -> StatusCodes.SERVICE_UNAVAILABLE;
      case INVALID -> r.errors().stream().anyMatch(e -> e.code().equals("payload-too-large"))
          ? StatusCodes.PAYLOAD_TOO_LARGE : StatusCodes.BAD_REQUEST;
    };
  }

  static ObjectNode resultNode(PublishReply reply) {
    ObjectNode n = JSON.createObjectNode();
    n.put("status", statusOf(reply).intValue());
    n.put("messageId", reply.messageId());
    if (reply instanceof PublishReply.Accepted a) {
      if (a.streamId() != null) n.put("streamId", a.streamId());
      n.put("duplicate", a.duplicate());
      if (a.receivers() >= 0) {
        n.put("receivers", a.receivers());
        n.put("attempts", a.attempts());
      }
    } else if (reply instanceof PublishReply.Rejected r) {
      n.put("code", r.reason().code());
      n.put("message", r.message());
      if (!r.errors().isEmpty()) n.set("errors", JSON.valueToTree(r.errors()));
      if (!r.retryAfter().isZero()) n.put("retryAfterMs", r.retryAfter().toMillis());
    } else if (reply instanceof PublishReply.Expired e) {
      n.put("code", "expired");
      n.put("message", e.message());
      n.put("attempts", e.attempts());
    }
    return n;
  }

  /** Reads one message object; adds field errors (prefixed) and returns null fields where invalid. */
  PublishRequest toRequest(String channel, JsonNode m, String headerKey, String prefix, List<FieldError> errors) {
    if (m == null || !m.isObject()) {
      errors.add(new FieldError(prefix.isEmpty() ? "body" : prefix.substring(0, prefix.length() - 1), "invalid",
          "each message must be a JSON object like {\"payload\": ...}"));
      return null;
    }
    for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!KNOWN.contains(f)) {
        errors.add(new FieldError(prefix + f, "unknown-field", prefix + f + " is not a known field: use one of "
            + KNOWN));
      }
    }
    byte[] payload = null;
    String contentType = text(m, "contentType");
    JsonNode p = m.get("payload");
    JsonNode p64 = m.get("payloadBase64");
    if (p != null && p64 != null) {
      errors.add(new FieldError(prefix + "payload", "ambiguous-payload", "give payload or payloadBase64, not both"));
    } else if (p64 != null) {
      try {
        payload = Base64.getDecoder().decode(p64.asText());
      } catch (IllegalArgumentException e) {
        errors.add(new FieldError(prefix + "payloadBase64", "invalid-base64",
            prefix + "payloadBase64 is not valid base64: encode the bytes with standard base64"));
      }
    } else if (p != null) {
      if (p.isTextual()) {
        payload = p.asText().getBytes(StandardCharsets.UTF_8);
        if (contentType == null) contentType = "text/plain; charset=utf-8";
      } else {
        payload = p.toString().getBytes(StandardCharsets.UTF_8);
        if (contentType == null) contentType = "application/json";
      }
    } else {
      errors.add(new FieldError(prefix + "payload", "required",
          prefix + "payload is missing: give payload (any JSON value) or payloadBase64 (bytes)"));
    }
    Map<String, String> headers = new HashMap<>();
    JsonNode h = m.get("headers");
    if (h != null && !h.isNull()) {
      if (!h.isObject()) {
        errors.add(new FieldError(prefix + "headers", "invalid-headers", prefix + "headers must be an object of strings"));
      } else {
        h.fields().forEachRemaining(e -> {
          if (!e.getValue().isTextual()) {
            errors.add(new FieldError(prefix + "headers." + e.getKey(), "invalid-header-value",
                "header '" + e.getKey() + "' must be a string"));
          } else {
            headers.put(e.getKey(), e.getValue().asText());
          }
        });
      }
    }
    Duration ttl = null;
    String ttlText = text(m, "ttl");
    if (ttlText != null) {
      ttl = parseDuration(ttlText);
      if (ttl == null) {
        errors.add(new FieldError(prefix + "ttl", "invalid-ttl",
            prefix + "ttl '" + ttlText + "' is invalid: use e.g. \"30s\", \"500ms\", \"5m\" or ISO-8601 \"PT30S\""));
      }
    }
    Instant deadline = null;
    String dl = text(m, "deadline");
    if (dl != null) {
      try {
        deadline = Instant.parse(dl);
      } catch (DateTimeParseException e) {
        errors.add(new FieldError(prefix + "deadline", "invalid-deadline",
            prefix + "deadline '" + dl + "' is invalid: use an ISO-8601 instant like 2030-01-01T00:00:00Z"));
      }
    }
    String key = text(m, "idempotencyKey");
    if (key == null) key = headerKey;
    PublishRequest r = new PublishRequest(channel, key, text(m, "partitionKey"), payload, contentType, headers, ttl,
        deadline);
    // the protocol's own checks, with field names as the client wrote them
    if (payload == null) {
      FieldError ch = io.redisrouter.protocol.Validation.checkName("channel", channel);
      if (ch != null && errors.stream().noneMatch(e -> e.field().equals("channel"))) errors.add(ch);
    } else {
      for (FieldError e : io.redisrouter.protocol.Validation.checkPublish(r, runtime.settings().limits(), Instant.now())) {
        String field = e.field().equals("messageId") ? "idempotencyKey" : e.field().equals("timeToLive") ? "ttl" : e.field();
        if (field.equals("channel") && errors.stream().anyMatch(x -> x.field().equals("channel"))) continue;
        errors.add(new FieldError(field.equals("channel") ? "channel" : prefix + field, e.code(), e.message()));
      }
    }
    return r;
  }

  private static final List<String> KNOWN = List.of("payload", "payloadBase64", "contentType", "headers",
      "partitionKey", "ttl", "deadline", "idempotencyKey");

  private static String text(JsonNode m, String field) {
    JsonNode v = m.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  /** "30s", "500ms", "5m", "2h", "1d" or ISO-8601; null when invalid. */
  static Duration parseDuration(String s) {
    String t = s.trim();
    try {
      if (t.startsWith("P") || t.startsWith("p")) return Duration.parse(t);
      if (t.endsWith("ms")) return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2).trim()));
      long n = Long.parseLong(t.substring(0, t.length() - 1).trim());
      return switch (t.charAt(t.length() - 1)) {
        case 's' -> Duration.ofSeconds(n);
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        case 'd' -> Duration.ofDays(n);
        default -> null;
      };
    } catch (RuntimeException e) {
      return null;
    }
  }

  /** 413 when a payload is over the limit, else 400; the body lists every field error. */
  static HttpResponse invalid(List<FieldError> errors) {
    boolean tooLarge = errors.stream().anyMatch(e -> e.code().equals("payload-too-large"));
    return json(tooLarge ? StatusCodes.PAYLOAD_TOO_LARGE : StatusCodes.BAD_REQUEST,
        new ApiError(tooLarge ? "payload-too-large" : "invalid", join(errors), errors));
  }

  private static String join(List<FieldError> errors) {
    return errors.stream().map(FieldError::message).reduce((a, b) -> a + "; " + b).orElse("invalid request");
  }

}
