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
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Redis is killed with SIGKILL in the middle of a publish/consume stream and restarted a second later from its AOF
 * ({@code appendfsync always}, so every write Redis confirmed survives).
 *
 * <p>The publisher keeps publishing with a bounded number in flight; a publish that is not accepted (rejected as
 * UNAVAILABLE, expired, or left without a reply) is published again with the same message id, so the router's
 * dedup tells whether an unconfirmed write had made it after all. The router must reconnect by itself (its
 * connection actor is restarted with backoff by its supervisor), the subscription must resume (reads and acks
 * that failed during the outage are retried on the poll tick, unacked entries are claimed back), and every
 * accepted message must be delivered: lost = 0; duplicates are counted.
 */
class RedisKillRestartIT {
  private static final Logger log = LoggerFactory.getLogger(RedisKillRestartIT.class);
  private static final String CHANNEL = "outage";
  private static final String SUBSCRIPTION = "reader";
  private static final int TOTAL = 5000;
  private static final int MAX_IN_FLIGHT = 64;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.of(() -> RedisServer.builder().appendOnly("always").start())
      .withKit("RedisKillRestartIT");

  @Test
  void everyAcceptedMessageIsDeliveredAcrossARedisKillAndRestart() throws Exception {
    long t0 = System.nanoTime();
    MessageChecker checker = new MessageChecker();
    RouterMetrics metrics = new RouterMetrics();
    ActorRef<RouterCommand> router = redis.kit().spawn(RedisRouter.create(
        RouterTestSupport.settings(redis.server(),
            "node-id = node-k\nchannels.defaults.max-in-flight = " + MAX_IN_FLIGHT),
        metrics), "router");
    AtomicInteger deliveries = new AtomicInteger();
    // while "holding", first attempts are kept unanswered: they are pending in Redis when it is killed
    java.util.concurrent.atomic.AtomicBoolean holding = new java.util.concurrent.atomic.AtomicBoolean();
    java.util.Set<String> held = java.util.concurrent.ConcurrentHashMap.newKeySet();
    ActorRef<Delivery> subscriber = redis.kit()
        .spawn(org.apache.pekko.actor.typed.javadsl.Behaviors.receiveMessage(d -> {
          checker.delivered(d.envelope().id());
          deliveries.incrementAndGet();
          if (holding.get() && d.envelope().attempt() == 1 && held.size() < 20) {
            held.add(d.envelope().id());
          } else {
            d.replyTo().tell(d.ack());
          }
          return org.apache.pekko.actor.typed.javadsl.Behaviors.same();
        }), "subscriber");
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(redis.kit(), router, CHANNEL, SUBSCRIPTION, subscriber,
            io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));
    TestProbe<Object> probe = redis.kit().createTestProbe();

    // 5000 messages at ~500/s, at most 100 awaiting their reply; not-accepted ones are republished (same id)
    try (PacedPublisher publisher = new PacedPublisher("outage-publisher", "k", CHANNEL, TOTAL, 10,
        Duration.ofMillis(20), 100, true, checker,
        r -> RouterTestSupport.publishAsync(redis.kit(), router, r),
        id -> PublishRequest.of(CHANNEL, RouterTestSupport.payload(id, 128)).withMessageId(id))) {
      publisher.start();

      probe.awaitAssert(Duration.ofSeconds(20), () -> {
        assertTrue(publisher.accepted() >= 1500 && deliveries.get() >= 1000,
            () -> publisher.summary() + " deliveries=" + deliveries.get());
        return null;
      });

      holding.set(true);
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertEquals(20, held.size(), "deliveries held unanswered");
        return null;
      });
      // the fault is real: entries are pending (delivered, unacked) in Redis when it dies
      long pendingAtKill = (Long) redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION).get(0);
      assertTrue(pendingAtKill >= held.size(), "pending at the kill: " + pendingAtKill);
      int acceptedBeforeKill = publisher.accepted();
      int deliveredBeforeKill = deliveries.get();
      redis.server().kill9();
      long killedAt = System.nanoTime();
      log.info("redis killed (SIGKILL) after {} accepted, {} delivered", acceptedBeforeKill, deliveredBeforeKill);
      // the outage itself: Redis stays down for about a second, whatever the router does meanwhile
      long downFor = Duration.ofSeconds(1).toNanos() - (System.nanoTime() - killedAt);
      if (downFor > 0) Thread.sleep(downFor / 1_000_000);
      redis.server().restart();
      log.info("redis restarted from its AOF after {} ms; the router must reconnect by itself",
          (System.nanoTime() - killedAt) / 1_000_000);

      // the router's own connections come back: 3 of them, no more
      probe.awaitAssert(Duration.ofSeconds(15), () -> {
        assertEquals(RouterTestSupport.connectionsPerInstance(), redis.server().clientCount("rr:"),
            () -> "clients: " + redis.server().clients());
        return null;
      });
      int acceptedAtReconnect = publisher.accepted();
      holding.set(false);

      publisher.awaitDone(probe, Duration.ofSeconds(40));
      RouterTestSupport.awaitNoneLost(probe, checker, Duration.ofSeconds(30));
      RouterTestSupport.awaitNothingPending(probe, redis.server(), CHANNEL, SUBSCRIPTION, Duration.ofSeconds(15));

      MessageChecker.Report report = checker.report();
      checker.logReport("RedisKillRestartIT");
      long streamLength = redis.server().callLong("XLEN", RedisKeys.stream(CHANNEL));
      log.info("RedisKillRestartIT: {}; deliveries={} accepted before kill={}, at reconnect={}; stream length={};"
          + " router: publishAccepted={} publishDuplicates={} publishRejected={} claimed={} redis"
          + " clients rr:*={}; {} ms",
          publisher.summary(), deliveries.get(), acceptedBeforeKill, acceptedAtReconnect, streamLength,
          metrics.snapshot().publishAccepted(), metrics.snapshot().publishDuplicates(),
          metrics.snapshot().publishRejected(),
          metrics.snapshot().claimed(), redis.server().clientCount("rr:"), (System.nanoTime() - t0) / 1_000_000);

      assertEquals(TOTAL, report.sent());
      // once Redis is back, every republished message is accepted too
      assertEquals(TOTAL, report.accepted(), publisher::summary);
      assertEquals(0, report.lost());
      assertEquals(0, report.unexpected());
      assertEquals(TOTAL, report.delivered());
      // duplicates are bounded by what was unsettled when Redis died: entries in flight (at most the in-flight
      // window) or acked with their XACK still queued or lost (as many again)
      assertTrue(report.duplicated() <= 2L * MAX_IN_FLIGHT, report::toString);
      // the kill hit the middle of the stream, and messages were accepted after the router reconnected
      assertTrue(acceptedBeforeKill < TOTAL && acceptedAtReconnect < TOTAL, publisher::summary);
      // dedup: one stream entry per message id, whatever was republished
      assertEquals(TOTAL, streamLength, "stream entries vs message ids");
      assertEquals(0L, redis.server().callLong("XLEN", RedisKeys.deadLetters(CHANNEL)), "nothing may be dead-lettered");
      // what was pending across the kill was delivered again (and then acked: nothing pending above)
      for (String id : held) {
        assertTrue(checker.deliveryCount(id) >= 2, id + " held across the kill, delivered " + checker.deliveryCount(id)
            + " time(s)");
      }
      log.info("RedisKillRestartIT: {} entries pending at the kill ({} held unanswered), all delivered again",
          pendingAtKill, held.size());
      assertEquals(RouterTestSupport.connectionsPerInstance(), redis.server().clientCount("rr:"),
          () -> "clients: " + redis.server().clients());
    }
  }
}
