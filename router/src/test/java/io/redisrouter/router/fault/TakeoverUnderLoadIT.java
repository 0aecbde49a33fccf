package io.redisrouter.router.fault;

import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.DeadLetterPage;
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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A crashed node's pending entries are taken over while the survivor is overloaded by fresh traffic.
 *
 * <p>Node a reads 500 messages (20 s time to live) and dies without acking them. Node b's subscriber handles
 * about 100 messages a second (5 in flight, 50 ms each) while a publisher sends fresh messages at twice that. Before
 * claims had priority, every ack freed room that the next read took at once, the claim tick found no room, and a's
 * entries expired into the dead letters. Now a due claim takes the freed room first: all 500 are delivered before
 * their deadline, none is dead-lettered; the fresh messages wait (and expire later, counted, if the overload lasts).
 */
class TakeoverUnderLoadIT {
  private static final Logger log = LoggerFactory.getLogger(TakeoverUnderLoadIT.class);
  private static final String CHANNEL = "takeover";
  private static final String SUBSCRIPTION = "workers";
  private static final int CRASHED = 500;
  private static final Duration TTL = Duration.ofSeconds(20);

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  private record AckLater(Delivery d) {}

  /** Handles one delivery at a time slot: acks each {@code after} it arrived; records who got what. */
  static Behavior<Object> slow(Duration after, Set<String> crashedDone, AtomicInteger freshDone) {
    return Behaviors.withTimers(timers -> Behaviors.receive(Object.class)
        .onMessage(Delivery.class, d -> {
          timers.startSingleTimer(d.deliveryId(), new AckLater(d), after);
          return Behaviors.same();
        })
        .onMessage(AckLater.class, a -> {
          String id = a.d().envelope().id();
          if (id.startsWith("old-")) crashedDone.add(id);
          else
            freshDone.incrementAndGet();
          a.d().replyTo().tell(a.d().ack());
          return Behaviors.same();
        })
        .build());
  }

  @Test
  void aCrashedNodesEntriesAreDeliveredWhileTheSurvivorRunsAtTwiceItsCapacity() throws Exception {
    ActorTestKit kitA = ActorTestKit.create("takeover-a");
    ActorTestKit kitB = ActorTestKit.create("takeover-b");
    try {
      ActorRef<RouterCommand> routerA = kitA.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(), """
          node-id = node-a
          channels.defaults.max-in-flight = 500
          channels.defaults.ack-timeout = 2s
          """)), "router");
      AtomicInteger heldByA = new AtomicInteger();
      ActorRef<Delivery> subA = kitA.spawn(Behaviors.receiveMessage(d -> {
        heldByA.incrementAndGet();
        return Behaviors.same();
      }), "sub-a");
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(kitA, routerA, CHANNEL, SUBSCRIPTION, subA,
              io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));
      for (int i = 0; i < CRASHED; i++) {
        routerA.tell(new RouterCommand.Publish(PublishRequest.of(CHANNEL, RouterTestSupport.payload("old-" + i, 64))
            .withMessageId("old-" + i).withTimeToLive(TTL), kitA.system().ignoreRef()));
      }
      TestProbe<Object> probeA = kitA.createTestProbe();
      probeA.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(CRASHED, heldByA.get());
        return null;
      });
      kitA.shutdownTestKit(); // crash: the 500 stay pending under a's consumer
      long crashedAt = System.nanoTime();
      assertEquals((long) CRASHED, redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION).get(0),
          "a left its entries pending");

      RouterMetrics metricsB = new RouterMetrics();
      ActorRef<RouterCommand> routerB = kitB.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(), """
          node-id = node-b
          channels.defaults.max-in-flight = 5
          channels.defaults.ack-timeout = 2s
          """), metricsB), "router");
      Set<String> crashedDone = ConcurrentHashMap.newKeySet();
      AtomicInteger freshDone = new AtomicInteger();
      ActorRef<Delivery> subB = kitB.spawn(slow(Duration.ofMillis(50), crashedDone, freshDone), "sub-b").narrow();
      MessageChecker fresh = new MessageChecker();
      // fresh traffic at ~200/s, twice what b's subscriber handles (5 in flight x 50 ms = 100/s)
      try (PacedPublisher publisher = new PacedPublisher("takeover-publisher", "new-", CHANNEL, 3000, 2,
          Duration.ofMillis(10), 100, false, fresh,
          r -> RouterTestSupport.publishAsync(kitB, routerB, r),
          id -> PublishRequest.of(CHANNEL, RouterTestSupport.payload(id, 64)).withMessageId(id).withTimeToLive(TTL))) {
        publisher.start();
        // b's backlog of fresh messages builds up first, then it subscribes
        TestProbe<Object> probe = kitB.createTestProbe();
        probe.awaitAssert(Duration.ofSeconds(10), () -> {
          assertTrue(publisher.accepted() >= 200, "fresh backlog " + publisher.accepted());
          return null;
        });
        // reads and claims share one max-in-flight budget: sampled every 2 ms while b takes over
        java.util.concurrent.atomic.AtomicLong peakInFlight = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.ScheduledExecutorService sampler = java.util.concurrent.Executors
            .newSingleThreadScheduledExecutor();
        sampler.scheduleAtFixedRate(() -> peakInFlight.accumulateAndGet(metricsB.snapshot().inFlight(), Math::max),
            0, 2, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertInstanceOf(SubscribeReply.Subscribed.class,
            RouterTestSupport.subscribe(kitB, routerB, CHANNEL, SUBSCRIPTION, subB,
                io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));
        probe.awaitAssert(TTL, () -> {
          assertEquals(CRASHED, crashedDone.size(), () -> "crashed node's entries done: " + crashedDone.size()
              + "; fresh done " + freshDone.get() + ", published " + publisher.accepted());
          return null;
        });
        long doneMs = (System.nanoTime() - crashedAt) / 1_000_000;
        sampler.shutdownNow();
        // b ran at twice its capacity all along: fresh messages kept arriving faster than it handled them
        int backlog = publisher.accepted() - freshDone.get();
        TestProbe<DeadLetterPage> dl = kitB.createTestProbe();
        routerB.tell(new RouterCommand.ReadDeadLetters(CHANNEL, null, 1000, dl.getRef()));
        long oldDead = dl.receiveMessage(Duration.ofSeconds(5)).items().stream()
            .map(DeadLetter::envelope).filter(e -> e != null && e.id().startsWith("old-")).count();
        log.info("take-over under load: crashed node's {} entries delivered {} ms after the crash (time to live {}"
            + " s); dead-lettered {}; claimed by b {}; fresh published {}, fresh done {}, fresh backlog {}",
            CRASHED, doneMs, TTL.toSeconds(), oldDead, metricsB.snapshot().claimed(), publisher.accepted(),
            freshDone.get(), backlog);
        assertTrue(backlog > 100, "the survivor must be overloaded while it takes over: backlog " + backlog);
        assertEquals(0, oldDead, "entries of the crashed node dead-lettered");
        assertTrue(metricsB.snapshot().claimed() >= CRASHED, "b claimed them: " + metricsB.snapshot().claimed());
        log.info("take-over under load: peak in flight on b {} (max-in-flight 5)", peakInFlight.get());
        assertTrue(peakInFlight.get() > 0, "the sampler saw b hold entries");
        assertTrue(peakInFlight.get() <= 5, "b held more than max-in-flight = 5: " + peakInFlight.get());
      }
    } finally {
      kitB.shutdownTestKit();
    }
  }
}
