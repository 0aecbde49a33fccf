package io.redisrouter.router.fault;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A router node dies with deliveries pending under its consumer; a new node takes them over.
 *
 * <p>System "a" runs a router and a subscriber that acks only even-numbered messages (the odd ones stay unacked
 * and pending under a's consumer, redelivered to it on every ack timeout). A separate publisher node "p" keeps
 * publishing throughout. Mid-stream system "a" is terminated; system "b" starts a new router (new node id) with an
 * acking subscriber on the same channel and subscription. b must take over a's pending entries with XAUTOCLAIM once
 * they are idle longer than the ack timeout (a's lease renewals stopped with it) and deliver them, and read the
 * rest of the stream. At the end every accepted message was processed (acked by a's or b's subscriber), nothing is
 * pending in Redis, nothing was dead-lettered; duplicates (a's acks that never reached Redis) are counted.
 */
class RouterCrashReclaimIT {
  private static final Logger log = LoggerFactory.getLogger(RouterCrashReclaimIT.class);
  private static final String CHANNEL = "crash";
  private static final String SUBSCRIPTION = "workers";
  private static final int TOTAL = 4000;
  private static final String SETTINGS = """
      channels.defaults.ack-timeout = 1s
      channels.defaults.max-attempts = 50
      channels.defaults.max-in-flight = 512
      """;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create().withKit("p");

  private static boolean even(String id) {
    return (id.charAt(id.length() - 1) - '0') % 2 == 0;
  }

  /** Acks even-numbered messages (recording them as processed); receives odd ones and never answers. */
  private static Behavior<Delivery> evenAcking(MessageChecker checker, AtomicInteger ackedByA,
      Set<String> heldByA, AtomicInteger redeliveredToA) {
    return Behaviors.receiveMessage(d -> {
      String id = d.envelope().id();
      if (even(id)) {
        checker.delivered(id);
        ackedByA.incrementAndGet();
        d.replyTo().tell(d.ack());
      } else {
        heldByA.add(id);
        if (d.envelope().attempt() > 1) redeliveredToA.incrementAndGet();
      }
      return Behaviors.same();
    });
  }

  @Test
  void aNewNodeTakesOverWhatACrashedNodeLeftPending() throws Exception {
    long t0 = System.nanoTime();
    MessageChecker checker = new MessageChecker();
    AtomicInteger ackedByA = new AtomicInteger();
    Set<String> heldByA = ConcurrentHashMap.newKeySet();
    AtomicInteger redeliveredToA = new AtomicInteger();
    AtomicInteger deliveredByB = new AtomicInteger();
    AtomicInteger redeliveredToB = new AtomicInteger();

    ActorRef<RouterCommand> publisherRouter = redis.kit().spawn(RedisRouter.create(
        RouterTestSupport.settings(redis.server(), SETTINGS + "node-id = node-p")), "router");

    // node a: router + a subscriber that leaves the odd messages unacked
    ActorTestKit kitA = ActorTestKit.create("a");
    ActorRef<RouterCommand> routerA = kitA.spawn(RedisRouter.create(
        RouterTestSupport.settings(redis.server(), SETTINGS + "node-id = node-a")), "router");
    ActorRef<Delivery> subA = kitA.spawn(evenAcking(checker, ackedByA, heldByA, redeliveredToA), "sub-a");
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(kitA, routerA, CHANNEL, SUBSCRIPTION, subA,
            io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));

    // 4000 messages at ~500/s through the publisher node, which lives through the whole test
    try (PacedPublisher publisher = new PacedPublisher("crash-publisher", "m", CHANNEL, TOTAL, 10,
        Duration.ofMillis(20), 200, false, checker,
        r -> RouterTestSupport.publishAsync(redis.kit(), publisherRouter, r),
        id -> PublishRequest.of(CHANNEL, RouterTestSupport.payload(id, 128)).withMessageId(id))) {
      publisher.start();

      TestProbe<Object> probe = redis.kit().createTestProbe();
      // a is busy: it has acked a good part of what it read, holds unacked odd ones and already redelivered some
      // of them to its subscriber after their ack timeout (its retry loop runs)
      probe.awaitAssert(Duration.ofSeconds(20), () -> {
        assertTrue(ackedByA.get() >= 300 && heldByA.size() >= 100 && redeliveredToA.get() >= 50,
            () -> "a acked " + ackedByA.get() + ", holds " + heldByA.size() + ", redelivered " + redeliveredToA.get());
        return null;
      });

      // crash a mid-stream
      int publishedAtCrash = publisher.sent();
      kitA.shutdownTestKit();
      Map<String, Long> pendingAtCrash = pendingByConsumer();
      long pendingUnderA = pendingAtCrash.entrySet().stream()
          .filter(e -> e.getKey().startsWith("node-a-")).mapToLong(Map.Entry::getValue).sum();
      log.info("node a terminated after {} of {} publishes: a acked {}, held {} unacked ({} redeliveries to a);"
          + " pending in redis by consumer: {}", publishedAtCrash, TOTAL, ackedByA.get(), heldByA.size(),
          redeliveredToA.get(), pendingAtCrash);
      assertTrue(publishedAtCrash < TOTAL, "the crash must happen while publishing goes on: " + publishedAtCrash);
      assertTrue(pendingUnderA > 0, "a must leave entries pending under its consumer: " + pendingAtCrash);

      // node b: a new router (new node id) with an acking subscriber on the same subscription
      ActorTestKit kitB = ActorTestKit.create("b");
      try {
        RouterMetrics metricsB = new RouterMetrics();
        ActorRef<RouterCommand> routerB = kitB.spawn(RedisRouter.create(
            RouterTestSupport.settings(redis.server(), SETTINGS + "node-id = node-b"), metricsB), "router");
        ActorRef<Delivery> subB = kitB.spawn(RouterTestSupport.acking(d -> {
          checker.delivered(d.envelope().id());
          deliveredByB.incrementAndGet();
          if (d.envelope().attempt() > 1) redeliveredToB.incrementAndGet();
        }), "sub-b");
        assertInstanceOf(SubscribeReply.Subscribed.class,
            RouterTestSupport.subscribe(kitB, routerB, CHANNEL, SUBSCRIPTION, subB,
                io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));

        publisher.awaitDone(probe, Duration.ofSeconds(30));
        RouterTestSupport.awaitNoneLost(probe, checker, Duration.ofSeconds(30));
        // everything acknowledged in Redis, by b
        RouterTestSupport.awaitNothingPending(probe, redis.server(), CHANNEL, SUBSCRIPTION, Duration.ofSeconds(15));

        MessageChecker.Report report = checker.report();
        checker.logReport("RouterCrashReclaimIT");
        log.info("RouterCrashReclaimIT: {}; a acked {} and held {} unacked at the crash ({} pending under a);"
            + " b processed {} ({} redeliveries, {} entries taken over by XAUTOCLAIM); {} ms",
            publisher.summary(), ackedByA.get(), heldByA.size(), pendingUnderA, deliveredByB.get(),
            redeliveredToB.get(), metricsB.snapshot().claimed(), (System.nanoTime() - t0) / 1_000_000);

        assertEquals(TOTAL, report.sent());
        assertEquals(report.sent(), report.accepted(), publisher.summary());
        assertEquals(0, report.lost());
        assertEquals(0, report.unexpected());
        assertEquals(report.accepted(), report.delivered());
        // b took a's entries over by XAUTOCLAIM, and every message a held unacked reached b
        assertTrue(metricsB.snapshot().claimed() >= pendingUnderA,
            "b claimed " + metricsB.snapshot().claimed() + " of " + pendingUnderA + " left pending by a");
        assertTrue(redeliveredToB.get() >= heldByA.size(),
            "redelivered to b " + redeliveredToB.get() + ", held by a " + heldByA.size());
        assertEquals(0L, redis.server().callLong("XLEN", RedisKeys.deadLetters(CHANNEL)),
            "nothing may be dead-lettered");
        // duplicates only come from a's acks that did not reach Redis before it died
        assertTrue(report.duplicated() <= ackedByA.get(), report::toString);
      } finally {
        kitB.shutdownTestKit();
      }
    }
  }

  /** XPENDING summary: pending count per consumer name. */
  private static Map<String, Long> pendingByConsumer() {
    List<Object> summary = redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION);
    Map<String, Long> out = new LinkedHashMap<>();
    if (summary.size() > 3 && summary.get(3) instanceof List<?> consumers) {
      for (Object c : consumers) {
        List<?> pair = (List<?>) c;
        out.put(String.valueOf(pair.get(0)), Long.parseLong(String.valueOf(pair.get(1))));
      }
    }
    return out;
  }
}
