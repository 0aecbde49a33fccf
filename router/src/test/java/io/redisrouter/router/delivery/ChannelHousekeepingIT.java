package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a channel leaves behind stays bounded: dead letters have their own retention, consumers of stopped or
 * restarted subscriptions are removed once they hold nothing, a group that pins retention is reported, and the
 * janitors and per-channel counters of channels that went empty and unused stop (10,000 channel names come and go).
 */
class ChannelHousekeepingIT {
  private static final Logger log = LoggerFactory.getLogger(ChannelHousekeepingIT.class);

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("""
      channels.defaults.retention { max-age = 1s, trim-interval = 1s, dead-letter-max-length = 5 }
      channels.overrides."hk-dead-age".retention.dead-letter-max-age = 2s
      consumer.idle-consumer-removal = 1s
      """);

  private static void publish(String channel, String id) {
    PublishReply r = node.publish(PublishRequest.of(channel,
        RouterTestSupport.payload(id, 16)).withMessageId(id));
    assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
  }

  private static int consumers(String channel, String group) {
    return node.redis().callList("XINFO", "CONSUMERS", RedisKeys.stream(channel), group).size();
  }

  @Test
  void deadLettersKeepTheirOwnRetention() {
    String channel = "hk-dead";
    ActorRef<Delivery> rejecting = node.kit().spawn(Behaviors.receiveMessage(d -> {
      d.replyTo().tell(new DeliveryAck.Nack(d.deliveryId(), "not for me", true));
      return Behaviors.same();
    }));
    assertInstanceOf(SubscribeReply.Subscribed.class,
        node.subscribe(channel, "rejecters", rejecting));
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      ids.add("dl-" + i);
      publish(channel, "dl-" + i);
    }
    TestProbe<Object> probe = node.kit().createTestProbe();
    long[] maxSeen = {0};
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0L, DeliveryITSupport.pendingCount(node.redis(), channel, "rejecters"), "all dead-lettered");
      long len = node.redis().callLong("XLEN", RedisKeys.deadLetters(channel));
      maxSeen[0] = Math.max(maxSeen[0], len);
      assertEquals(5L, len, "dead-letter stream capped at dead-letter-max-length");
      return null;
    });
    // the newest five are kept
    List<String> kept = new ArrayList<>(io.redisrouter.router.fault.DeadLettersView.ids(node.redis(), channel));
    assertEquals(ids.subList(15, 20), kept);
    log.info("dead letters: 20 written, {} at most seen, {} kept", maxSeen[0], kept.size());
  }

  @Test
  void deadLettersOlderThanTheirMaxAgeAreTrimmedNotBefore() throws Exception {
    String channel = "hk-dead-age";
    ActorRef<Delivery> rejecting = node.kit().spawn(Behaviors.receiveMessage(d -> {
      d.replyTo().tell(new DeliveryAck.Nack(d.deliveryId(), "not for me", true));
      return Behaviors.same();
    }));
    assertInstanceOf(SubscribeReply.Subscribed.class, node.subscribe(channel, "age-rejecters", rejecting));
    for (int i = 0; i < 3; i++) publish(channel, "age-" + i);
    TestProbe<Object> probe = node.kit().createTestProbe();
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(3L, node.redis().callLong("XLEN", RedisKeys.deadLetters(channel)), "the three are dead letters");
      return null;
    });
    // the id of a dead letter is when it was written: none may go before it is 2 s old, all must go soon after
    List<String> written = streamIds(RedisKeys.deadLetters(channel));
    assertEquals(3, written.size(), written::toString);
    long newest = written.stream().mapToLong(ChannelHousekeepingIT::idMillis).max().orElseThrow();
    long oldest = written.stream().mapToLong(ChannelHousekeepingIT::idMillis).min().orElseThrow();
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (node.redis().callLong("XLEN", RedisKeys.deadLetters(channel)) > 0) {
      long len = node.redis().callLong("XLEN", RedisKeys.deadLetters(channel));
      if (len < 3) {
        long age = System.currentTimeMillis() - oldest;
        assertTrue(age >= 2000 - 50, "a dead letter went at " + age + " ms, before its max-age of 2 s");
      }
      assertTrue(System.nanoTime() < deadline, "dead letters still there 15 s after they were written");
      Thread.sleep(20); // polling a condition with a deadline
    }
    long goneAfter = System.currentTimeMillis() - newest;
    assertTrue(goneAfter >= 2000 - 50, "trimmed " + goneAfter + " ms after the newest was written");
    log.info("dead-letter max-age 2 s: 3 written, all trimmed {} ms after the newest was written", goneAfter);
  }

  private static List<String> streamIds(String stream) {
    List<String> ids = new ArrayList<>();
    for (Object e : node.redis().callList("XRANGE", stream, "-", "+")) {
      Object id = ((List<?>) e).get(0);
      ids.add(id instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.US_ASCII) : String.valueOf(id));
    }
    return ids;
  }

  private static long idMillis(String id) {
    return Long.parseLong(id.substring(0, id.indexOf('-')));
  }

  @Test
  void consumersOfPastSubscriptionsAreRemovedOnceTheyHoldNothing() {
    String channel = "hk-cycles";
    MessageChecker steadyChecker = new MessageChecker();
    MessageChecker passingChecker = new MessageChecker();
    ActorRef<Delivery> steady = node.subscribeAcking(channel, "cyclers",
        d -> steadyChecker.delivered(d.envelope().id()));
    int most = 0;
    for (int i = 0; i < 50; i++) {
      // a second subscription of the channel comes and goes: each time a new consumer in its group
      ActorRef<Delivery> passing = node.subscribeAcking(channel, "passing",
          d -> passingChecker.delivered(d.envelope().id()));
      String id = "c-" + i;
      steadyChecker.sent(id);
      passingChecker.sent(id);
      publish(channel, id);
      steadyChecker.accepted(id);
      passingChecker.accepted(id);
      TestProbe<SubscribeReply> reply = node.kit().createTestProbe();
      node.router().tell(new RouterCommand.Unsubscribe(channel, "passing", passing, reply.ref()));
      reply.expectMessageClass(SubscribeReply.Unsubscribed.class, Duration.ofSeconds(5));
      node.kit().stop(passing);
      most = Math.max(most, consumers(channel, "passing"));
    }
    // the subscription comes back for good: it takes over what the passing ones left pending (after the ack
    // timeout); then their consumers hold nothing and go
    node.subscribeAcking(channel, "passing", d -> passingChecker.delivered(d.envelope().id()));
    int mostSeen = most;
    TestProbe<Object> probe = node.kit().createTestProbe();
    probe.awaitAssert(Duration.ofSeconds(15), () -> {
      assertEquals(0, steadyChecker.lostIds().size(), () -> "lost " + steadyChecker.lostIds());
      assertEquals(0, passingChecker.lostIds().size(), () -> "lost " + passingChecker.lostIds());
      assertEquals(1, consumers(channel, "passing"), "consumers of the stopped subscriptions removed");
      assertEquals(1, consumers(channel, "cyclers"), "the live subscription's consumer stays");
      return null;
    });
    log.info("50 subscribe/unsubscribe cycles: up to {} consumer names in the group, 1 after the removal; steady {};"
        + " passing {}", mostSeen, steadyChecker.report(), passingChecker.report());
    assertTrue(mostSeen >= 2, "consumers piled up before their removal: " + mostSeen);
  }

  @Test
  void aGroupThatPinsRetentionIsReported() {
    String channel = "hk-pinned";
    node.redis().call("XGROUP", "CREATE", RedisKeys.stream(channel), "lagging", "0", "MKSTREAM");
    try (LogCapture logs = LogCapture.start()) {
      for (int i = 0; i < 5; i++) publish(channel, "p-" + i); // nobody reads them: the group lags
      TestProbe<Object> probe = node.kit().createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals("lagging", node.metrics().retentionPinned().get(channel));
        assertTrue(logs.linesContaining("held back by consumer group 'lagging'").size() > 0, "WARN");
        return null;
      });
      assertEquals(5L, node.redis().callLong("XLEN", RedisKeys.stream(channel)), "the entries it needs are kept");
      node.redis().call("XGROUP", "DESTROY", RedisKeys.stream(channel), "lagging");
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(null, node.metrics().retentionPinned().get(channel));
        return null;
      });
    }
  }

  @Test
  void tenThousandChannelsComeAndGo() throws Exception {
    int channels = 10_000;
    int before = node.metrics().snapshot().channelJanitors();
    List<CompletableFuture<PublishReply>> replies = new ArrayList<>(channels);
    for (int i = 0; i < channels; i++) {
      replies.add(RouterTestSupport.publishAsync(node.kit(), node.router(), PublishRequest.of("hk-many-" + i,
          RouterTestSupport.payload("m", 8))).toCompletableFuture());
    }
    for (CompletableFuture<PublishReply> f : replies) {
      PublishReply r = f.get(30, TimeUnit.SECONDS);
      assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
    }
    TestProbe<Object> probe = node.kit().createTestProbe();
    int[] most = {0};
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      most[0] = Math.max(most[0], node.metrics().snapshot().channelJanitors());
      assertTrue(most[0] >= before + channels, "a janitor per channel: " + most[0]);
      return null;
    });
    long t0 = System.nanoTime();
    // max-age 1 s empties every stream; two empty rounds later the channel is dropped
    probe.awaitAssert(Duration.ofSeconds(30), () -> {
      assertTrue(node.metrics().snapshot().channelJanitors() <= before,
          "janitors left: " + node.metrics().snapshot().channelJanitors());
      long counters = node.metrics().publishedByChannel().keySet().stream().filter(c -> c.startsWith("hk-many-"))
          .count();
      assertEquals(0L, counters, "per-channel counters left");
      return null;
    });
    log.info("{} channels: {} janitors at most, all stopped {} ms after the streams were trimmed", channels, most[0],
        (System.nanoTime() - t0) / 1_000_000);
  }
}
