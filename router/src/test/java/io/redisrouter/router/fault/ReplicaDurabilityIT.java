package io.redisrouter.router.fault;

import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import io.redisrouter.testkit.TcpProxy;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code durability = replica(N)}: a publish is answered accepted only once a {@code WAIT} confirmed it on N replicas,
 * so a primary that dies right after accepting loses nothing its promoted replica should have.
 *
 * <p>Each test starts its own primary and a replica ({@code --replicaof}) whose replication link runs through a
 * {@link TcpProxy} (so that a test can hold the replication stream back and cut it), and waits until the link is up.
 * <ul>
 *   <li>With {@code replica(1)}, a steady publisher (64 in flight) is running when the primary gets SIGKILL right
 *   after the 1,500th acceptance; the replica is promoted ({@code REPLICAOF NO ONE}) and every accepted message id
 *   must be in its stream: lost = 0.</li>
 *   <li>The contrast that shows the check can fail: the default {@code durability = primary}, the same kill, with the
 *   replication stream held back at the proxy: the accepted messages are missing from the promoted replica.</li>
 *   <li>With {@code replica(1)} and the replica stopped (SIGSTOP), publishes are answered rejected
 *   {@code not-replicated}, after the channel's {@code durability-timeout} and before (max-batches-in-flight + 1)
 *   times it plus a margin (WAITs go one at a time);
 *   they are on the primary (the reject says so), and once the replica is back the same ids are accepted
 *   (deduplicated). The batching: fewer {@code WAIT}s than messages.</li>
 * </ul>
 */
class ReplicaDurabilityIT {
  private static final Logger log = LoggerFactory.getLogger(ReplicaDurabilityIT.class);
  private static final String DURABLE = "durable";
  private static final String PLAIN = "plain";
  private static final Duration DURABILITY_TIMEOUT = Duration.ofMillis(500);
  private static final int MAX_IN_FLIGHT = 64;

  private static ActorTestKit kit;
  private RedisServer primary;
  private TcpProxy link;
  private RedisServer replica;
  private ActorRef<RouterCommand> router;

  @BeforeAll
  static void startKit() {
    kit = ActorTestKit.create("ReplicaDurabilityIT");
  }

  @AfterAll
  static void stopKit() {
    kit.shutdownTestKit();
  }

  @AfterEach
  void stopAll() {
    if (router != null) kit.stop(router);
    if (replica != null) {
      if (replica.isAlive()) {
        try {
          replica.resume();
        } catch (IllegalStateException notRunning) {
          // it is gone already
        }
      }
      replica.close();
    }
    if (link != null) link.close();
    if (primary != null) primary.close();
  }

  /** A primary, and a replica of it whose replication link runs through {@link #link}; returns once in sync. */
  private void startPair() throws Exception {
    primary = RedisServer.builder().arg("--repl-diskless-sync-delay", "0").start();
    link = TcpProxy.to(primary);
    replica = RedisServer.builder().replicaOf("127.0.0.1", link.port()).start();
    replica.awaitReplicaLinkUp(Duration.ofSeconds(10));
    assertEquals("1", primary.infoField("replication", "connected_slaves"), primary.command("INFO", "replication"));
  }

  private void startRouter(String name) {
    router = kit.spawn(RedisRouter.create(RouterTestSupport.settings(primary, "node-id = " + name + "\n"
        + "channels.overrides { \"" + DURABLE + "\" { durability = \"replica(1)\", durability-timeout = "
        + DURABILITY_TIMEOUT.toMillis() + "ms } }"), new RouterMetrics()), name);
  }

  /** Kills the primary with SIGKILL and shows it is gone. */
  private void killPrimaryAndPromote() {
    primary.kill9();
    assertFalse(primary.isAlive(), "the primary process is gone");
    assertFalse(primary.ping(Duration.ofMillis(200)), "the primary answers nothing");
  }

  private void promoteReplica() {
    assertEquals("OK", replica.command("REPLICAOF", "NO", "ONE"));
    assertEquals("master", replica.infoField("replication", "role"));
  }

  @Test
  void everyAcceptedMessageIsOnThePromotedReplicaAfterThePrimaryIsKilled() throws Exception {
    startPair();
    startRouter("dur-kill");
    Load load = new Load(DURABLE, "k", 2000, 1500);
    load.run();
    // the kill follows the 1,500th acceptance at once, with publishes still in flight
    assertTrue(load.killNow.await(20, TimeUnit.SECONDS), load::summary);
    killPrimaryAndPromote();
    int acceptedAtKill = load.accepted.get();
    load.stop.set(true);
    load.awaitAnswered();
    promoteReplica();
    Set<String> found = storedIds(replica, DURABLE);
    MessageChecker.Report report = load.report(found);
    log.info("ReplicaDurabilityIT replica(1), primary SIGKILL: sent={} accepted={} (at the kill {}) found on the"
        + " promoted replica={} lost={} rejected={} (not-replicated {}) accept latency p50={} ms max={} ms",
        report.sent(), report.accepted(), acceptedAtKill, found.size(), report.lost(), load.rejected.get(),
        load.notReplicated.get(), load.latencyMs(0.5), load.latencyMs(1.0));
    assertTrue(report.accepted() >= 1500, load::summary);
    // the kill came with publishes in flight, not after the load
    assertTrue(load.sent.get() > acceptedAtKill, load::summary);
    assertEquals(0, report.unexpected(), report::toString);
    assertEquals(0, report.lost(), () -> "accepted but missing on the promoted replica: " + report);
  }

  @Test
  void withDurabilityPrimaryAcceptedMessagesAreMissingFromAReplicaThatLagged() throws Exception {
    startPair();
    startRouter("dur-contrast");
    link.pause(); // the replication stream is held back: the replica lags
    Load load = new Load(PLAIN, "p", 500, 500);
    load.run();
    assertTrue(load.killNow.await(20, TimeUnit.SECONDS), load::summary);
    long onPrimary = primary.callLong("XLEN", RedisKeys.stream(PLAIN));
    killPrimaryAndPromote();
    link.close(); // the link is cut: what it held back never arrives
    load.stop.set(true);
    load.awaitAnswered();
    promoteReplica();
    Set<String> found = storedIds(replica, PLAIN);
    MessageChecker.Report report = load.report(found);
    log.info("ReplicaDurabilityIT contrast, durability primary, replication held back, primary SIGKILL: sent={}"
        + " accepted={} on the primary={} found on the promoted replica={} lost={}", report.sent(), report.accepted(),
        onPrimary, found.size(), report.lost());
    assertEquals(500, report.accepted(), load::summary);
    assertEquals(500, onPrimary);
    assertTrue(report.lost() > 0, () -> "the contrast must lose accepted messages: " + report);
  }

  @Test
  void withTheReplicaStoppedAReplicatedPublishIsRejectedAfterTheTimeoutAndAcceptedOnceItIsBack() throws Exception {
    startPair();
    startRouter("dur-stop");
    // healthy first: accepted
    // (the first WAIT after the router's start may miss its 500 ms on a loaded machine: a retry with the same id is
    // the documented answer to not-replicated, and a healthy replica confirms it within a few tries)
    PublishReply first = RouterTestSupport.publish(kit, router, request(DURABLE, "s-warm"));
    for (int i = 0; i < 10 && first instanceof PublishReply.Rejected r
        && r.reason() == PublishReply.RejectReason.NOT_REPLICATED; i++) {
      first = RouterTestSupport.publish(kit, router, request(DURABLE, "s-warm"));
    }
    PublishReply healthy = first;
    assertInstanceOf(PublishReply.Accepted.class, healthy, healthy::toString);

    replica.pause(); // SIGSTOP: connected, answering nothing
    int n = 20;
    List<CompletableFuture<PublishReply>> replies = new ArrayList<>();
    List<Long> sentAt = new ArrayList<>();
    Map<Integer, Long> answeredAt = new ConcurrentHashMap<>();
    for (int i = 0; i < n; i++) {
      int at = i;
      sentAt.add(System.nanoTime());
      replies.add(RouterTestSupport.publishAsync(kit, router, request(DURABLE, "s-" + i)).toCompletableFuture()
          .whenComplete((r, e) -> answeredAt.put(at, System.nanoTime())));
    }
    CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    long minMs = Long.MAX_VALUE;
    long maxMs = 0;
    for (int i = 0; i < n; i++) {
      PublishReply r = replies.get(i).get();
      PublishReply.Rejected rej = assertInstanceOf(PublishReply.Rejected.class, r, r::toString);
      assertEquals(PublishReply.RejectReason.NOT_REPLICATED, rej.reason(), rej::toString);
      assertTrue(rej.message().contains("confirmed on 0 of 1 replicas within " + DURABILITY_TIMEOUT.toMillis()
          + " ms"), rej.message());
      assertTrue(rej.message().contains("it is on the primary"), rej.message());
      assertFalse(rej.retryAfter().isZero(), rej::toString);
      long ms = (answeredAt.get(i) - sentAt.get(i)) / 1_000_000;
      minMs = Math.min(minMs, ms);
      maxMs = Math.max(maxMs, ms);
    }
    long onPrimary = primary.callLong("XLEN", RedisKeys.stream(DURABLE));
    log.info("ReplicaDurabilityIT replica stopped: {} publishes rejected not-replicated after {}-{} ms (timeout {}"
        + " ms); entries on the primary={}", n, minMs, maxMs, DURABILITY_TIMEOUT.toMillis(), onPrimary);
    // each waited for a WAIT's full timeout; WAITs go one at a time, and a message queued behind the batches in
    // flight (ingress.max-batches-in-flight, 4) waits for theirs first: at most (4 + 1) timeouts, plus a margin
    assertTrue(minMs >= DURABILITY_TIMEOUT.toMillis() - 20, () -> "rejected before the timeout");
    long bound = (RouterTestSupport.settings(primary, "").ingress().maxBatchesInFlight() + 1)
        * DURABILITY_TIMEOUT.toMillis() + 500;
    assertTrue(maxMs <= bound, "rejected after " + maxMs + " ms, beyond " + bound + " ms");
    assertEquals(n + 1, onPrimary, "the rejected writes are on the primary (the reject says so)");

    // the replica comes back: the same ids are accepted (deduplicated, not written twice), with fewer WAITs than
    // messages
    replica.resume();
    replica.awaitReplicaLinkUp(Duration.ofSeconds(10));
    Map<String, Long> before = primary.commandCalls();
    Load again = new Load(DURABLE, "s-", n, n);
    again.idFormat = i -> "s-" + i;
    again.run();
    again.awaitAnswered();
    Load more = new Load(DURABLE, "m", 1000, 1000);
    more.run();
    more.awaitAnswered();
    Map<String, Long> calls = RedisServer.callsBetween(before, primary.commandCalls());
    long waits = calls.getOrDefault("wait", 0L);
    log.info("ReplicaDurabilityIT replica back: {} republished accepted ({} duplicates), {} new accepted, {} WAITs for"
        + " {} publishes", again.accepted.get(), again.duplicates.get(), more.accepted.get(), waits, n + 1000);
    assertEquals(n, again.accepted.get(), again::summary);
    assertEquals(n, again.duplicates.get(), again::summary);
    assertEquals(1000, more.accepted.get(), more::summary);
    assertEquals(n + 1 + 1000, primary.callLong("XLEN", RedisKeys.stream(DURABLE)));
    assertTrue(waits >= 1 && waits < n + 1000, () -> "WAITs: " + waits + " " + calls);
  }

  private static PublishRequest request(String channel, String id) {
    return PublishRequest.of(channel, RouterTestSupport.payload(id, 128)).withMessageId(id);
  }

  /** The message ids of {@code channel}'s stream entries on {@code redis}. */
  private static Set<String> storedIds(RedisServer redis, String channel) {
    Set<String> ids = new HashSet<>();
    List<?> entries = (List<?>) redis.callBinary("XRANGE", RedisKeys.stream(channel), "-", "+");
    for (Object e : entries) {
      List<?> entry = (List<?>) e;
      List<?> fields = (List<?>) entry.get(1);
      for (int i = 0; i + 1 < fields.size(); i += 2) {
        String field = new String((byte[]) fields.get(i), java.nio.charset.StandardCharsets.UTF_8);
        if (RedisKeys.FIELD_ENVELOPE.equals(field)) {
          ids.add(EnvelopeCodec.decode((byte[]) fields.get(i + 1)).id());
        }
      }
    }
    return ids;
  }

  /**
   * Publishes {@code total} messages with at most {@link #MAX_IN_FLIGHT} awaiting their reply, from its own thread;
   * {@link #killNow} opens at the {@code killAt}-th acceptance. Counts each answer.
   */
  private final class Load {
    final String channel;
    final String prefix;
    final int total;
    final int killAt;
    java.util.function.IntFunction<String> idFormat;
    final MessageChecker checker = new MessageChecker();
    final java.util.concurrent.CountDownLatch killNow = new java.util.concurrent.CountDownLatch(1);
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicInteger sent = new AtomicInteger();
    final AtomicInteger answered = new AtomicInteger();
    final AtomicInteger accepted = new AtomicInteger();
    final AtomicInteger duplicates = new AtomicInteger();
    final AtomicInteger rejected = new AtomicInteger();
    final AtomicInteger notReplicated = new AtomicInteger();
    final java.util.concurrent.ConcurrentLinkedQueue<Long> latenciesUs = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final Semaphore window = new Semaphore(MAX_IN_FLIGHT);
    private Thread thread;

    Load(String channel, String prefix, int total, int killAt) {
      this.channel = channel;
      this.prefix = prefix;
      this.total = total;
      this.killAt = killAt;
      this.idFormat = i -> String.format("%s%06d", prefix, i);
    }

    void run() {
      thread = new Thread(() -> {
        for (int i = 0; i < total && !stop.get(); i++) {
          try {
            window.acquire();
          } catch (InterruptedException e) {
            return;
          }
          if (stop.get()) {
            window.release();
            return;
          }
          String id = idFormat.apply(i);
          checker.sent(id);
          sent.incrementAndGet();
          long t0 = System.nanoTime();
          RouterTestSupport.publishAsync(kit, router, request(channel, id)).whenComplete((r, e) -> {
            if (r instanceof PublishReply.Accepted a) {
              checker.acked(id);
              latenciesUs.add((System.nanoTime() - t0) / 1000);
              if (a.duplicate()) duplicates.incrementAndGet();
              if (accepted.incrementAndGet() == killAt) killNow.countDown();
            } else if (r instanceof PublishReply.Rejected rej) {
              rejected.incrementAndGet();
              if (rej.reason() == PublishReply.RejectReason.NOT_REPLICATED) notReplicated.incrementAndGet();
            }
            answered.incrementAndGet();
            window.release();
          });
        }
      }, "durability-load-" + prefix);
      thread.setDaemon(true);
      thread.start();
    }

    /** Waits (bounded) until the publishing thread ended and every publish it made was answered. */
    void awaitAnswered() throws InterruptedException {
      thread.join(30_000);
      assertFalse(thread.isAlive(), this::summary);
      TestProbe<Object> probe = kit.createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(15), () -> {
        assertEquals(sent.get(), answered.get(), this::summary);
        return null;
      });
    }

    /** The checker's report, with every id found in the promoted replica's stream counted as delivered. */
    MessageChecker.Report report(Set<String> found) {
      for (String id : found) checker.delivered(id);
      return checker.report();
    }

    long latencyMs(double quantile) {
      List<Long> l = new ArrayList<>(latenciesUs);
      if (l.isEmpty()) return -1;
      l.sort(null);
      return l.get((int) Math.min(l.size() - 1, Math.floor(quantile * l.size()))) / 1000;
    }

    String summary() {
      return "sent=" + sent + "/" + total + " answered=" + answered + " accepted=" + accepted + " duplicates="
          + duplicates + " rejected=" + rejected + " (not-replicated " + notReplicated + ")";
    }
  }
}
