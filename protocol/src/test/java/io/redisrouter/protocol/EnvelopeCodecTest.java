package io.redisrouter.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The envelope's JSON form: every field survives a round trip; bytes that are not an envelope are named. */
class EnvelopeCodecTest {

  /** Every byte value 0..255 and then some, so that base64 padding and high bytes are exercised. */
  private static byte[] allBytes(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) b[i] = (byte) i;
    return b;
  }

  private static Envelope sample(String partitionKey, byte[] payload) {
    return new Envelope("msg-1", "orders.created", partitionKey, payload, "application/json",
        Map.of("trace-id", "abc123", "tenant", "t\u00e9st \u2603"),
        Instant.parse("2024-05-01T10:15:30.123456789Z"), Instant.parse("2024-05-01T11:15:30.5Z"), 3);
  }

  /**
   * A numbered message keeps its producer id and sequence in both forms; its binary form is the unnumbered one plus
   * a trailer, so that a reader that stops after the payload (a router without the loss audit) reads the same
   * message, and an unnumbered message's bytes are what they were.
   */
  @Test
  void producerSequenceSurvivesBothFormsAsATrailer() {
    Envelope plain = sample("customer-42", allBytes(300));
    Envelope numbered = plain.withSequence("billing-7", 1L << 40);

    Envelope back = EnvelopeCodec.decode(EnvelopeCodec.encode(numbered));
    assertEquals(numbered, back);
    assertEquals("billing-7", back.producerId());
    assertEquals(1L << 40, back.sequence());
    assertEquals(numbered, EnvelopeCodec.decode(EnvelopeCodec.encodeJson(numbered)));

    byte[] before = EnvelopeCodec.encode(plain);
    byte[] after = EnvelopeCodec.encode(numbered);
    assertArrayEquals(before, java.util.Arrays.copyOf(after, before.length), "the trailer only appends");
    assertTrue(after.length > before.length);
    Envelope plainBack = EnvelopeCodec.decode(before);
    assertNull(plainBack.producerId());
    assertEquals(Envelope.NO_SEQUENCE, plainBack.sequence());
    // the JSON form of an unnumbered message names neither field
    String json = new String(EnvelopeCodec.encodeJson(plain), StandardCharsets.UTF_8);
    assertTrue(!json.contains("producerId") && !json.contains("sequence"), json);
    assertEquals(plain, EnvelopeCodec.decodeJson(json.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void roundTripKeepsEveryField() {
    Envelope e = sample("customer-42", allBytes(1000));
    Envelope back = EnvelopeCodec.decode(EnvelopeCodec.encode(e));

    assertEquals(e, back);
    assertEquals("msg-1", back.id());
    assertEquals("orders.created", back.channel());
    assertEquals("customer-42", back.partitionKey());
    assertArrayEquals(allBytes(1000), back.payload());
    assertEquals("application/json", back.contentType());
    assertEquals(Map.of("trace-id", "abc123", "tenant", "t\u00e9st \u2603"), back.headers());
    // nanosecond precision is kept
    assertEquals(Instant.parse("2024-05-01T10:15:30.123456789Z"), back.publishedAt());
    assertEquals(Instant.parse("2024-05-01T11:15:30.5Z"), back.deadline());
    assertEquals(3, back.attempt());
  }

  @Test
  void roundTripOfNullPartitionKeyEmptyPayloadAndNoHeaders() {
    Envelope e = new Envelope("m", "c", null, new byte[0], null, null,
        Instant.ofEpochSecond(1), Instant.ofEpochSecond(2), 1);
    Envelope back = EnvelopeCodec.decode(EnvelopeCodec.encode(e));
    assertEquals(e, back);
    assertNull(back.partitionKey());
    assertEquals(0, back.payload().length);
    assertEquals(Map.of(), back.headers());
    assertEquals("application/octet-stream", back.contentType());
  }

  @Test
  void payloadIsBase64AndInstantsAreIsoStrings() {
    byte[] json = EnvelopeCodec.encodeJson(sample(null, "hello".getBytes(StandardCharsets.UTF_8)));
    String s = new String(json, StandardCharsets.UTF_8);
    assertTrue(s.contains("\"aGVsbG8=\""), s); // base64 of "hello"
    assertTrue(s.contains("\"2024-05-01T10:15:30.123456789Z\""), s);
    assertTrue(s.contains("\"2024-05-01T11:15:30.500Z\"") || s.contains("\"2024-05-01T11:15:30.5Z\""), s);
  }

  @Test
  void unknownFieldsAreIgnored() {
    byte[] json = EnvelopeCodec.encodeJson(sample("k", new byte[]{1, 2, 3}));
    String s = new String(json, StandardCharsets.UTF_8);
    String withExtra = "{\"addedByANewerRouter\":{\"x\":[1,2]}," + s.substring(1);
    assertEquals(EnvelopeCodec.decode(json), EnvelopeCodec.decode(withExtra.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void storedFormIsBinaryAndReadsBackEqualAndJsonIsStillRead() {
    Envelope e = sample("k", new byte[]{0, (byte) 0xff, 42});
    byte[] stored = EnvelopeCodec.encode(e);
    assertEquals(EnvelopeCodec.BINARY_V1, stored[0]);
    assertEquals(e, EnvelopeCodec.decode(stored));
    assertEquals(e, EnvelopeCodec.decode(EnvelopeCodec.encodeJson(e)), "entries in the JSON form still decode");
    Envelope noKey = sample(null, new byte[0]);
    assertEquals(noKey, EnvelopeCodec.decode(EnvelopeCodec.encode(noKey)));
  }

  @Test
  void everyTruncationOfTheBinaryFormIsAClearError() {
    byte[] stored = EnvelopeCodec.encode(sample("k", "payload".getBytes(StandardCharsets.UTF_8)));
    for (int n = 1; n < stored.length; n++) {
      byte[] cut = java.util.Arrays.copyOf(stored, n);
      IllegalArgumentException ex = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> EnvelopeCodec.decode(cut), "length " + n);
      assertTrue(ex.getMessage().startsWith("not an envelope"), ex.getMessage());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "", // no content at all
      "not json", // garbage
      "{\"id\": \"m\", \"channel\": ", // truncated
      "[1, 2, 3]", // JSON, but not an object
      "null", // JSON null
      "{\"id\":\"m\",\"channel\":\"c\",\"payload\":\"AA==\",\"publishedAt\":\"yesterday\","
          + "\"deadline\":\"2024-05-01T11:15:30Z\",\"attempt\":1}", // bad instant
      "{\"id\":\"m\",\"payload\":\"AA==\",\"publishedAt\":\"2024-05-01T10:15:30Z\","
          + "\"deadline\":\"2024-05-01T11:15:30Z\",\"attempt\":1}", // channel missing
      "{\"id\":\"m\",\"channel\":\"c\",\"payload\":\"%%%\",\"publishedAt\":\"2024-05-01T10:15:30Z\","
          + "\"deadline\":\"2024-05-01T11:15:30Z\",\"attempt\":1}" // payload not base64
  })
  void garbageIsRejectedWithAMessageNamingTheProblem(String input) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> EnvelopeCodec.decode(input.getBytes(StandardCharsets.UTF_8)));
    assertTrue(e.getMessage() != null && e.getMessage().startsWith("not an envelope: "), e.getMessage());
    // the message says more than the prefix: what was wrong
    assertTrue(e.getMessage().length() > "not an envelope: ".length() + 3, e.getMessage());
  }

  @Test
  void missingRequiredFieldIsNamed() {
    String json = "{\"id\":\"m\",\"payload\":\"AA==\",\"publishedAt\":\"2024-05-01T10:15:30Z\","
        + "\"deadline\":\"2024-05-01T11:15:30Z\",\"attempt\":1}";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> EnvelopeCodec.decode(json.getBytes(StandardCharsets.UTF_8)));
    assertTrue(e.getMessage().contains("channel"), e.getMessage());
  }

  @Test
  void badInstantIsNamed() {
    String json = "{\"id\":\"m\",\"channel\":\"c\",\"payload\":\"AA==\",\"publishedAt\":\"yesterday\","
        + "\"deadline\":\"2024-05-01T11:15:30Z\",\"attempt\":1}";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> EnvelopeCodec.decode(json.getBytes(StandardCharsets.UTF_8)));
    assertTrue(e.getMessage().contains("publishedAt") || e.getMessage().contains("yesterday"), e.getMessage());
  }
}
