package io.redisrouter.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every invalid input gives one clear error: the field, a code, and a message that names the field and the fix. */
class ValidationTest {

  private static final Instant NOW = Instant.parse("2024-05-01T10:00:00Z");
  private static final Limits LIMITS = new Limits(1024, 4, 100);
  private static final String NAME_FORM = "1-128 of [A-Za-z0-9._:-]";

  private static PublishRequest valid() {
    return PublishRequest.of("orders.created", new byte[100]);
  }

  private static List<FieldError> check(PublishRequest r) {
    return Validation.checkPublish(r, LIMITS, NOW);
  }

  /** Exactly one error, with the given field and code, whose message mentions the field and every hint. */
  private static FieldError single(List<FieldError> errors, String field, String code, String... mentions) {
    assertEquals(1, errors.size(), () -> "errors: " + errors);
    FieldError e = errors.get(0);
    assertEquals(field, e.field(), e::toString);
    assertEquals(code, e.code(), e::toString);
    for (String m : mentions) {
      assertTrue(e.message().contains(m), () -> "'" + e.message() + "' should mention '" + m + "'");
    }
    return e;
  }

  // ---- producer id and sequence (loss audit) --------------------------------------------------------------------

  @Test
  void producerIdAndSequenceComeTogether() {
    assertTrue(check(valid().withSequence("billing-7", 0)).isEmpty());
    assertTrue(check(valid().withSequence("a.b:c-d_" + "x".repeat(56), Long.MAX_VALUE)).isEmpty());
    PublishRequest noSequence = new PublishRequest("orders.created", null, null, new byte[1], null, null, null, null,
        "billing-7", null);
    single(check(noSequence), "sequence", "required", "sequence", "producerId");
    PublishRequest noProducer = new PublishRequest("orders.created", null, null, new byte[1], null, null, null, null,
        null, 5L);
    single(check(noProducer), "producerId", "required", "producerId", "sequence");
  }

  @Test
  void badProducerIdOrSequenceIsNamed() {
    single(check(valid().withSequence("billing 7", 1)), "producerId", "invalid-producer-id", "'billing 7'",
        "[A-Za-z0-9._:-]");
    single(check(valid().withSequence("p".repeat(65), 1)), "producerId", "invalid-producer-id", "65 characters",
        "at most 64");
    single(check(valid().withSequence("", 1)), "producerId", "invalid-producer-id", "1-64");
    single(check(valid().withSequence("billing-7", -1)), "sequence", "invalid-sequence", "-1", "0 to");
  }

  // ---- channel names ----------------------------------------------------------------------------------------------

  @Test
  void emptyChannel() {
    single(check(PublishRequest.of("", new byte[1])), "channel", "required", "channel", NAME_FORM);
    single(check(PublishRequest.of(null, new byte[1])), "channel", "required", "channel", NAME_FORM);
  }

  @Test
  void channelWithSpace() {
    single(check(PublishRequest.of("orders created", new byte[1])), "channel", "invalid-name",
        "channel", "'orders created'", NAME_FORM);
  }

  @ParameterizedTest
  @ValueSource(strings = {"orders.*", "orders.?", "orders[12]", "orders]"})
  void channelWithGlob(String name) {
    single(check(PublishRequest.of(name, new byte[1])), "channel", "invalid-name",
        "channel", "glob characters", NAME_FORM);
  }

  @Test
  void channelOf129Characters() {
    String name = "c".repeat(129);
    FieldError e = single(check(PublishRequest.of(name, new byte[1])), "channel", "invalid-name",
        "channel", "129 characters, at most 128", NAME_FORM);
    // the echoed name is shortened, not 129 characters of noise
    assertTrue(e.message().length() < 200, e::message);
    // 128 is still fine
    assertEquals(List.of(), check(PublishRequest.of("c".repeat(128), new byte[1])));
  }

  @Test
  void channelWithOtherBadCharacters() {
    single(check(PublishRequest.of("orders/created", new byte[1])), "channel", "invalid-name", "channel", NAME_FORM);
    single(check(PublishRequest.of("caf\u00e9", new byte[1])), "channel", "invalid-name", "channel", NAME_FORM);
  }

  @Test
  void nameChecksUseTheGivenFieldName() {
    FieldError e = Validation.checkName("subscription", "bad name");
    assertEquals("subscription", e.field());
    assertTrue(e.message().startsWith("subscription "), e::message);
    assertNull(Validation.checkName("subscription", "billing-v2:eu.1"));
    ValidationException ex = assertThrows(ValidationException.class, () -> Validation.requireName("channel", "a*"));
    assertEquals("channel", ex.errors().get(0).field());
    assertTrue(ex.getMessage().contains(NAME_FORM), ex::getMessage);
    assertEquals("ok", Validation.requireName("channel", "ok"));
  }

  // ---- payload and headers ----------------------------------------------------------------------------------------

  @Test
  void payloadOverTheLimit() {
    single(check(PublishRequest.of("c", new byte[1025])), "payload", "payload-too-large",
        "payload", "1025 bytes", "1024", "redis-router.limits.max-payload-bytes");
    assertEquals(List.of(), check(PublishRequest.of("c", new byte[1024])));
    assertEquals(List.of(), check(PublishRequest.of("c", new byte[0])));
  }

  @Test
  void missingPayload() {
    single(check(PublishRequest.of("c", null)), "payload", "required", "payload");
  }

  @Test
  void headerCountOverTheLimit() {
    Map<String, String> h = new LinkedHashMap<>();
    for (int i = 0; i < 5; i++) h.put("h" + i, "v");
    single(check(valid().withHeaders(h)), "headers", "too-many-headers",
        "headers", "5 entries", "at most 4", "redis-router.limits.max-headers");
    h.remove("h0");
    assertEquals(List.of(), check(valid().withHeaders(h)));
  }

  @Test
  void headerBytesOverTheLimit() {
    // name (1 byte) + value: 100 bytes is the limit; the value counts in UTF-8 bytes, not characters
    single(check(valid().withHeaders(Map.of("a", "x".repeat(100)))), "headers", "headers-too-large",
        "headers", "101 bytes", "limit of 100", "redis-router.limits.max-header-bytes");
    single(check(valid().withHeaders(Map.of("a", "\u00e9".repeat(50)))), "headers", "headers-too-large",
        "101 bytes");
    assertEquals(List.of(), check(valid().withHeaders(Map.of("a", "x".repeat(99)))));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "trace id", "trace:id", "x\u00e9"})
  void badHeaderName(String name) {
    single(check(valid().withHeaders(Map.of(name, "v"))), "headers", "invalid-header-name",
        "header name '" + name + "'", "1-64 of [A-Za-z0-9._-]");
  }

  @Test
  void headerNameOf65Characters() {
    single(check(valid().withHeaders(Map.of("h".repeat(65), "v"))), "headers", "invalid-header-name",
        "1-64 of [A-Za-z0-9._-]");
  }

  @Test
  void headerWithoutValue() {
    Map<String, String> h = new HashMap<>();
    h.put("trace-id", null);
    single(check(valid().withHeaders(h)), "headers.trace-id", "invalid-header-value", "trace-id");
  }

  // ---- time ------------------------------------------------------------------------------------------------------

  @Test
  void deadlineAlreadyPast() {
    Instant past = NOW.minusSeconds(1);
    single(check(valid().withDeadline(past)), "deadline", "deadline-past",
        "deadline", past.toString(), "already past", "future instant", "timeToLive");
    single(check(valid().withDeadline(NOW)), "deadline", "deadline-past", "deadline");
    assertEquals(List.of(), check(valid().withDeadline(NOW.plusMillis(1))));
  }

  @ParameterizedTest
  @ValueSource(longs = {0, -1, -60_000})
  void nonPositiveTimeToLive(long millis) {
    single(check(valid().withTimeToLive(Duration.ofMillis(millis))), "timeToLive", "invalid-ttl",
        "timeToLive", "positive", "30s");
  }

  @Test
  void timeToLiveAndDeadlineAreCappedAt365Days() {
    assertEquals(List.of(), check(valid().withTimeToLive(Validation.MAX_TIME_TO_LIVE)));
    single(check(valid().withTimeToLive(Validation.MAX_TIME_TO_LIVE.plusSeconds(1))), "timeToLive", "ttl-too-long",
        "maximum of 365 days");
    single(check(valid().withDeadline(NOW.plus(Validation.MAX_TIME_TO_LIVE).plusSeconds(1))), "deadline",
        "deadline-too-far", "365 days");
  }

  // ---- ids --------------------------------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"", "has space", "tab\there", "caf\u00e9"})
  void badMessageId(String id) {
    single(check(valid().withMessageId(id)), "messageId", "invalid-message-id",
        "messageId", "1-128 printable ASCII", "without spaces", "leave it out");
  }

  @Test
  void messageIdOf129Characters() {
    single(check(valid().withMessageId("m".repeat(129))), "messageId", "invalid-message-id", "1-128");
    assertEquals(List.of(), check(valid().withMessageId("m".repeat(128))));
  }

  @Test
  void badPartitionKey() {
    single(check(valid().withPartitionKey("")), "partitionKey", "invalid-partition-key", "partitionKey", "1-256");
    single(check(valid().withPartitionKey("k".repeat(257))), "partitionKey", "invalid-partition-key", "1-256");
  }

  // ---- valid and combined -----------------------------------------------------------------------------------------

  @Test
  void validRequestHasNoErrors() {
    PublishRequest r = PublishRequest.of("orders.created:eu-1_v2", "{}".getBytes(StandardCharsets.UTF_8))
        .withMessageId("order-42/created#1")
        .withPartitionKey("customer 42")
        .withContentType("application/json")
        .withHeaders(Map.of("trace-id", "abc", "tenant.name", "acme"))
        .withTimeToLive(Duration.ofSeconds(30))
        .withDeadline(NOW.plusSeconds(10));
    assertEquals(List.of(), check(r));
    assertEquals(List.of(), Validation.checkPublish(PublishRequest.of("c", new byte[0]), Limits.DEFAULT, NOW));
  }

  @Test
  void everyProblemIsReportedAtOnce() {
    PublishRequest r = new PublishRequest("bad channel", "bad id", null, new byte[2000], null,
        Map.of("bad name", "v"), Duration.ZERO, NOW.minusSeconds(5));
    List<FieldError> errors = check(r);
    assertEquals(List.of("invalid-name", "invalid-message-id", "payload-too-large", "invalid-header-name",
        "invalid-ttl", "deadline-past"), errors.stream().map(FieldError::code).toList(), errors::toString);
  }

  @Test
  void limitsRejectNonsense() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Limits(0, 1, 1));
    assertTrue(e.getMessage().contains("positive"), e::getMessage);
    assertEquals(1024 * 1024, Limits.DEFAULT.maxPayloadBytes());
  }
}
