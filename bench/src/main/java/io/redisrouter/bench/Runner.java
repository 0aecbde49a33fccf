package io.redisrouter.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * Drives one run of a scenario: one producer thread publishes {@code messages} payloads, as fast as the
 * scenario's window allows ({@code rate} 0) or at a fixed offered rate (open loop: each message has its intended
 * send time), while CLIENT LIST and the heap are sampled; it waits until every message was delivered or the
 * nothing arrived for {@code idleMillis}.
 */
final class Runner {
  private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();
  private static final AtomicInteger RUNS = new AtomicInteger();

  private Runner() {}

  static RunResult run(Supplier<Scenario> factory, BenchRedis redis, int messages, int size, double rate,
      long idleMillis) throws Exception {
    Tracker tracker = new Tracker(messages);
    String key = "bench-" + RUNS.incrementAndGet();
    ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "bench-sampler");
      t.setDaemon(true);
      return t;
    });
    AtomicInteger maxConnections = new AtomicInteger();
    AtomicLong peakHeap = new AtomicLong();
    AtomicLong republished = new AtomicLong();
    System.gc();
    try (Scenario s = factory.get()) {
      s.start(redis, tracker, key);
      sampler.scheduleAtFixedRate(() -> {
        try {
          maxConnections.accumulateAndGet(redis.connections(), Math::max);
        } catch (RuntimeException ignored) {
          // a sample lost; the next one counts
        }
        peakHeap.accumulateAndGet(MEMORY.getHeapMemoryUsage().getUsed(), Math::max);
      }, 0, 50, TimeUnit.MILLISECONDS);
      Semaphore window = new Semaphore(s.window());
      long t0 = System.nanoTime();
      long intervalNanos = rate > 0 ? (long) (1e9 / rate) : 0;
      int half = messages / 2;
      for (int i = 0; i < messages; i++) {
        long intended = rate > 0 ? t0 + i * intervalNanos : System.nanoTime();
        if (rate > 0) {
          long wait;
          while ((wait = intended - System.nanoTime()) > 0) {
            if (wait > 200_000) {
              s.flush();
              LockSupport.parkNanos(wait - 100_000);
            } else {
              Thread.onSpinWait();
            }
          }
        }
        if (!window.tryAcquire()) {
          s.flush();
          window.acquire();
        }
        publish(s, Tracker.payload(size, i, intended), window, republished, 0);
        if (i == half) s.midway();
        if (rate > 0 || (i & 63) == 63) s.flush();
      }
      s.flush();
      // wait until every message arrived, or nothing arrived for idleMillis (what is missing then is lost)
      boolean timedOut = false;
      long end;
      long lastProgress = System.nanoTime();
      int lastCount = -1;
      while (true) {
        try {
          end = tracker.complete().get(100, TimeUnit.MILLISECONDS);
          break;
        } catch (TimeoutException e) {
          int now = tracker.distinct();
          if (now != lastCount) {
            lastCount = now;
            lastProgress = System.nanoTime();
          } else if (System.nanoTime() - lastProgress > idleMillis * 1_000_000L) {
            timedOut = true;
            end = tracker.lastDeliveryNanos() == 0 ? System.nanoTime() : tracker.lastDeliveryNanos();
            break;
          }
        }
      }
      maxConnections.accumulateAndGet(redis.connections(), Math::max);
      return new RunResult(messages, (end - t0) / 1e9, tracker.latency(), maxConnections.get(), peakHeap.get(),
          tracker.distinct(), tracker.duplicates(), republished.get(), timedOut);
    } finally {
      sampler.shutdownNow();
    }
  }

  /** Publishes, and publishes again (after a short pause) when the system refused it; frees the window once in. */
  private static void publish(Scenario s, byte[] payload, Semaphore window, AtomicLong republished, int tries) {
    CompletionStage<?> f;
    try {
      f = s.publish(payload);
    } catch (RuntimeException e) {
      f = java.util.concurrent.CompletableFuture.failedFuture(e);
    }
    f.whenComplete((ok, err) -> {
      if (err == null) {
        window.release();
        return;
      }
      republished.incrementAndGet();
      if (tries > 1000) {
        window.release(); // given up: it shows as lost
        return;
      }
      RETRY.schedule(() -> {
        publish(s, payload, window, republished, tries + 1);
        s.flush(); // the producer may be done flushing: push the republished one out now
      }, 5, TimeUnit.MILLISECONDS);
    });
  }

  private static final ScheduledExecutorService RETRY = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "bench-republish");
    t.setDaemon(true);
    return t;
  });
}
