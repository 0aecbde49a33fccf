package io.redisrouter.router.fault;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.LogCapture;
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
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Redis closes the router's pub/sub connection (with one connection per instance: its only connection) because the
 * connection's output buffer passed {@code client-output-buffer-limit pubsub}: the limit is lowered to
 * {@code pubsub 64kb 32kb 1} and a 200 KB broadcast is published, which Redis must queue for the router in one piece
 * (a router that reads too slowly under a broadcast flood hits the same check with the default 32 MB / 8 MB).
 *
 * <p>Shown: the kill happened (Redis's log line, a new client id for the router). Judged: the router reports it (the
 * {@code broadcast_resubscribes} counter and a WARN naming the instance, the channel and the limit), re-subscribes
 * (a broadcast published after the WARN reaches the subscriber), and the reliable channel's publishes that run all
 * along are each answered within their deadline plus 1 s, the accepted ones all delivered (lost = 0).
 */
class BroadcastOutputBufferIT {
  private static final Logger log = LoggerFactory.getLogger(BroadcastOutputBufferIT.class);
  private static final String BROADCAST = "bc.flood";
  private static final String RELIABLE = "rel.steady";
  private static final Duration TTL = Duration.ofSeconds(2);

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.of(RedisServer::start).withKit("BroadcastOutputBufferIT");

  @Test
  void aPubSubConnectionClosedForItsOutputBufferIsReportedAndResubscribedWhileReliablePublishesGoOn()
      throws Exception {
    long t0 = System.nanoTime();
    RedisServer server = redis.server();
    RouterMetrics metrics = new RouterMetrics();
    ActorRef<RouterCommand> router = redis.kit().spawn(RedisRouter.create(RouterTestSupport.settings(server,
        "node-id = obl\nchannels.overrides.\"" + BROADCAST + "\".mode = broadcast"), metrics), "router");
    TestProbe<Object> probe = redis.kit().createTestProbe();

    Set<String> broadcastsSeen = ConcurrentHashMap.newKeySet();
    ActorRef<Delivery> bcSubscriber = redis.kit().spawn(RouterTestSupport.acking(
        d -> broadcastsSeen.add(d.envelope().id())), "broadcast-subscriber");
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(redis.kit(), router, BROADCAST, "watchers", bcSubscriber));
    MessageChecker checker = new MessageChecker();
    ActorRef<Delivery> relSubscriber = redis.kit().spawn(RouterTestSupport.acking(
        d -> checker.delivered(d.envelope().id())), "reliable-subscriber");
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(redis.kit(), router, RELIABLE, "readers", relSubscriber, 64));

    // steady state: a broadcast reaches the subscriber
    awaitBroadcast(router, probe, broadcastsSeen, "pre-1");

    // reliable publishes all along: 100 a second, 2 s to live each; how long each answer took
    Map<String, AtomicInteger> outcomes = new ConcurrentHashMap<>();
    ConcurrentLinkedQueue<Long> answerMs = new ConcurrentLinkedQueue<>();
    AtomicInteger seq = new AtomicInteger();
    AtomicInteger inFlight = new AtomicInteger();
    ScheduledExecutorService load = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "obl-load");
      t.setDaemon(true);
      return t;
    });
    try (LogCapture logs = LogCapture.start()) {
      load.scheduleAtFixedRate(() -> {
        String id = "r-" + seq.incrementAndGet();
        checker.sent(id);
        long sentAt = System.nanoTime();
        inFlight.incrementAndGet();
        RouterTestSupport.publishAsync(redis.kit(), router, PublishRequest.of(RELIABLE,
            RouterTestSupport.payload(id, 256)).withMessageId(id).withTimeToLive(TTL)).whenComplete((r, e) -> {
              inFlight.decrementAndGet();
              answerMs.add((System.nanoTime() - sentAt) / 1_000_000);
              String outcome = r == null
                  ? "no-answer"
                  : r instanceof PublishReply.Rejected j
                      ? j.reason().code()
                      : r instanceof PublishReply.Expired ? "expired" : "accepted";
              outcomes.computeIfAbsent(outcome, k -> new AtomicInteger()).incrementAndGet();
              if (r instanceof PublishReply.Accepted) checker.acked(id);
            });
      }, 0, 10, TimeUnit.MILLISECONDS);
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(checker.report().delivered() >= 100, "reliable steady state");
        return null;
      });

      // the fault: a pub/sub output buffer limit far below one message
      long clientBefore = routerClientId(server);
      server.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 64kb 32kb 1");
      PublishReply big = RouterTestSupport.publish(redis.kit(), router,
          PublishRequest.of(BROADCAST, RouterTestSupport.payload("big-1", 200 * 1024)).withMessageId("big-1")
              .withTimeToLive(Duration.ofSeconds(5)));
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(server.logTail(200).contains("overcoming of output buffer limits"), "redis closed no client");
        long now = routerClientId(server);
        assertTrue(now > 0 && now != clientBefore, "the router's connection was not replaced: " + now);
        return null;
      });
      long killedAt = System.nanoTime();

      // judged: reported (counter, WARN naming the instance, the channel and the limit), re-subscribed
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(metrics.snapshot().broadcastResubscribes() >= 1, "broadcast_resubscribes");
        assertEquals(1, logs.linesContaining("broadcast messages published meanwhile").size(),
            () -> "WARNs: " + logs.linesContaining("pub/sub connection"));
        return null;
      });
      String warn = logs.linesContaining("broadcast messages published meanwhile").get(0);
      for (String part : List.of("WARN", "'default'", BROADCAST, "pubsub 65536 32768 1", "missed")) {
        assertTrue(warn.contains(part), () -> "'" + part + "' missing in: " + warn);
      }
      long resubscribedMs = (System.nanoTime() - killedAt) / 1_000_000;
      awaitBroadcast(router, probe, broadcastsSeen, "post-1");

      // the reliable load goes on for a while after the reconnect, then drains
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(outcomes.getOrDefault("accepted", new AtomicInteger()).get() >= 300
            && System.nanoTime() - killedAt > Duration.ofSeconds(2).toNanos(), outcomes::toString);
        return null;
      });
      load.shutdownNow();
      probe.awaitAssert(TTL.plusSeconds(2), () -> {
        assertEquals(0, inFlight.get(), "reliable publishes without an answer");
        return null;
      });
      // a message accepted just before the reconnect whose read was lost with the connection is claimed back after
      // its ack timeout; if its deadline passed meanwhile it is dead-lettered as expired: accounted for, not lost
      probe.awaitAssert(Duration.ofSeconds(15), () -> {
        DeadLetters.reasons(server, RELIABLE).forEach((id, reason) -> {
          assertEquals(io.redisrouter.protocol.DeadLetter.EXPIRED.code(), reason, id + " dead-lettered");
          checker.deadLettered(id);
        });
        assertEquals(Set.of(), checker.lostIds(), "lost");
        return null;
      });
      MessageChecker.Report report = checker.report();
      long slowest = answerMs.stream().mapToLong(Long::longValue).max().orElse(0);
      log.info("BroadcastOutputBufferIT: reliable sent={} accepted={} outcomes={} delivered={} dead-lettered expired={}"
          + " lost={} duplicated={}"
          + " slowest answer={} ms; big broadcast answered {}; broadcasts seen={}; broadcast_resubscribes={};"
          + " re-subscribed {} ms after the kill; {} ms", report.sent(), report.accepted(), outcomes,
          report.delivered(),
          report.deadLettered(), report.lost(), report.duplicated(), slowest, big.getClass().getSimpleName(),
          broadcastsSeen,
          metrics.snapshot().broadcastResubscribes(), resubscribedMs, (System.nanoTime() - t0) / 1_000_000);

      assertEquals(0, report.lost(), () -> "lost " + checker.lostIds());
      assertEquals(0, report.unexpected());
      assertTrue(!outcomes.containsKey("no-answer"), outcomes::toString);
      assertTrue(slowest <= TTL.plusSeconds(1).toMillis(), "slowest answer " + slowest + " ms");
      assertTrue(broadcastsSeen.containsAll(Set.of("pre-1", "post-1")), broadcastsSeen::toString);
    } finally {
      load.shutdownNow();
      server.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60");
    }
  }

  /** Publishes broadcast {@code id} and waits until the subscriber got it. */
  private static void awaitBroadcast(ActorRef<RouterCommand> router, TestProbe<Object> probe, Set<String> seen,
      String id) {
    assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(redis.kit(), router,
        PublishRequest.of(BROADCAST, RouterTestSupport.payload(id, 64)).withMessageId(id)));
    probe.awaitAssert(Duration.ofSeconds(5), () -> {
      assertTrue(seen.contains(id), () -> id + " not received; seen " + seen);
      return null;
    });
  }

  /** The id of the router's pub/sub connection (named rr:obl:main, or rr:obl:sub with 3 connections), or -1. */
  private static long routerClientId(RedisServer server) {
    return server.clients().stream()
        .filter(c -> c.getOrDefault("name", "").startsWith("rr:obl:main")
            || c.getOrDefault("name", "").startsWith("rr:obl:sub"))
        .mapToLong(c -> Long.parseLong(c.get("id"))).findFirst().orElse(-1);
  }
}
