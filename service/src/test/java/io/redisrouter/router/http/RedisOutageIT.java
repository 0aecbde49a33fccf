package io.redisrouter.router.http;

import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Redis down for 60 s under steady load ({@link FaultLoad}: embedded and HTTP publishers, embedded, pull and
 * webhook consumers), then back (AOF {@code always}, so what it confirmed survives). While it is down the node is
 * not ready, every publish is refused clearly ({@code unavailable}, HTTP 503 with Retry-After) and, once the outage
 * is older than the connect timeout (before that it is held as a reconnect), at once; and the
 * heap stays bounded (used heap after a full GC, sampled every 10 s, grows by less than 64 MB over the outage:
 * nothing queues per refused message). Once Redis is back the node recovers by itself, without a restart: publishes
 * are accepted again, and every accepted message reaches every consumer (lost = 0).
 */
class RedisOutageIT {
  private static final Logger log = LoggerFactory.getLogger(RedisOutageIT.class);
  private static final Duration OUTAGE = Duration.ofSeconds(60);

  @Test
  void sixtySecondsWithoutRedisAreFastRefusalsInBoundedMemoryAndRecoverWithoutARestart() throws Exception {
    try (RedisServer redis = RedisServer.builder().appendOnly("always").start()) {
      RouterService service = HttpTestSupport.start("outage", redis, "");
      ActorTestKit kit = ActorTestKit.create("outage");
      String channel = "outage";
      try (FaultLoad load = FaultLoad.start(service, kit, redis, channel,
          FaultLoad.Options.steady().retry(false))) {
        ConsumeHttpSupport.await("200 accepted before the outage", load::accepted, n -> n >= 200);
        long heapBefore = usedHeapAfterGc();
        redis.kill9();
        assertTrue(!redis.isAlive(), "redis-server is gone");
        long down = System.nanoTime();
        long acceptedAtKill = load.accepted();
        ConsumeHttpSupport.await("not ready once Redis is down", () -> HttpTestSupport.get(service, "/health/ready")
            .statusCode(), s -> s == 503);
        long detectedMs = (System.nanoTime() - down) / 1_000_000;
        load.slowestRefusalMs(); // the refusals of the first seconds (commands in flight at the kill) set aside
        List<Long> heap = new ArrayList<>();
        List<Long> slowest = new ArrayList<>();
        long refusedBefore = load.checker.report().refused();
        while (System.nanoTime() - down < OUTAGE.toNanos()) {
          Thread.sleep(10_000); // the outage goes on; sampled every 10 s
          heap.add(usedHeapAfterGc() - heapBefore);
          slowest.add(load.slowestRefusalMs());
          assertEquals(503, HttpTestSupport.get(service, "/health/ready").statusCode(), "still not ready");
        }
        MessageChecker.Report during = load.checker.report();
        long refusedDuring = during.refused() - refusedBefore;
        redis.restart();
        long up = System.nanoTime();
        ConsumeHttpSupport.await("accepting again after Redis is back", load::lastAcceptedNanos, t -> t > up);
        long recoveredMs = (load.lastAcceptedNanos() - up) / 1_000_000;
        ConsumeHttpSupport.await("200 more accepted", load::accepted, n -> n >= during.accepted() + 200);
        load.stopPublishing();
        load.awaitAccounted(Duration.ofSeconds(40));
        MessageChecker.Report r = load.checker.assertPasses("redis down 60 s", 300);
        log.info("redis down {} s: detected (not ready) after {} ms; refused during the outage {} ({}); slowest"
            + " refusal per 10 s {} ms; used heap vs before the outage {} bytes; accepted at the kill {}, accepting"
            + " again {} ms after Redis came back; refusals without Retry-After {}", OUTAGE.toSeconds(), detectedMs,
            refusedDuring, r.refusedByReason(), slowest, heap, acceptedAtKill, recoveredMs,
            load.refusedWithoutRetryAfter());
        assertTrue(refusedDuring >= OUTAGE.toSeconds() * 100, "publishes kept coming and were refused: "
            + refusedDuring);
        assertTrue(during.accepted() - acceptedAtKill <= 200, "nothing is accepted while Redis is down (only replies"
            + " in flight at the kill): " + (during.accepted() - acceptedAtKill));
        // the first seconds of an outage are held as a reconnect (up to the connect timeout, 10 s); after that every
        // refusal is immediate
        assertTrue(slowest.get(0) <= 11_000, "held at most the connect timeout at first: " + slowest);
        for (long ms : slowest.subList(1, slowest.size())) {
          assertTrue(ms < 1000, "refusals are fast once the outage is older than the connect timeout: " + slowest);
        }
        for (long bytes : heap) assertTrue(bytes < 64L << 20, "heap bounded during the outage: " + heap);
        assertTrue(r.refusedByReason().keySet().stream().allMatch(k -> k.contains("unavailable")),
            "refused as unavailable: " + r.refusedByReason());
        assertEquals(0, load.refusedWithoutRetryAfter(), "every 503 says when to retry");
        assertTrue(recoveredMs < 20_000, "recovered by itself within 20 s: " + recoveredMs + " ms");
      } finally {
        kit.shutdownTestKit();
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }

  private static long usedHeapAfterGc() {
    System.gc();
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }
}
