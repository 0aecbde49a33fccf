package io.redisrouter.protocol;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/**
 * Codecs of the {@link Envelope}. Thread safe.
 *
 * <ul>
 *   <li>{@link #encode} / {@link #decode}: the form stored in Redis. {@code encode} writes a compact, versioned
 *       binary form (first byte {@value #BINARY_V1}; strings as length-prefixed UTF-8, instants as epoch second
 *       and nanosecond, the payload as raw bytes at the end): no base64 and no JSON parsing on the hot path.
 *       A numbered message ({@link Envelope#hasSequence()}) has a trailer after the payload (tag
 *       {@value #TRAILER_SEQUENCE}, the producer id, the sequence as 8 bytes): readers of the first layout ignore
 *       bytes after the payload, so routers without the loss audit still read these entries (without the numbers),
 *       and entries without numbers are byte for byte what they were.
 *       {@code decode} reads that form and the JSON form as well (entries written by the JSON codec).</li>
 *   <li>{@link #encodeJson} / {@link #decodeJson}: the Jackson JSON form (payload as base64, instants as ISO-8601),
 *       for humans and other languages. Unknown fields are ignored on read, so newer routers can add fields
 *       without breaking older readers.</li>
 * </ul>
 */
public final class EnvelopeCodec {

  /** First byte of the binary form, version 1 (never the first byte of a JSON text). */
  public static final byte BINARY_V1 = (byte) 0xB1;

  /** Tag of the binary form's trailer holding the producer id and sequence. */
  static final byte TRAILER_SEQUENCE = 1;

  private static final ObjectMapper MAPPER = new ObjectMapper()
      .registerModule(new JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  private EnvelopeCodec() {}

  /** The shared, configured mapper (do not reconfigure it). */
  public static ObjectMapper mapper() {
    return MAPPER;
  }

  /** The stored (binary) form. */
  public static byte[] encode(Envelope e) {
    byte[] id = utf8(e.id());
    byte[] channel = utf8(e.channel());
    byte[] key = e.partitionKey() == null ? null : utf8(e.partitionKey());
    byte[] type = utf8(e.contentType());
    int headerCount = e.headers().size();
    byte[][] headers = new byte[headerCount * 2][];
    int size = 1 + 4 + id.length + 4 + channel.length + 4 + (key == null ? 0 : key.length) + 4 + type.length + 4;
    int i = 0;
    for (Map.Entry<String, String> h : e.headers().entrySet()) {
      headers[i] = utf8(h.getKey());
      headers[i + 1] = utf8(h.getValue());
      size += 8 + headers[i].length + headers[i + 1].length;
      i += 2;
    }
    size += 12 + 12 + 4 + 4 + e.payload().length;
    byte[] producer = e.producerId() == null ? null : utf8(e.producerId());
    if (producer != null) size += 1 + 4 + producer.length + 8;
    ByteBuffer b = ByteBuffer.allocate(size);
    b.put(BINARY_V1);
    put(b, id);
    put(b, channel);
    put(b, key);
    put(b, type);
    b.putInt(headerCount);
    for (byte[] h : headers) put(b, h);
    b.putLong(e.publishedAt().getEpochSecond()).putInt(e.publishedAt().getNano());
    b.putLong(e.deadline().getEpochSecond()).putInt(e.deadline().getNano());
    b.putInt(e.attempt());
    put(b, e.payload());
    if (producer != null) {
      b.put(TRAILER_SEQUENCE);
      put(b, producer);
      b.putLong(e.sequence());
    }
    return b.array();
  }

  /**
   * Decodes a stored envelope (binary or JSON form); throws {@link IllegalArgumentException} naming the problem
   * when the bytes are not one.
   */
  public static Envelope decode(byte[] bytes) {
    if (bytes == null || bytes.length == 0) throw new IllegalArgumentException("not an envelope: no bytes");
    if (bytes[0] != BINARY_V1) return decodeJson(bytes);
    try {
      ByteBuffer b = ByteBuffer.wrap(bytes, 1, bytes.length - 1);
      String id = str(b);
      String channel = str(b);
      String key = str(b);
      String type = str(b);
      int count = b.getInt();
      if (count < 0 || count > b.remaining() / 8)
        throw new IllegalArgumentException("not an envelope: bad header count " + count);
      Map<String, String> headers = new HashMap<>(Math.max(4, count * 2));
      for (int i = 0; i < count; i++) headers.put(str(b), str(b));
      Instant publishedAt = Instant.ofEpochSecond(b.getLong(), b.getInt());
      Instant deadline = Instant.ofEpochSecond(b.getLong(), b.getInt());
      int attempt = b.getInt();
      byte[] payload = bytes(b);
      if (payload == null) throw new IllegalArgumentException("not an envelope: no payload");
      String producer = null;
      long sequence = Envelope.NO_SEQUENCE;
      // trailers: a tag this version does not know ends the reading (written by a newer router)
      if (b.hasRemaining() && b.get(b.position()) == TRAILER_SEQUENCE) {
        b.get();
        producer = str(b);
        sequence = b.getLong();
        if (producer == null || sequence < 0) {
          throw new IllegalArgumentException("not an envelope: bad producer sequence trailer");
        }
      }
      return new Envelope(id, channel, key, payload, type, headers, publishedAt, deadline, attempt, producer,
          sequence);
    } catch (BufferUnderflowException | NullPointerException | java.time.DateTimeException e) {
      throw new IllegalArgumentException("not an envelope: truncated or corrupt binary form (" + e + ")", e);
    }
  }

  /** The JSON form. */
  public static byte[] encodeJson(Envelope envelope) {
    try {
      return MAPPER.writeValueAsBytes(envelope);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode envelope " + envelope.id() + ": " + e.getMessage(), e);
    }
  }

  /** Decodes the JSON form; throws {@link IllegalArgumentException} naming the problem when the bytes are not one. */
  public static Envelope decodeJson(byte[] bytes) {
    try {
      Envelope e = MAPPER.readValue(bytes, Envelope.class);
      if (e == null) throw new IllegalArgumentException("not an envelope: empty JSON");
      return e;
    } catch (IOException | NullPointerException e) {
      throw new IllegalArgumentException("not an envelope: " + e.getMessage(), e);
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static void put(ByteBuffer b, byte[] v) {
    if (v == null) {
      b.putInt(-1);
    } else {
      b.putInt(v.length).put(v);
    }
  }

  private static byte[] bytes(ByteBuffer b) {
    int n = b.getInt();
    if (n == -1) return null;
    if (n < 0 || n > b.remaining()) throw new IllegalArgumentException("not an envelope: bad length " + n);
    byte[] v = new byte[n];
    b.get(v);
    return v;
  }

  private static String str(ByteBuffer b) {
    byte[] v = bytes(b);
    return v == null ? null : new String(v, StandardCharsets.UTF_8);
  }
}
