package io.redisrouter.router.http;

import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import io.redisrouter.testkit.TcpProxy;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The soak: steady load ({@link FaultLoad}: embedded and HTTP publishers, embedded, pull and webhook consumers, one
 * message in 100 poison) while a fault is injected every 10 s, in turn: Redis killed with SIGKILL and restarted (AOF
 * {@code always}), Redis stopped with SIGSTOP for 3 s, a network blackhole of 3 s (a proxy drops every byte), the
 * webhook answering 503 for 3 s, and the embedded subscriber crashing. It runs 2 minutes by default; set
 * {@code SOAK_DURATION} (e.g. {@code 30m}) for a longer one. At the end the checker passes (lost = 0, unexpected =
 * 0, duplicates bounded by what the faults could cut in flight) and memory stays flat: the used heap after a full GC
 * and Redis's {@code used_memory} at the end are within 64 MB and 16 MB of what they were after the first 30 s
 * (acked entries are trimmed, dedup markers expire). The faults are shorter than the retry budget (6 attempts, 200
 * ms doubling to 2 s), so nothing but the poison is dead-lettered.
 */
class SoakIT {
  private static final Logger log = LoggerFactory.getLogger(SoakIT.class);
  private static final Duration EVERY = Duration.ofSeconds(10);

  static Duration duration() {
    String s = System.getenv().getOrDefault("SOAK_DURATION", System.getProperty("soak.duration", "2m")).trim();
    long n = Long.parseLong(s.substring(0, s.length() - 1));
    return switch (s.charAt(s.length() - 1)) {
      case 's' -> Duration.ofSeconds(n);
      case 'm' -> Duration.ofMinutes(n);
      case 'h' -> Duration.ofHours(n);
      default -> throw new IllegalArgumentException("SOAK_DURATION: use e.g. 90s, 30m or 2h, not " + s);
    };
  }

  private static long seq(String id) {
    return Long.parseLong(id.substring(id.lastIndexOf('-') + 1));
  }

  @Test
  void faultsEveryTenSecondsUnderLoadLoseNothingAndMemoryStaysFlat() throws Exception {
    Duration total = duration();
    try (RedisServer redis = RedisServer.builder().appendOnly("always").start();
        TcpProxy proxy = TcpProxy.to(redis)) {
      RouterService service = HttpTestSupport.awaitReady(RouterService.start("soak",
          HttpTestSupport.config("redis://127.0.0.1:" + proxy.port(), """
              redis-router.redis.instances.default.health-check-interval = 500ms
              redis-router.redis.instances.default.health-check-max-missed = 3
              redis-router.redis.instances.default.command-timeout = 2s
              redis-router.channels.defaults.max-attempts = 6
              redis-router.channels.defaults.backoff { min = 200ms, max = 2s }
              redis-router.channels.defaults.retention { max-age = 0, trim-interval = 2s }
              redis-router.dedup-window = 20s
              redis-router.http.subscription-refresh = 500ms
              """)));
      ActorTestKit kit = ActorTestKit.create("soak");
      AtomicBoolean crashNext = new AtomicBoolean();
      FaultLoad.Options options = FaultLoad.Options.steady()
          .poison(id -> seq(id) % 100 == 42)
          .crash(id -> crashNext.compareAndSet(true, false));
      List<String> faults = new ArrayList<>();
      long heapAt30 = -1;
      long redisAt30 = -1;
      try (FaultLoad load = FaultLoad.start(service, kit, redis, "soak", options)) {
        long start = System.nanoTime();
        for (int i = 0; System.nanoTime() - start < total.toNanos(); i++) {
          long cycle = System.nanoTime();
          String fault = switch (i % 5) {
            case 0 -> {
              redis.kill9();
              assertTrue(!redis.isAlive(), "redis killed");
              Thread.sleep(1000); // down for a second
              redis.restart();
              yield "redis SIGKILL + restart";
            }
            case 1 -> {
              redis.pause();
              Thread.sleep(3000); // stopped for 3 s
              redis.resume();
              yield "redis SIGSTOP 3 s";
            }
            case 2 -> {
              proxy.blackhole();
              Thread.sleep(3000); // a blackhole for 3 s
              proxy.heal();
              yield "blackhole 3 s";
            }
            case 3 -> {
              load.webhookAnswers(503);
              Thread.sleep(3000); // the webhook fails for 3 s
              load.webhookAnswers(200);
              yield "webhook 503 for 3 s";
            }
            default -> {
              int before = load.embeddedCrashes();
              crashNext.set(true);
              ConsumeHttpSupport.await("the embedded subscriber crashed", load::embeddedCrashes, n -> n > before);
              yield "embedded subscriber crash";
            }
          };
          faults.add(fault);
          long rest = EVERY.toNanos() - (System.nanoTime() - cycle);
          if (rest > 0) TimeUnit.NANOSECONDS.sleep(rest); // the load runs on until the next fault
          if (heapAt30 < 0 && System.nanoTime() - start >= Duration.ofSeconds(30).toNanos()) {
            heapAt30 = usedHeapAfterGc();
            redisAt30 = usedMemory(redis);
          }
        }
        long heapEnd = usedHeapAfterGc();
        long redisEnd = usedMemory(redis);
        load.stopPublishing();
        load.awaitAccounted(Duration.ofSeconds(60));
        log.info("soak {}: {} faults ({}); heap after GC {} -> {} MB, redis used_memory {} -> {} MB; crashes {}",
            total, faults.size(), String.join(", ", new java.util.LinkedHashSet<>(faults)), heapAt30 >> 20,
            heapEnd >> 20, redisAt30 >> 20, redisEnd >> 20, load.embeddedCrashes());
        MessageChecker.Report r = load.checker.assertPasses("soak " + total, 300L * faults.size());
        java.util.Set<String> poison = FaultLoad.sortedSet(load.checker.acceptedIds(), id -> seq(id) % 100 == 42);
        for (var c : r.consumers()) {
          // the faults are shorter than the retry budget (6 attempts, 200 ms doubling to 2 s: about 5 s): only the
          // poison is dead-lettered
          assertTrue(c.deadLettered() <= poison.size() && c.deadLetteredByReason().keySet().equals(
              java.util.Set.of("max-attempts")), c + ": dead letters beyond the " + poison.size() + " poison");
        }
        assertTrue(faults.size() >= total.toSeconds() / EVERY.toSeconds() - 1, "faults injected: " + faults);
        assertTrue(r.accepted() > 100 * total.toSeconds(), "the load ran: " + r);
        assertTrue(heapEnd - heapAt30 < 64L << 20, "heap flat: " + (heapAt30 >> 20) + " -> " + (heapEnd >> 20)
            + " MB");
        assertTrue(redisEnd - redisAt30 < 16L << 20, "redis memory flat: " + (redisAt30 >> 20) + " -> "
            + (redisEnd >> 20) + " MB");
      } finally {
        redis.resume();
        proxy.heal();
        kit.shutdownTestKit();
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }

  private static long usedHeapAfterGc() {
    System.gc();
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  private static long usedMemory(RedisServer redis) {
    return Long.parseLong(redis.infoField("memory", "used_memory"));
  }
}
