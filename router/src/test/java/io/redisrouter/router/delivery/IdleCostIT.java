package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.RedisExtension;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Idle costs nothing: 1,000 subscriptions on 1,000 quiet channels, counted in Redis's own {@code INFO commandstats}
 * (not timed). A subscription that read its stream up sends nothing until a wake-up (a publish on its node, the
 * channel's doorbell from another node) or the stream watch (one XREAD per 1,000 idle streams every
 * {@code watch-interval}) finds new entries; its claim checks back off to {@code idle-claim-max} (10 min, the
 * default) while no other consumer holds entries; the channel janitors, after their first round, wait for activity
 * or {@code quiet-trim-interval} (1 h). What is left: the watch's XREAD and the health-check PING. Before the
 * watch, each subscription polled (every 100 ms at first, then backing off to 2 s) and every janitor ran about 10
 * commands every {@code trim-interval}: about 1,000 commands a second here, 9,277 before any of it.
 *
 * <p>Delivery stays fast: a second node publishes to 20 of the idle channels, each delivered by the first node within
 * milliseconds (the doorbell); an entry written straight into a stream (by something else than a router, so no
 * doorbell) is found by the stream watch within {@code watch-interval}.
 */
class IdleCostIT {
  private static final Logger log = LoggerFactory.getLogger(IdleCostIT.class);
  private static final int SUBSCRIPTIONS = 1000;
  /**
   * Idle Redis commands a second allowed for 1,000 subscriptions (about 2 expected: the watch's XREAD and the PING,
   * once a second each); 20 is 0.02 a second per subscription, the rate that keeps 10,000 under 200.
   */
  private static final double BOUND = 20;
  private static final Duration WATCH = Duration.ofSeconds(1);

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  /**
   * The defaults but for: the janitors' first rounds come within 1 s (trim-interval) instead of spread over 30 s,
   * and the first claim check is a minute after the start (claim-interval), so that the window sees the steady
   * state within seconds. Backed off, the claim checks are one XPENDING per subscription every idle-claim-max
   * (10 min): 1.7 a second for these 1,000, which the window does not include.
   */
  private static final String CONFIG = """
      consumer.poll-interval = 100ms
      consumer.watch-interval = 1s
      consumer.claim-interval = 1m
      consumer.idle-claim-max = 10m
      consumer.quiet-trim-interval = 1h
      channels.defaults.retention.trim-interval = 1s
      """;

  @Test
  void thousandIdleSubscriptionsCostLittleAndADoorbellWakesThemAtOnce() throws Exception {
    ActorTestKit kitA = ActorTestKit.create("idle-a");
    ActorTestKit kitB = ActorTestKit.create("idle-b");
    try {
      RouterMetrics metricsA = new RouterMetrics();
      ActorRef<RouterCommand> a = kitA.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(),
          "node-id = idle-a\n" + CONFIG), metricsA), "router");
      Map<String, Long> deliveredAt = new ConcurrentHashMap<>();
      ActorRef<Delivery> subscriber = kitA
          .spawn(RouterTestSupport.acking(d -> deliveredAt.put(d.envelope().id(), System.nanoTime())), "subscriber");
      for (int i = 0; i < SUBSCRIPTIONS; i++) {
        assertInstanceOf(SubscribeReply.Subscribed.class,
            RouterTestSupport.subscribe(kitA, a, "idle-" + i, "s", subscriber));
      }
      // the subscriptions' first reads and the janitors' first rounds pass within seconds: wait until a 2 s window
      // is under the bound
      TestProbe<Object> probe = kitA.createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(100), () -> {
        Map<String, Long> before = redis.server().commandCalls();
        long t0 = System.nanoTime();
        Thread.sleep(2000); // a measuring window (the test thread only), not a wait for something to happen
        double rate = RedisServer.callsBetween(before, redis.server().commandCalls()).values().stream()
            .mapToLong(Long::longValue).sum()
            / ((System.nanoTime() - t0) / 1e9);
        assertTrue(rate < BOUND, "idle commands/s still " + rate);
        return null;
      });
      // the measured window: 6 s of nothing
      Map<String, Long> before = redis.server().commandCalls();
      long t0 = System.nanoTime();
      Thread.sleep(6_000); // a measuring window
      double seconds = (System.nanoTime() - t0) / 1e9;
      Map<String, Long> idle = RedisServer.callsBetween(before, redis.server().commandCalls());
      long total = idle.values().stream().mapToLong(Long::longValue).sum();
      double rate = total / seconds;
      log.info("idle: {} subscriptions on {} channels: {} Redis commands in {} s = {} /s ({} per subscription per"
          + " hour); by command {}", SUBSCRIPTIONS, SUBSCRIPTIONS, total, String.format("%.1f", seconds),
          String.format("%.1f", rate), String.format("%.1f", rate * 3600 / SUBSCRIPTIONS), idle);
      assertTrue(rate < BOUND, "idle Redis commands/s: " + rate + " " + idle);
      assertEquals(0L, idle.getOrDefault("xreadgroup", 0L), "an idle subscription does not poll: " + idle);
      assertEquals(0L, idle.getOrDefault("xautoclaim", 0L), "no claim scan where no one else holds entries");
      long watchReads = idle.getOrDefault("xread", 0L);
      // the watch reads its 1,000 streams in one XREAD a second: 5 to 7 in 6 s (bounded both ways)
      assertTrue(
          watchReads >= (long) (seconds / WATCH.toSeconds()) - 1 && watchReads <= seconds / WATCH.toSeconds() + 1,
          "one watch XREAD per watch-interval for the 1,000 idle streams: " + watchReads + " in " + seconds + " s");

      // another node publishes to 20 idle channels: each is delivered at once, woken by its doorbell
      ActorRef<RouterCommand> b = kitB.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(),
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
      log.info("doorbell: publish on node b to delivery on node a, 20 idle channels: p50 {} ms, max {} ms; all {};"
          + " stream watch wake-ups {}", p50, max, latenciesMs, metricsA.snapshot().watchWakeups());
      // without the doorbell each would wait for the stream watch: about 0.5 s on average, up to 1 s
      assertTrue(max < 400, "woken by the doorbell, not by the watch: max " + max + " ms " + latenciesMs);

      // an entry written straight into an idle stream (no doorbell, no local publish): the watch finds it
      String id = "raw-xadd";
      Envelope e = new Envelope(id, "idle-500", null, RouterTestSupport.payload(id, 16), null, Map.of(),
          Instant.now(), Instant.now().plusSeconds(60), 1);
      long watchWakeups = metricsA.snapshot().watchWakeups();
      long written = System.nanoTime();
      redis.server().call("XADD", RedisKeys.stream("idle-500"), "*", RedisKeys.FIELD_ENVELOPE,
          new String(EnvelopeCodec.encodeJson(e), StandardCharsets.UTF_8));
      probe.awaitAssert(Duration.ofSeconds(5), Duration.ofMillis(10), () -> {
        assertTrue(deliveredAt.containsKey(id), "the raw entry is delivered");
        return null;
      });
      long rawMs = (deliveredAt.get(id) - written) / 1_000_000;
      log.info("an entry written by something else than a router: delivered after {} ms (watch-interval {} ms),"
          + " stream watch wake-ups {}", rawMs, WATCH.toMillis(), metricsA.snapshot().watchWakeups());
      assertEquals(watchWakeups + 1, metricsA.snapshot().watchWakeups(), "the stream watch woke its subscription");
      assertTrue(rawMs <= WATCH.toMillis() + 500, "found within a watch-interval: " + rawMs + " ms");
    } finally {
      kitB.shutdownTestKit();
      kitA.shutdownTestKit();
    }
  }
}
