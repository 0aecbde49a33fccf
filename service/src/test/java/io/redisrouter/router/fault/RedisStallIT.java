package io.redisrouter.router.fault;

import io.redisrouter.router.http.ServiceExtension;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.http.HttpTestSupport;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Redis that stops answering without closing its sockets: stopped with SIGSTOP for 20 s, or paused with
 * {@code CLIENT PAUSE}; and a Redis that closes the router's connections every second for 30 s.
 *
 * <p>Under a steady publish load (100 messages a second, 2 s time to live each) with an acking subscriber:
 * {@code /health/ready} turns 503 within twice the command timeout (the health check's PINGs go unanswered), every
 * publish gets an answer within its deadline plus one second (no future waits for a Redis that does not answer),
 * and once Redis answers again the node recovers by itself, with its connections (1, or 3 split) and lost = 0 for the
 * accepted messages.
 */
class RedisStallIT {
  private static final Logger log = LoggerFactory.getLogger(RedisStallIT.class);
  private static final Duration TTL = Duration.ofSeconds(2);
  /** The default command timeout (redis-router.redis.instances.default.command-timeout). */
  private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(5);
  private static final String NODE = "stall-node";

  static MessageChecker checker;

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("redis-stall").config("""
      redis-router.node-id = stall-node
      redis-router.channels.overrides.bcast { mode = broadcast }
      """);

  @AfterEach
  void redisRuns() {
    node.redis().resume(); // whatever a failed test left behind
  }

  /** Publishes 100 per second with a 2 s time to live; records how long each answer took. */
  private PacedPublisher publisher(String channel, String prefix, int total, ConcurrentLinkedQueue<Long> answerMs,
      AtomicLong late) {
    ActorRef<RouterCommand> router = node.service().runtime().router();
    return new PacedPublisher("stall-publisher-" + prefix, prefix, channel, total, 1, Duration.ofMillis(10), 1000,
        false, checker, r -> {
          long t0 = System.nanoTime();
          CompletionStage<PublishReply> f = RouterTestSupport.publishAsync(node.kit(), router, r);
          return f.whenComplete((reply, err) -> {
            long ms = (System.nanoTime() - t0) / 1_000_000;
            answerMs.add(ms);
            if (ms > TTL.plusSeconds(1).toMillis()) late.incrementAndGet();
          });
        },
        id -> PublishRequest.of(channel, RouterTestSupport.payload(id, 64)).withMessageId(id).withTimeToLive(TTL));
  }

  private void subscribe(String channel) {
    ActorRef<Delivery> sub = node.kit().spawn(RouterTestSupport.acking(d -> checker.delivered(d.envelope().id())));
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(node.kit(), node.service().runtime().router(), channel, "readers", sub));
  }

  /**
   * Marks the accepted messages that the dead-letter stream holds as accounted for (a message accepted just before
   * a stall may expire before it can be delivered: it must then be dead-lettered as expired, never vanish); returns
   * the ids still lost.
   */
  private static java.util.Set<String> accountFor(String channel) {
    DeadLetters.reasons(node.redis(), channel).forEach((id, reason) -> {
      assertEquals(io.redisrouter.protocol.DeadLetter.EXPIRED.code(), reason,
          () -> id + " dead-lettered for another reason than its deadline");
      checker.deadLettered(id);
    });
    return checker.lostIds();
  }

  private static int ready() throws Exception {
    return HttpTestSupport.get(node.service(), "/health/ready").statusCode();
  }

  /** Waits (polling every 50 ms) until readiness answers {@code status}; returns when, in ms since {@code t0}. */
  private static long awaitReady(int status, long t0, Duration within) throws Exception {
    long deadline = System.nanoTime() + within.toNanos();
    while (ready() != status) {
      assertTrue(System.nanoTime() < deadline, "/health/ready did not answer " + status + " within " + within);
      Thread.sleep(50); // polling a condition with a deadline
    }
    return (System.nanoTime() - t0) / 1_000_000;
  }

  private void stallAndRecover(String name, Runnable stall, Duration stalledFor, Runnable end) throws Exception {
    checker = new MessageChecker();
    String channel = "stall-" + name;
    subscribe(channel);
    ConcurrentLinkedQueue<Long> answerMs = new ConcurrentLinkedQueue<>();
    AtomicLong late = new AtomicLong();
    int total = (int) (stalledFor.toSeconds() + 8) * 100;
    try (PacedPublisher publisher = publisher(channel, name + "-", total, answerMs, late)) {
      publisher.start();
      TestProbe<Object> probe = node.kit().createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(checker.report().delivered() >= 100, "steady state before the stall");
        return null;
      });
      assertEquals(200, ready());

      long t0 = System.nanoTime();
      stall.run();
      long downMs = awaitReady(503, t0, COMMAND_TIMEOUT.multipliedBy(2));
      long rest = stalledFor.toMillis() - (System.nanoTime() - t0) / 1_000_000;
      if (rest > 0) Thread.sleep(rest); // the stall lasts its full length
      end.run();
      long t1 = System.nanoTime();
      long upMs = awaitReady(200, t1, Duration.ofSeconds(20));

      publisher.awaitDone(probe, Duration.ofSeconds(30));
      probe.awaitAssert(Duration.ofSeconds(30), () -> {
        assertEquals(0, accountFor(channel).size(), () -> "lost " + checker.lostIds());
        return null;
      });
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(RouterTestSupport.connectionsPerInstance(), node.redis().clientCount("rr:" + NODE + ":"),
            () -> "router connections: " + node.redis().clients());
        assertEquals(RouterTestSupport.connectionsPerInstance(),
            node.service().runtime().handles().get("default").openConnections(), "connections metric");
        return null;
      });
      long slowest = answerMs.stream().mapToLong(Long::longValue).max().orElse(0);
      MessageChecker.Report report = checker.report();
      log.info("{}: readiness 503 after {} ms, 200 again {} ms after the stall ended; publishes: {}; slowest answer"
          + " {} ms ({} later than the deadline + 1 s); {}", name, downMs, upMs, publisher.summary(), slowest,
          late.get(), report);
      // the fault was seen: publishes were refused or expired while Redis did not answer
      assertTrue(publisher.rejectedUnavailable.sum() + publisher.expired.sum() > 0, publisher.summary());
      // readiness: not before the health check could miss its PINGs (2 intervals), within twice the command timeout
      assertTrue(downMs >= 1500, "readiness 503 after " + downMs + " ms: sooner than the health check can tell");
      assertEquals(0, publisher.noReply.sum(), "publishes without an answer");
      assertEquals(0, late.get(), "publishes answered later than their deadline + 1 s (slowest " + slowest + " ms)");
      assertEquals(0, report.lost(), "lost");
    }
  }

  @Test
  void sigstopFor20Seconds() throws Exception {
    try (LogCapture logs = LogCapture.start()) {
      stallAndRecover("sigstop", node.redis()::pause, Duration.ofSeconds(20), node.redis()::resume);
      assertTrue(logs.linesContaining("no answer to PING").size() > 0, "the health check found the stall");
    }
  }

  @Test
  void clientPauseFor10Seconds() throws Exception {
    try (LogCapture logs = LogCapture.start()) {
      // CLIENT PAUSE ALL: every client's commands (PING included) wait until it ends
      stallAndRecover("pause", () -> node.redis().call("CLIENT", "PAUSE", "10000"), Duration.ofSeconds(10), () -> {});
      assertTrue(logs.linesContaining("no answer to PING").size() > 0, "the health check found the pause");
    }
  }

  @Test
  void clientKillEverySecondFor30Seconds() throws Exception {
    checker = new MessageChecker();
    String channel = "stall-kill";
    subscribe(channel);
    MessageChecker broadcastSeen = new MessageChecker();
    ActorRef<Delivery> bsub = node.kit()
        .spawn(RouterTestSupport.acking(d -> broadcastSeen.delivered(d.envelope().id())));
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(node.kit(), node.service().runtime().router(), "bcast", "watchers", bsub));
    ConcurrentLinkedQueue<Long> answerMs = new ConcurrentLinkedQueue<>();
    AtomicLong late = new AtomicLong();
    int kills = 0;
    try (LogCapture logs = LogCapture.start();
        PacedPublisher publisher = publisher(channel, "kill-", 3300, answerMs, late)) {
      publisher.start();
      long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (System.nanoTime() < end) {
        for (Map<String, String> c : node.redis().clients()) {
          String name = c.getOrDefault("name", "");
          if (name.startsWith("rr:" + NODE + ":")) {
            node.redis().call("CLIENT", "KILL", "ID", c.get("id"));
            kills++;
          }
        }
        Thread.sleep(1000); // the fault's own pace: one round of kills per second
      }
      awaitReady(200, System.nanoTime(), Duration.ofSeconds(20));
      TestProbe<Object> probe = node.kit().createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(30), () -> {
        assertTrue(publisher.done(), publisher.summary());
        assertEquals(0, accountFor(channel).size(), () -> "lost " + checker.lostIds());
        return null;
      });
      // broadcast subscriptions are restored: a message published now reaches the subscriber
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        String id = "b-" + System.nanoTime();
        broadcastSeen.sent(id);
        PublishReply r = RouterTestSupport.publish(node.kit(), node.service().runtime().router(),
            PublishRequest.of("bcast", RouterTestSupport.payload(id, 16)).withMessageId(id));
        assertInstanceOf(PublishReply.Accepted.class, r);
        TestProbe<Object> p = node.kit().createTestProbe();
        p.awaitAssert(Duration.ofSeconds(1), () -> {
          assertEquals(1, broadcastSeen.deliveryCount(id), "broadcast after the kills");
          return null;
        });
        return null;
      });
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(RouterTestSupport.connectionsPerInstance(), node.redis().clientCount("rr:" + NODE + ":"),
            () -> "router connections: " + node.redis().clients());
        return null;
      });
      int lostSeen = logs.linesContaining("connection lost").size();
      MessageChecker.Report report = checker.report();
      log.info("client kill: {} connections killed in 30 s, {} 'connection lost' lines; publishes: {}; {}", kills,
          lostSeen, publisher.summary(), report);
      // a round of kills finds the node's connections (1, or 3 in the split mode) unless it is reconnecting
      assertTrue(kills >= 10 * RouterTestSupport.connectionsPerInstance() && lostSeen >= 10,
          "the kills happened and were seen: " + kills + " / " + lostSeen);
      assertTrue(report.accepted() > 0, "messages were accepted between the kills");
      assertEquals(0, report.lost(), "lost");
      assertEquals(0, publisher.noReply.sum(), "publishes without an answer");
    }
  }
}
