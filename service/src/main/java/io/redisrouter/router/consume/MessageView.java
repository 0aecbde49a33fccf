package io.redisrouter.router.consume;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A message as the HTTP API shows it wherever it shows one (deliveries, dead letters): {@code messageId},
 * {@code channel}, {@code partitionKey} (when it has one), {@code contentType}, {@code headers} (sorted),
 * {@code publishedAt}, {@code deadline}, {@code payloadSize}, and with the payload {@code payload} (JSON and text
 * content) and {@code payloadBase64} (always); {@code producerId} and {@code sequence} when the publisher numbered it.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MessageView(String messageId, String channel, String partitionKey, String contentType,
    Map<String, String> headers, String publishedAt, String deadline, int payloadSize,
    JsonNode payload, String payloadBase64, String producerId, Long sequence) {
  private static final ObjectMapper JSON = EnvelopeCodec.mapper();

  public static MessageView of(Envelope e, boolean withPayload) {
    return new MessageView(e.id(), e.channel(), e.partitionKey(), e.contentType(), new TreeMap<>(e.headers()),
        e.publishedAt().toString(), e.deadline().toString(), e.payload().length,
        withPayload ? readablePayload(e.contentType(), e.payload()) : null,
        withPayload ? Base64.getEncoder().encodeToString(e.payload()) : null, e.producerId(),
        e.hasSequence() ? e.sequence() : null);
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
