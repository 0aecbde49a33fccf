package io.redisrouter.router.consume;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.TreeMap;

/**
 * A message as JSON, the one shape the HTTP API uses wherever it shows one (deliveries, dead letters): {@code
 * messageId}, {@code channel}, {@code partitionKey}, {@code contentType}, {@code headers}, {@code publishedAt},
 * {@code deadline}, {@code payloadSize}, and with the payload {@code payload} (JSON and text content) and {@code
 * payloadBase64} (always).
 */
public final class EnvelopeJson {
  private static final ObjectMapper JSON = EnvelopeCodec.mapper();

  private EnvelopeJson() {}

  public static ObjectNode of(Envelope e, boolean withPayload) {
    ObjectNode n = JSON.createObjectNode();
    n.put("messageId", e.id());
    n.put("channel", e.channel());
    if (e.partitionKey() != null) n.put("partitionKey", e.partitionKey());
    n.put("contentType", e.contentType());
    ObjectNode headers = n.putObject("headers");
    new TreeMap<>(e.headers()).forEach(headers::put);
    n.put("publishedAt", e.publishedAt().toString());
    n.put("deadline", e.deadline().toString());
    n.put("payloadSize", e.payload().length);
    if (withPayload) {
      JsonNode readable = readablePayload(e.contentType(), e.payload());
      if (readable != null) n.set("payload", readable);
      n.put("payloadBase64", Base64.getEncoder().encodeToString(e.payload()));
    }
    return n;
  }

  /** The payload as a JSON value (JSON content) or a string (text content); null when it is neither. */
  static JsonNode readablePayload(String contentType, byte[] payload) {
    String ct = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
    boolean json = ct.startsWith("application/json") || ct.contains("+json");
    boolean text = ct.startsWith("text/");
    if (!json && !text) return null;
    String s;
    try {
      s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(payload)).toString();
    } catch (CharacterCodingException e) {
      return null;
    }
    if (json) {
      try {
        return JSON.readTree(s);
      } catch (IOException e) {
        return null;
      }
    }
    return JSON.getNodeFactory().textNode(s);
  }
}
