package io.redisrouter.router.fault;

import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.DeadLetterPage;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisExtension;
import io.redisrouter.testkit.TcpProxy;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two live routers on one subscription; one of them (a) stalls longer than the ack timeout and then resumes.
 *
 * <p>Router a reaches Redis through a {@link TcpProxy}; router b directly. a takes 20 messages and its subscriber
 * never answers; then the proxy stops forwarding until b has taken them over, plus one second (a's process lives, its lease renewals and
 * retries wait in its sockets, as in a GC pause or a partition). b takes the entries over once they are idle for the
 * ack timeout and its subscriber acks each 1.9 s after receiving it (inside b's ack window). When the proxy forwards
 * again, what a sent meanwhile reaches Redis: before owner-checked leases, a's queued renewals (XCLAIM with min-idle
 * 0) and retries took the entries back from b and handed them out again inside b's ack window, and a dead-lettered
 * entries b had acked. Now: no entry is handed out by both routers inside one ack timeout, no entry is both acked
 * and dead-lettered, and every message is acked (lost = 0).
 */
class StalledConsumerLeaseIT {
  private static final Logger log = LoggerFactory.getLogger(StalledConsumerLeaseIT.class);
  private static final String CHANNEL = "lease";
  private static final String SUBSCRIPTION = "workers";
  private static final int TOTAL = 20;
  private static final Duration ACK_TIMEOUT = Duration.ofSeconds(2);
  private static final Duration B_PROCESSING = Duration.ofMillis(1900);
  private static final String SETTINGS = """
      channels.defaults.ack-timeout = 2s
      channels.defaults.max-attempts = 2
      channels.defaults.max-in-flight = 50
      """;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();
  static TcpProxy proxy; // in front of the class's Redis, to stall one node's connections

  @BeforeAll
  static void start() throws Exception {
    proxy = TcpProxy.to(redis.server());
  }

  @AfterAll
  static void stop() {
    proxy.close();
  }

  record Handout(String router, String messageId, long nanos, int attempt) {}

  /** Records every delivery; never answers. */
  static Behavior<Delivery> holding(String router, List<Handout> handouts) {
    return Behaviors.receiveMessage(d -> {
      handouts.add(new Handout(router, d.envelope().id(), System.nanoTime(), d.envelope().attempt()));
      return Behaviors.same();
    });
  }

  private record AckLater(Delivery d) {}

  /** Records every delivery and acks it {@code after} it arrived (still inside the ack timeout). */
  static Behavior<Object> ackingAfter(String router, Duration after, List<Handout> handouts, Set<String> acked) {
    return Behaviors.withTimers(timers -> Behaviors.receive(Object.class)
        .onMessage(Delivery.class, d -> {
          handouts.add(new Handout(router, d.envelope().id(), System.nanoTime(), d.envelope().attempt()));
          timers.startSingleTimer(d.deliveryId(), new AckLater(d), after);
          return Behaviors.same();
        })
        .onMessage(AckLater.class, a -> {
          acked.add(a.d().envelope().id());
          a.d().replyTo().tell(a.d().ack());
          return Behaviors.same();
        })
        .build());
  }

  @Test
  void aStalledRouterNeverTakesBackWhatAnotherTookOver() throws Exception {
    List<Handout> handouts = new CopyOnWriteArrayList<>();
    Set<String> acked = ConcurrentHashMap.newKeySet();
    ActorTestKit kitA = ActorTestKit.create("lease-a");
    ActorTestKit kitB = ActorTestKit.create("lease-b");
    try (LogCapture logs = LogCapture.start()) {
      RouterMetrics metricsA = new RouterMetrics();
      RouterMetrics metricsB = new RouterMetrics();
      ActorRef<RouterCommand> routerA = kitA
          .spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(), SETTINGS
              + "node-id = node-a\nredis.instances.default.uri = \"" + proxy.uri() + "\""), metricsA), "router");
      ActorRef<RouterCommand> routerB = kitB
          .spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(), SETTINGS
              + "node-id = node-b"), metricsB), "router");

      ActorRef<Delivery> subA = kitA.spawn(holding("a", handouts), "sub-a");
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(kitA, routerA, CHANNEL, SUBSCRIPTION, subA,
              io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));
      for (int i = 0; i < TOTAL; i++) {
        PublishReply r = RouterTestSupport.publish(kitB, routerB,
            PublishRequest.of(CHANNEL, RouterTestSupport.payload("m" + i, 64)).withMessageId("m" + i));
        assertInstanceOf(PublishReply.Accepted.class, r);
      }
      TestProbe<Object> probe = kitB.createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(TOTAL, handouts.stream().filter(h -> h.router().equals("a")).count(), "a holds all");
        return null;
      });

      // a stalls: its link to Redis forwards nothing for three ack timeouts
      proxy.pause();
      long stalledAt = System.nanoTime();
      ActorRef<Delivery> subB = kitB.spawn(ackingAfter("b", B_PROCESSING, handouts, acked), "sub-b").narrow();
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(kitB, routerB, CHANNEL, SUBSCRIPTION, subB,
              io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));
      // the fault happened: b takes a's entries over while a is stalled
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(handouts.stream().anyMatch(h -> h.router().equals("b")), "b took over a's entries");
        return null;
      });
      long takenOverAt = System.nanoTime();
      // a resumes while b still processes what it took over (b acks 1.9 s after each take-over)
      Thread.sleep(1000);
      proxy.resume();
      long resumedAt = System.nanoTime();
      assertTrue(resumedAt - stalledAt > ACK_TIMEOUT.toNanos(), "a stalled longer than the ack timeout");
      log.info("a stalled {} ms; b's first take-over came {} ms into the stall",
          (resumedAt - stalledAt) / 1_000_000, (takenOverAt - stalledAt) / 1_000_000);

      // everything ends acked, nothing stays pending
      probe.awaitAssert(Duration.ofSeconds(30), () -> {
        assertEquals(TOTAL, acked.size(), () -> "acked " + acked.size() + " of " + TOTAL);
        assertEquals(0L, redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION).get(0),
            "nothing pending");
        return null;
      });
      // what a sent while stalled reached Redis, and a settled: let a full ack timeout of a's retries pass
      Thread.sleep(ACK_TIMEOUT.toMillis() + 500);

      // no entry handed out by both routers inside one ack timeout
      List<String> overlaps = new ArrayList<>();
      Map<String, List<Handout>> byId = new java.util.TreeMap<>();
      for (Handout h : handouts) byId.computeIfAbsent(h.messageId(), k -> new ArrayList<>()).add(h);
      long windowNanos = ACK_TIMEOUT.toNanos() - Duration.ofMillis(100).toNanos();
      for (var e : byId.entrySet()) {
        List<Handout> hs = e.getValue();
        for (int i = 0; i < hs.size(); i++) {
          for (int j = i + 1; j < hs.size(); j++) {
            Handout x = hs.get(i);
            Handout y = hs.get(j);
            if (!x.router().equals(y.router()) && Math.abs(y.nanos() - x.nanos()) < windowNanos) {
              overlaps.add(e.getKey() + ": " + x.router() + "#" + x.attempt() + " and " + y.router() + "#"
                  + y.attempt() + " " + Math.abs(y.nanos() - x.nanos()) / 1_000_000 + " ms apart");
            }
          }
        }
      }
      // nothing both acked and dead-lettered
      TestProbe<DeadLetterPage> dl = kitB.createTestProbe();
      routerB.tell(new RouterCommand.ReadDeadLetters(CHANNEL, null, 1000, dl.getRef()));
      Set<String> dead = new HashSet<>();
      for (DeadLetter d : dl.receiveMessage(Duration.ofSeconds(5)).items()) {
        if (d.envelope() != null) dead.add(d.envelope().id());
      }
      Set<String> ackedAndDead = new HashSet<>(acked);
      ackedAndDead.retainAll(dead);
      long handedOutByB = byId.values().stream().filter(l -> l.stream().anyMatch(h -> h.router().equals("b")))
          .count();
      long duplicated = handouts.size() - byId.size();
      int lost = TOTAL - (int) byId.keySet().stream().filter(id -> acked.contains(id) || dead.contains(id)).count();
      log.info("lease test: sent={} acked={} delivered={} (handouts {}: a {}, b {}) lost={} duplicated={}"
          + " deadLettered={} ackedAndDead={} overlaps={} leasesLost(a)={}", TOTAL, acked.size(), byId.size(),
          handouts.size(), handouts.stream().filter(h -> h.router().equals("a")).count(),
          handouts.stream().filter(h -> h.router().equals("b")).count(), lost, duplicated, dead.size(),
          ackedAndDead, overlaps, metricsA.snapshot().leasesLost());
      assertEquals(TOTAL, handedOutByB, "b took over every entry a held while stalled");
      assertEquals(List.of(), overlaps, "an entry was handed out by both routers inside one ack timeout");
      assertEquals(Set.of(), ackedAndDead, "entries both acked and dead-lettered");
      assertEquals(0, lost, "lost");
      assertTrue(logs.linesContaining("no answer to PING").size() > 0
          || logs.linesContaining("lost the lease").size() > 0 || metricsA.snapshot().leasesLost() > 0,
          "a noticed the stall (PING) or the lost leases");
    } finally {
      kitA.shutdownTestKit();
      kitB.shutdownTestKit();
    }
  }
}
