package io.redisrouter.router.fault;

import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.DeadLetterPage;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.HashMap;
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
 * An entry a node read but never handed to a subscriber does not burn an attempt, even when that node crashes.
 *
 * <p>Node a reads 20 entries for a subscriber with prefetch 1 that never answers: one reaches the subscriber, 19
 * wait in its gate. With {@code max-attempts = 1}, a node taking a's entries over after a crash may give each entry
 * only the attempt it never had. Before, Redis counted a delivery for every entry a had read, so the survivor found
 * all 20 at their last attempt and dead-lettered them, 19 of them without any subscriber ever seeing them. Now the
 * 19 waiting ones hold a delivery count of 0 in Redis (lowered right after the read, kept true by the lease
 * renewals): node b delivers those 19 as first attempts, and dead-letters only the one a's subscriber had.
 */
class UnhandedAttemptIT {
  private static final Logger log = LoggerFactory.getLogger(UnhandedAttemptIT.class);
  private static final String CHANNEL = "unhanded";
  private static final String SUBSCRIPTION = "workers";
  private static final int SENT = 20;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  private static final String CONFIG = """
      channels.defaults.max-in-flight = 50
      channels.defaults.ack-timeout = 1500ms
      channels.defaults.max-attempts = 1
      """;

  /** Delivery counts of the pending entries, by entry id (XPENDING's extended form). */
  private static Map<String, Long> deliveryCounts() {
    Map<String, Long> counts = new HashMap<>();
    for (Object row : redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION, "-", "+", "1000")) {
      List<?> r = (List<?>) row;
      counts.put(String.valueOf(r.get(0)), (Long) r.get(3));
    }
    return counts;
  }

  @Test
  void entriesWaitingForABusySubscriberKeepTheirAttemptAcrossACrash() throws Exception {
    ActorTestKit kitA = ActorTestKit.create("unhanded-a");
    ActorTestKit kitB = ActorTestKit.create("unhanded-b");
    try {
      ActorRef<RouterCommand> routerA = kitA.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(),
          "node-id = node-a\n" + CONFIG)), "router");
      List<String> seenByA = new CopyOnWriteArrayList<>();
      ActorRef<Delivery> subA = kitA.spawn(Behaviors.receiveMessage(d -> {
        seenByA.add(d.envelope().id()); // never answers: busy with it until the crash
        return Behaviors.same();
      }), "sub-a");
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(kitA, routerA, CHANNEL, SUBSCRIPTION, subA, 1));
      Set<String> sent = new HashSet<>();
      for (int i = 0; i < SENT; i++) {
        String id = "m-" + i;
        PublishReply r = RouterTestSupport.publish(kitA, routerA, PublishRequest.of(CHANNEL,
            RouterTestSupport.payload(id, 64)).withMessageId(id).withTimeToLive(Duration.ofSeconds(60)));
        assertInstanceOf(PublishReply.Accepted.class, r, "publish " + id);
        sent.add(id);
      }
      // the fault's precondition: a read all 20 and its subscriber has one of them
      TestProbe<Object> probe = kitA.createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(SENT, deliveryCounts().size(), "entries pending for a");
        assertEquals(1, seenByA.size(), "a's subscriber has exactly its prefetch: " + seenByA);
        return null;
      });
      Map<String, Long> countsAtCrash = deliveryCounts(); // logged: the mechanism (1 counted, 19 at 0)
      String handedByA = seenByA.get(0);

      kitA.shutdownTestKit(); // the crash: a's 20 entries stay pending under its consumer, unanswered
      assertEquals((long) SENT, redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION).get(0),
          "a left its entries pending");

      Map<String, Integer> attemptsSeenByB = new ConcurrentHashMap<>();
      Map<String, Integer> timesSeenByB = new ConcurrentHashMap<>();
      ActorRef<RouterCommand> routerB = kitB.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(),
          "node-id = node-b\n" + CONFIG)), "router");
      ActorRef<Delivery> subB = kitB.spawn(Behaviors.receiveMessage(d -> {
        attemptsSeenByB.put(d.envelope().id(), d.envelope().attempt());
        timesSeenByB.merge(d.envelope().id(), 1, Integer::sum);
        d.replyTo().tell(d.ack());
        return Behaviors.same();
      }), "sub-b");
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(kitB, routerB, CHANNEL, SUBSCRIPTION, subB, 1));

      TestProbe<DeadLetterPage> dl = kitB.createTestProbe();
      TestProbe<Object> probeB = kitB.createTestProbe();
      Map<String, DeadLetter.Reason> deadReasons = new HashMap<>();
      probeB.awaitAssert(Duration.ofSeconds(15), () -> {
        routerB.tell(new RouterCommand.ReadDeadLetters(CHANNEL, null, 100, dl.getRef()));
        deadReasons.clear();
        for (DeadLetter d : dl.receiveMessage(Duration.ofSeconds(5)).items()) {
          deadReasons.put(d.envelope() == null ? "?" : d.envelope().id(), d.reason());
        }
        assertEquals(SENT, attemptsSeenByB.size() + deadReasons.size(),
            () -> "delivered by b " + attemptsSeenByB.keySet() + ", dead-lettered " + deadReasons);
        assertEquals(0L, redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION).get(0));
        return null;
      });
      Set<String> accounted = new HashSet<>(attemptsSeenByB.keySet());
      accounted.addAll(deadReasons.keySet());
      Set<String> lost = new HashSet<>(sent);
      lost.removeAll(accounted);
      long duplicated = timesSeenByB.values().stream().filter(n -> n > 1).count();
      log.info("unhanded attempts: sent={} handed by a=1 delivered by b={} (attempts {}) dead-lettered={} {}"
          + " lost={} duplicated={}; delivery counts in Redis at the crash {}", SENT, attemptsSeenByB.size(),
          new HashSet<>(attemptsSeenByB.values()), deadReasons.size(), deadReasons, lost.size(), duplicated,
          new java.util.TreeMap<>(countsAtCrash).values());
      assertEquals(Set.of(), lost, "lost");
      assertEquals(0, duplicated, "delivered twice by b");
      assertEquals(Map.of(handedByA, DeadLetter.MAX_ATTEMPTS), deadReasons,
          "only the entry a's subscriber had used its one attempt");
      assertEquals(SENT - 1, attemptsSeenByB.size(), "the 19 that never reached a subscriber are delivered");
      assertTrue(attemptsSeenByB.values().stream().allMatch(a -> a == 1), "as first attempts: " + attemptsSeenByB);
    } finally {
      kitB.shutdownTestKit();
    }
  }
}
