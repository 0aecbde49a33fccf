package io.redisrouter.router.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.ConfigError;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Invalid input is answered, not dropped: publishes with {@code Rejected(INVALID)} and subscribes with
 * {@code SubscribeFailed}, both carrying field errors; nothing reaches Redis. Invalid configuration fails at start-up
 * with an error naming the key.
 */
class PublishValidationIT {

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("limits.max-payload-bytes = 1024");

  private static PublishReply.Rejected invalid(PublishRequest r, String field, String code, String... mentions) {
    PublishReply reply = node.publish(r);
    PublishReply.Rejected rej = assertInstanceOf(PublishReply.Rejected.class, reply, () -> "reply " + reply);
    assertEquals(PublishReply.RejectReason.INVALID, rej.reason(), rej::toString);
    assertEquals(Duration.ZERO, rej.retryAfter(), "an invalid request must not be retried as is");
    assertEquals(1, rej.errors().size(), rej::toString);
    FieldError e = rej.errors().get(0);
    assertEquals(field, e.field(), e::toString);
    assertEquals(code, e.code(), e::toString);
    for (String m : mentions) {
      assertTrue(e.message().contains(m), () -> "'" + e.message() + "' should mention '" + m + "'");
    }
    // the reply's summary carries the same sentence, and the id is the one given or a generated one
    assertTrue(rej.message().contains(e.message()), rej::message);
    assertFalse(rej.messageId() == null || rej.messageId().isEmpty(), rej::toString);
    return rej;
  }

  /** No stream was created for {@code channel}: nothing was written. */
  private static void nothingWritten(String channel) {
    assertEquals(0L, node.redis().callLong("EXISTS", RedisKeys.stream(channel)), "stream of " + channel + " exists");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "orders created | space",
      "orders.*       | glob",
      "orders?        | glob",
      "orders[1]      | glob"})
  void badChannelIsInvalid(String channel, String why) {
    invalid(PublishRequest.of(channel, new byte[10]), "channel", "invalid-name",
        "channel '" + channel + "'", "1-128 of [A-Za-z0-9._:-]");
  }

  @Test
  void channelOf129CharactersIsInvalid() {
    invalid(PublishRequest.of("c".repeat(129), new byte[10]), "channel", "invalid-name",
        "129 characters, at most 128", "1-128 of [A-Za-z0-9._:-]");
  }

  @Test
  void payloadOverTheConfiguredLimitIsInvalid() {
    invalid(PublishRequest.of("v.big", new byte[1025]), "payload", "payload-too-large",
        "1025 bytes", "limit of 1024", "redis-router.limits.max-payload-bytes");
    nothingWritten("v.big");
    // at the limit it is accepted: the limit is the configured one, not the 1 MiB default
    PublishReply ok = node.publish(PublishRequest.of("v.ok", new byte[1024]));
    assertInstanceOf(PublishReply.Accepted.class, ok, () -> "reply " + ok);
    assertEquals(1L, node.redis().callLong("XLEN", RedisKeys.stream("v.ok")));
  }

  @Test
  void pastDeadlineIsInvalid() {
    Instant past = Instant.now().minusSeconds(5);
    PublishReply.Rejected rej = invalid(PublishRequest.of("v.late", new byte[10]).withDeadline(past)
        .withMessageId("late-1"), "deadline", "deadline-past", "deadline " + past, "already past", "timeToLive");
    assertEquals("late-1", rej.messageId());
    nothingWritten("v.late");
  }

  @Test
  void nonPositiveTimeToLiveIsInvalid() {
    invalid(PublishRequest.of("v.ttl", new byte[10]).withTimeToLive(Duration.ZERO), "timeToLive", "invalid-ttl",
        "timeToLive must be positive");
    nothingWritten("v.ttl");
  }

  @Test
  void timeToLiveOrDeadlineBeyondTheMaximumIsInvalid() {
    // a ttl Instant cannot add to now used to fail the router, not the request
    invalid(PublishRequest.of("v.ttl-max", new byte[10]).withTimeToLive(Duration.ofDays(1_000_000_000_000L / 1000)),
        "timeToLive", "ttl-too-long", "over the maximum of 365 days");
    invalid(PublishRequest.of("v.ttl-max", new byte[10]).withDeadline(Instant.now().plus(Duration.ofDays(400))),
        "deadline", "deadline-too-far", "365 days");
    nothingWritten("v.ttl-max");
  }

  @Test
  void tooManyHeadersIsInvalid() {
    Map<String, String> headers = new HashMap<>();
    for (int i = 0; i < 33; i++) headers.put("h" + i, "v");
    invalid(PublishRequest.of("v.headers", new byte[10]).withHeaders(headers), "headers", "too-many-headers",
        "33 entries", "at most 32", "redis-router.limits.max-headers");
    nothingWritten("v.headers");
  }

  @Test
  void badMessageIdIsInvalid() {
    invalid(PublishRequest.of("v.id", new byte[10]).withMessageId("has space"), "messageId", "invalid-message-id",
        "messageId", "printable ASCII");
    nothingWritten("v.id");
  }

  @Test
  void everyErrorOfOneRequestIsReported() {
    PublishReply reply = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of("bad channel", new byte[2048]).withDeadline(Instant.now().minusSeconds(1)));
    PublishReply.Rejected rej = assertInstanceOf(PublishReply.Rejected.class, reply);
    assertEquals(List.of("channel", "payload", "deadline"), rej.errors().stream().map(FieldError::field).toList());
  }

  // ---- subscribe --------------------------------------------------------------------------------------------------

  private static SubscribeReply.SubscribeFailed subscribeFails(String channel, String subscription) {
    TestProbe<Delivery> subscriber = node.kit().createTestProbe();
    SubscribeReply reply = node.subscribe(channel, subscription, subscriber.getRef());
    SubscribeReply.SubscribeFailed f = assertInstanceOf(SubscribeReply.SubscribeFailed.class, reply,
        () -> "reply " + reply);
    assertEquals(channel, f.channel());
    assertEquals(subscription, f.subscription());
    return f;
  }

  @Test
  void subscribeWithBadChannelFails() {
    SubscribeReply.SubscribeFailed f = subscribeFails("news *", "billing");
    assertEquals(1, f.errors().size(), f::toString);
    assertEquals("channel", f.errors().get(0).field());
    assertEquals("invalid-name", f.errors().get(0).code());
    assertTrue(f.message().contains("channel 'news *'") && f.message().contains("1-128 of [A-Za-z0-9._:-]"),
        f::message);
    // no consumer group was created for it
    assertEquals(0L, node.redis().callLong("EXISTS", RedisKeys.stream("news *")));
  }

  @Test
  void subscribeWithBadSubscriptionFails() {
    SubscribeReply.SubscribeFailed f = subscribeFails("orders", "bill ing");
    assertEquals(1, f.errors().size(), f::toString);
    assertEquals("subscription", f.errors().get(0).field());
    assertTrue(f.message().contains("subscription 'bill ing'") && f.message().contains("1-128"), f::message);
  }

  @Test
  void subscribeWithoutNamesReportsBothFields() {
    SubscribeReply.SubscribeFailed f = subscribeFails("", null);
    assertEquals(List.of("channel", "subscription"), f.errors().stream().map(FieldError::field).toList());
    assertEquals(List.of("required", "required"), f.errors().stream().map(FieldError::code).toList());
  }

  @Test
  void validSubscribeStillWorks() {
    TestProbe<Delivery> subscriber = node.kit().createTestProbe();
    SubscribeReply reply = node.subscribe("v.sub", "billing", subscriber.getRef());
    assertInstanceOf(SubscribeReply.Subscribed.class, reply, () -> "reply " + reply);
    PublishReply p = node.publish(PublishRequest.of("v.sub", new byte[]{42}));
    assertInstanceOf(PublishReply.Accepted.class, p);
    Delivery d = subscriber.receiveMessage(Duration.ofSeconds(10));
    assertEquals(42, d.envelope().payload()[0]);
    d.replyTo().tell(d.ack());
  }

  // ---- configuration ----------------------------------------------------------------------------------------------

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "ingress.queue-size = 0                 | redis-router.ingress.queue-size          | >= 1",
      "ingress.batch-size = -5                | redis-router.ingress.batch-size          | >= 1",
      "limits.max-payload-bytes = lots        | redis-router.limits.max-payload-bytes    | ",
      "redis.instances.default.command-timeout = 0s | redis-router.redis.instances.default.command-timeout | > 0",
      "channels.overrides { news { mode = radio } } | redis-router.channels.overrides.news.mode | broadcast"})
  void invalidConfigurationFailsAtStartUpNamingTheKey(String hocon, String key, String allowed) {
    ConfigError e = assertThrows(ConfigError.class, () -> RouterTestSupport.settings(node.redis(), hocon));
    assertEquals(key, e.key());
    assertTrue(e.getMessage().contains(key), e::getMessage);
    if (allowed != null) assertTrue(e.getMessage().contains(allowed), e::getMessage);
    // the same through the public loader, without the test defaults
    ConfigError direct = assertThrows(ConfigError.class,
        () -> RouterSettings.load(ConfigFactory.parseString("redis-router { " + hocon + " }")));
    assertEquals(key, direct.key());
  }
}
