package io.redisrouter.router.fault;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.http.HttpTestSupport;
import io.redisrouter.router.http.ServiceExtension;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Redis that reaches its {@code maxmemory} under {@code noeviction} while an embedded publisher (deduplicated
 * publishes, which go through the dedup script, and plain XADDs) and an HTTP publisher keep publishing, and a
 * subscriber consumes.
 *
 * <p>The subscriber first holds what it gets without acknowledging, so the backlog grows until Redis is full (shown:
 * {@code used_memory >= maxmemory}, the first {@code redis-full} answer). While full, every publish is answered
 * {@code redis-full} (HTTP 507 with Retry-After; a batch answers each message on its own), never {@code unavailable}
 * and never accepted without being in the stream; acknowledgements and dead-lettering still work (XACK is not
 * refused under OOM, and the dead-letter script acknowledges before it writes). Once the subscriber acknowledges the
 * backlog, retention ({@code max-age = 0}: trimmed once acknowledged) frees memory and publishes are accepted again
 * without a restart. Every accepted message is delivered (lost = 0); no refused one ever is (nothing was written).
 */
class RedisFullIT {
  private static final Logger log = LoggerFactory.getLogger(RedisFullIT.class);
  private static final String CHANNEL = "full";
  private static final int PAYLOAD = 2000;
  /** Memory the stream may take beyond what Redis used with the router connected. */
  private static final long HEADROOM = 2L * 1024 * 1024;

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("redis-full")
      .redis(() -> RedisServer.builder().maxMemory("256mb", "noeviction").start())
      .config("""
          redis-router.channels.defaults.retention { max-age = 0, trim-interval = 300ms }
          redis-router.channels.defaults.max-in-flight = 64
          # the test holds deliveries on purpose while Redis is full: they must not time out meanwhile
          redis-router.channels.defaults.ack-timeout = 30s
          """);

  private final MessageChecker checker = new MessageChecker();
  /** Final outcome per message id: accepted, redis-full, or another code. */
  private final Map<String, String> outcome = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> byReason = new ConcurrentHashMap<>();
  /** Outcomes of the publishes sent after {@link #fullFrom} and before {@link #fullUntil} (the full phase). */
  private final Map<String, AtomicInteger> whileFull = new ConcurrentHashMap<>();
  private volatile long fullFrom = Long.MAX_VALUE;
  private volatile long fullUntil = Long.MAX_VALUE;
  private final AtomicLong acceptedAfterFreeing = new AtomicLong();
  private final AtomicBoolean retryAfterMissing = new AtomicBoolean();
  /** Publishes that got no answer (an ask timeout, an HTTP failure or a response off the contract). */
  private final ConcurrentLinkedDeque<String> noAnswer = new ConcurrentLinkedDeque<>();

  private void record(String id, String reason, long sentAt) {
    outcome.put(id, reason);
    byReason.computeIfAbsent(reason, k -> new AtomicInteger()).incrementAndGet();
    if (sentAt >= fullFrom && sentAt < fullUntil) {
      whileFull.computeIfAbsent(reason, k -> new AtomicInteger()).incrementAndGet();
    }
    if (sentAt >= fullUntil && reason.equals("accepted")) acceptedAfterFreeing.incrementAndGet();
    if (reason.equals("accepted")) checker.acked(id);
  }

  private static String reasonOf(PublishReply r) {
    if (r instanceof PublishReply.Accepted) return "accepted";
    if (r instanceof PublishReply.Rejected j) return j.reason().code();
    return "expired";
  }

  @Test
  void aFullRedisRefusesPublishesWithRedisFullWhileConsumersAckAndTakesThemAgainOnceFreed() throws Exception {
    long t0 = System.nanoTime();
    RedisServer redis = node.redis();
    ActorRef<RouterCommand> router = node.service().runtime().router();
    TestProbe<Object> probe = node.kit().createTestProbe();

    // the subscriber: holds deliveries while "holding", acks them all (and every later one) once released
    AtomicBoolean holding = new AtomicBoolean(true);
    ConcurrentLinkedDeque<Delivery> held = new ConcurrentLinkedDeque<>();
    ActorRef<Delivery> subscriber = node.kit().spawn(Behaviors.receiveMessage(d -> {
      checker.delivered(d.envelope().id());
      if (holding.get()) {
        held.add(d);
      } else {
        d.replyTo().tell(d.ack());
      }
      return Behaviors.same();
    }), "full-subscriber");
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(node.kit(), router, CHANNEL, "readers", subscriber, 64));

    // the limit: what Redis uses now plus a little room for the stream
    long base = Long.parseLong(redis.infoField("memory", "used_memory"));
    long maxMemory = base + HEADROOM;
    redis.call("CONFIG", "SET", "maxmemory", Long.toString(maxMemory));

    ScheduledExecutorService load = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "redis-full-load");
      t.setDaemon(true);
      return t;
    });
    AtomicInteger seq = new AtomicInteger();
    AtomicInteger inFlight = new AtomicInteger();
    String text = "x".repeat(PAYLOAD);
    try (LogCapture logs = LogCapture.start()) {
      // every 20 ms: 2 deduplicated and 2 plain embedded publishes, 1 HTTP publish (250 messages a second)
      load.scheduleAtFixedRate(() -> {
        if (inFlight.get() > 500) return; // bounded: a stuck answer shows up as a missing outcome below
        for (int i = 0; i < 4; i++) {
          int n = seq.incrementAndGet();
          long sentAt = System.nanoTime();
          boolean dedup = i % 2 == 0;
          String id = "e-" + n;
          PublishRequest req = PublishRequest.of(CHANNEL, RouterTestSupport.payload(id, PAYLOAD));
          if (dedup) {
            req = req.withMessageId(id);
            checker.sent(id);
          }
          inFlight.incrementAndGet();
          RouterTestSupport.publishAsync(node.kit(), router, req).whenComplete((r, e) -> {
            inFlight.decrementAndGet();
            if (r == null) {
              noAnswer.add(id + ": " + e);
              return;
            }
            if (!dedup) checker.sent(r.messageId());
            record(r.messageId(), reasonOf(r), sentAt);
          });
        }
        String hid = "h-" + seq.incrementAndGet();
        checker.sent(hid);
        long sentAt = System.nanoTime();
        inFlight.incrementAndGet();
        HttpTestSupport.sendAsync(HttpTestSupport.request(node.service(), "/v1/channels/" + CHANNEL + "/messages")
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"payload\":\"" + hid + text + "\",\"idempotencyKey\":\""
                + hid + "\"}"))
            .build()).whenComplete((resp, e) -> {
              inFlight.decrementAndGet();
              if (resp == null) {
                noAnswer.add(hid + ": " + e);
                return;
              }
              record(hid, httpReason(resp), sentAt);
            });
      }, 0, 20, TimeUnit.MILLISECONDS);

      // 1. the fault: Redis fills up and refuses writes
      probe.awaitAssert(Duration.ofSeconds(20), () -> {
        assertTrue(byReason.containsKey("redis-full"), () -> "no redis-full yet: " + byReason);
        return null;
      });
      // Redis itself counts the refusals (INFO errorstats), and its memory is at the limit: it hovers around it as
      // client buffers come and go, so it is judged against a margin of a twentieth of the room the stream had
      String oomErrors = redis.infoField("errorstats", "errorstat_OOM");
      assertTrue(oomErrors != null && !oomErrors.equals("count=0"), "errorstat_OOM: " + oomErrors);
      long usedAtFull = Long.parseLong(redis.infoField("memory", "used_memory"));
      assertTrue(usedAtFull >= maxMemory - HEADROOM / 20, "used_memory " + usedAtFull + " vs maxmemory " + maxMemory);
      int acceptedBeforeFull = byReason.get("accepted").get();
      log.info("RedisFullIT: full after {} accepted; used_memory={} maxmemory={} (base {}); Redis {}",
          acceptedBeforeFull,
          usedAtFull, maxMemory, base, oomErrors);
      fullFrom = System.nanoTime() + Duration.ofMillis(200).toNanos(); // what was already under way is not judged

      // 2. while full: consumers ack (XACK is allowed under OOM), dead-lettering works, a batch answers per message
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertTrue(held.size() >= 20, "held " + held.size());
        return null;
      });
      Map<String, Long> callsBefore = redis.commandCalls();
      for (int i = 0; i < 10; i++) {
        Delivery d = held.pollLast(); // the newest: retention cannot trim past the oldest pending one
        d.replyTo().tell(d.ack());
      }
      Delivery rejected = held.pollLast();
      rejected.replyTo().tell(rejected.nack("refused by the test", true));
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertTrue(RedisServer.callsBetween(callsBefore, redis.commandCalls()).getOrDefault("xack", 0L) >= 1,
            "XACK calls while full");
        assertEquals(1L, redis.callLong("XLEN", RedisKeys.deadLetters(CHANNEL)), "dead letters");
        return null;
      });
      // Redis refused none of them (7.0 and 6.2 count refusals per command)
      String xackStats = redis.infoField("commandstats", "cmdstat_xack");
      assertTrue(xackStats.contains("rejected_calls=0") && xackStats.contains("failed_calls=0"), xackStats);
      assertTrue(byReason.get("redis-full").get() > 0 && outcome.size() > acceptedBeforeFull, "still publishing");
      checker.deadLettered(rejected.envelope().id());

      HttpResponse<String> batch = HttpTestSupport.post(node.service(), "/v1/channels/" + CHANNEL + "/messages/batch",
          "{\"messages\":[{\"payload\":\"b-1\",\"idempotencyKey\":\"b-1\"},{\"payload\":\"b-2\","
              + "\"idempotencyKey\":\"b-2\"},{\"payload\":\"b-3\",\"idempotencyKey\":\"b-3\"}]}");
      List<String> batchCodes = new ArrayList<>();
      HttpTestSupport.json(batch).get("results").forEach(r -> {
        int status = r.get("status").asInt();
        String id = r.get("messageId").asText();
        checker.sent(id);
        String reason = status == 202 ? "accepted" : r.path("code").asText("status-" + status);
        batchCodes.add(status + " " + reason);
        outcome.put(id, reason);
        if (status == 202) checker.acked(id);
      });
      assertTrue(batchCodes.stream().allMatch(c -> c.equals("507 redis-full") || c.equals("202 accepted")),
          batchCodes::toString);
      assertTrue(batchCodes.contains("507 redis-full"), batchCodes::toString);
      assertEquals(207, batch.statusCode(), batch::body);

      // let the full phase run with the publishers going, then judge it
      long judgeAfter = fullFrom + Duration.ofSeconds(2).toNanos();
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(
            System.nanoTime() > judgeAfter && whileFull.getOrDefault("redis-full", new AtomicInteger()).get() >= 100,
            () -> "while full: " + whileFull);
        return null;
      });
      long stillUsed = Long.parseLong(redis.infoField("memory", "used_memory"));

      // 3. the subscriber acks the backlog: retention trims it, memory is freed, publishes are taken again
      fullUntil = System.nanoTime();
      holding.set(false);
      Delivery d;
      while ((d = held.poll()) != null) d.replyTo().tell(d.ack());
      probe.awaitAssert(Duration.ofSeconds(20), () -> {
        assertTrue(acceptedAfterFreeing.get() >= 100, () -> "accepted since the backlog was acked: "
            + acceptedAfterFreeing + ", used_memory=" + redis.infoField("memory", "used_memory"));
        // the router says so once the instance stopped refusing (2 s after its last refusal)
        assertEquals(1, logs.linesContaining("accepts publishes again").size(), "the INFO that it is free again");
        return null;
      });
      load.shutdownNow();
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(0, inFlight.get(), "publishes without an answer");
        return null;
      });

      // 4. drain and judge
      RouterTestSupport.awaitNoneLost(probe, checker, Duration.ofSeconds(20));
      RouterTestSupport.awaitNothingPending(probe, redis, CHANNEL, "readers", Duration.ofSeconds(10));
      MessageChecker.Report report = checker.report();
      Set<String> refusedButDelivered = new java.util.TreeSet<>();
      outcome.forEach((id, reason) -> {
        if (!reason.equals("accepted") && checker.deliveryCount(id) > 0) refusedButDelivered.add(id);
      });
      List<String> fullWarnings = logs.linesContaining("is full (used memory reached maxmemory");
      List<String> again = logs.linesContaining("accepts publishes again");
      log.info("RedisFullIT: sent={} accepted={} outcomes={} (while full: {}; batch {}) delivered={} lost={}"
          + " duplicated={} unexpected={} deadLettered={}; used_memory at full={} before freeing={} maxmemory={};"
          + " router publish_redis_full={}; {} ms", report.sent(), report.accepted(), byReason, whileFull, batchCodes,
          report.delivered(), report.lost(), report.duplicated(), report.unexpected(), report.deadLettered(),
          usedAtFull, stillUsed, maxMemory, node.service().runtime().metrics().snapshot().publishRedisFull(),
          (System.nanoTime() - t0) / 1_000_000);

      assertEquals(List.of(), List.copyOf(noAnswer), "publishes without an answer");
      assertEquals(0, report.lost(), () -> "lost " + checker.lostIds());
      assertEquals(0, report.unexpected(), () -> "unexpected " + checker.unexpectedIds());
      // a refused message was not written: it is never delivered
      assertEquals(Set.of(), refusedButDelivered, "refused yet delivered");
      // the error is clear: redis-full, never unavailable (or anything else), from both ways in
      assertEquals(Set.of("accepted", "redis-full"), byReason.keySet(), byReason::toString);
      assertTrue(outcome.keySet().stream().anyMatch(id -> id.startsWith("h-") && outcome.get(id).equals("redis-full")),
          "an HTTP publish was refused redis-full");
      assertTrue(!retryAfterMissing.get(), "a 507 without Retry-After");
      // while full nothing was accepted: the stream stayed as it was (the subscriber held the backlog)
      assertEquals(0, whileFull.getOrDefault("accepted", new AtomicInteger()).get(), whileFull::toString);
      assertEquals(1, fullWarnings.size(), () -> "WARNs: " + fullWarnings);
      assertTrue(fullWarnings.get(0).contains("'default'"), fullWarnings::toString);
      assertEquals(1, again.size(), () -> "INFOs: " + again);
      assertTrue(node.service().runtime().metrics().snapshot().publishRedisFull() >= byReason.get("redis-full").get(),
          "publish_redis_full counts every refusal");
    } finally {
      load.shutdownNow();
      redis.call("CONFIG", "SET", "maxmemory", "0");
    }
  }

  private String httpReason(HttpResponse<String> resp) {
    if (resp.statusCode() == 202) return "accepted";
    try {
      String code = HttpTestSupport.json(resp).path("code").asText("status-" + resp.statusCode());
      if (resp.statusCode() == 507 && resp.headers().firstValue("Retry-After").isEmpty()) retryAfterMissing.set(true);
      return resp.statusCode() == 507 ? code : code + "-" + resp.statusCode();
    } catch (java.io.IOException e) {
      return "status-" + resp.statusCode();
    }
  }

}
