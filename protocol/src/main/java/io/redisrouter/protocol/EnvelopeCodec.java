package io.redisrouter.protocol;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;

import java.io.IOException;

/**
 * JSON codec of the {@link Envelope} (payload as base64, instants as ISO-8601). Thread safe.
 * Unknown fields are ignored on read, so newer routers can add fields without breaking older readers.
 */
public final class EnvelopeCodec {

  private static final ObjectMapper MAPPER = new ObjectMapper()
      .registerModule(new JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  private EnvelopeCodec() {}

  /** The shared, configured mapper (do not reconfigure it). */
  public static ObjectMapper mapper() {
    return MAPPER;
  }

  public static byte[] encode(Envelope envelope) {
    try {
      return MAPPER.writeValueAsBytes(envelope);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode envelope " + envelope.id() + ": " + e.getMessage(), e);
    }
  }

  /** Decodes an envelope; throws {@link IllegalArgumentException} naming the problem when the bytes are not one. */
  public static Envelope decode(byte[] bytes) {
    try {
      Envelope e = MAPPER.readValue(bytes, Envelope.class);
      if (e == null) throw new IllegalArgumentException("not an envelope: empty JSON");
      return e;
    } catch (IOException | NullPointerException e) {
      throw new IllegalArgumentException("not an envelope: " + e.getMessage(), e);
    }
  }
}
