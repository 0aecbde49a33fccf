package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Idle costs (almost) nothing: 1,000 subscriptions on 1,000 quiet channels, counted in Redis's own
 * {@code INFO commandstats} (not timed). Polls back off while reads find nothing (here from 100 ms up to
 * {@code idle-poll-max = 2s}), claim scans run only when another consumer holds entries (else the check backs off to
 * {@code idle-claim-max = 4s}): what is left is those checks. Before, each subscription polled every 100 ms and
 * scanned for claims every claim interval: over 10,000 commands a second here. The channels' janitors come on top,
 * one round of about 10 commands per channel every {@code trim-interval} (30 s), spread by their random phases:
 * about a third of the total here; batching them is still to do.
 *
 * <p>The doorbell keeps that cheap without making delivery slow: a second node publishes to 20 of the idle channels;
 * each is delivered by the first node within milliseconds although its poll is seconds away.
 */
class IdleCostIT {
  private static final Logger log = LoggerFactory.getLogger(IdleCostIT.class);
  private static final int SUBSCRIPTIONS = 1000;
  /** Idle Redis commands a second allowed for 1,000 subscriptions with the settings below (about 1,000 expected). */
  private static final double BOUND = 1500;

  static RedisServer redis;

  @BeforeAll
  static void start() {
    redis = RedisServer.start();
  }

  @AfterAll
  static void stop() {
    redis.close();
  }

  private static final String CONFIG = """
      consumer.poll-interval = 100ms
      consumer.idle-poll-max = 2s
      consumer.claim-interval = 500ms
      consumer.idle-claim-max = 4s
      """;

  @Test
  void thousandIdleSubscriptionsCostLittleAndADoorbellWakesThemAtOnce() throws Exception {
    ActorTestKit kitA = ActorTestKit.create("idle-a");
    ActorTestKit kitB = ActorTestKit.create("idle-b");
    try {
      ActorRef<RouterCommand> a = kitA.spawn(RedisRouter.create(RouterTestSupport.settings(redis,
          "node-id = idle-a\n" + CONFIG)), "router");
      Map<String, Long> deliveredAt = new ConcurrentHashMap<>();
      ActorRef<Delivery> subscriber = kitA.spawn(RouterTestSupport.acking(d ->
          deliveredAt.put(d.envelope().id(), System.nanoTime())), "subscriber");
      for (int i = 0; i < SUBSCRIPTIONS; i++) {
        assertInstanceOf(SubscribeReply.Subscribed.class,
            RouterTestSupport.subscribe(kitA, a, "idle-" + i, "s", subscriber));
      }
      // the polls back off within a few seconds (0.1 + 0.2 + ... + 2 s): wait until a 2 s window is under the bound
      TestProbe<Object> probe = kitA.createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
        Map<String, Long> before = redis.commandCalls();
        long t0 = System.nanoTime();
        Thread.sleep(2000); // a measuring window (the test thread only), not a wait for something to happen
        double rate = RedisServer.callsBetween(before, redis.commandCalls()).values().stream()
            .mapToLong(Long::longValue).sum()
            / ((System.nanoTime() - t0) / 1e9);
        assertTrue(rate < BOUND, "idle commands/s still " + rate);
        return null;
      });
      // the measured window: 6 s of nothing
      Map<String, Long> before = redis.commandCalls();
      long t0 = System.nanoTime();
      Thread.sleep(6_000); // a measuring window
      double seconds = (System.nanoTime() - t0) / 1e9;
      Map<String, Long> idle = RedisServer.callsBetween(before, redis.commandCalls());
      long total = idle.values().stream().mapToLong(Long::longValue).sum();
      double rate = total / seconds;
      log.info("idle: {} subscriptions on {} channels: {} Redis commands in {} s = {} /s ({} per subscription per"
              + " minute); by command {}", SUBSCRIPTIONS, SUBSCRIPTIONS, total, String.format("%.1f", seconds),
          String.format("%.0f", rate), String.format("%.1f", rate * 60 / SUBSCRIPTIONS), idle);
      assertTrue(rate < BOUND, "idle Redis commands/s: " + rate + " " + idle);
      long reads = idle.getOrDefault("xreadgroup", 0L);
      assertTrue(reads > 0 && reads / seconds < SUBSCRIPTIONS, "polls back off but go on (safety net): " + reads);
      assertEquals(0L, idle.getOrDefault("xautoclaim", 0L), "no claim scan where no one else holds entries");

      // another node publishes to 20 idle channels: each is delivered at once, woken by its doorbell
      ActorRef<RouterCommand> b = kitB.spawn(RedisRouter.create(RouterTestSupport.settings(redis,
          "node-id = idle-b\n" + CONFIG)), "router");
      assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(kitB, b, PublishRequest.of(
          "idle-warm-up", RouterTestSupport.payload("warm-up", 32)))); // b connected: its connect is not timed
      Map<String, Long> sentAt = new ConcurrentHashMap<>();
      for (int i = 0; i < 20; i++) {
        String id = "bell-" + i;
        sentAt.put(id, System.nanoTime());
        PublishReply r = RouterTestSupport.publish(kitB, b, PublishRequest.of("idle-" + (i * 37),
            RouterTestSupport.payload(id, 32)).withMessageId(id));
        assertInstanceOf(PublishReply.Accepted.class, r);
      }
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(20, deliveredAt.size(), "delivered: " + deliveredAt.keySet());
        return null;
      });
      List<Long> latenciesMs = new ArrayList<>();
      sentAt.forEach((id, at) -> latenciesMs.add((deliveredAt.get(id) - at) / 1_000_000));
      latenciesMs.sort(Long::compare);
      long p50 = latenciesMs.get(latenciesMs.size() / 2);
      long max = latenciesMs.get(latenciesMs.size() - 1);
      log.info("doorbell: publish on node b to delivery on node a, 20 idle channels (their polls 2 s apart): p50 {} ms,"
          + " max {} ms; all {}", p50, max, latenciesMs);
      // without the doorbell each would wait for its channel's next poll: about 1 s on average, up to 2 s
      assertTrue(max < 400, "woken by the doorbell, not by the poll: max " + max + " ms " + latenciesMs);
    } finally {
      kitB.shutdownTestKit();
      kitA.shutdownTestKit();
    }
  }
}
