package io.redisrouter.bench;

import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPool;
import redis.clients.jedis.JedisPoolConfig;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Redis connections against concurrent publishers: {@code n} publishers each publish 3 messages one after the
 * other, all at once; CLIENT LIST is sampled every 20 ms. The router: {@code n} concurrent publish chains into one
 * embedded router. The naive pool: {@code n} threads over a Jedis pool sized for them (the pool grows with the
 * concurrency, as it does in the services this project replaces).
 */
final class ConnectionScaling {
  private ConnectionScaling() {}

  record Point(String system, int publishers, int maxConnections, long published, double seconds) {}

  static Point router(BenchRedis redis, int n) throws Exception {
    Tracker tracker = new Tracker(n * 3);
    try (RouterEmbedded r = new RouterEmbedded(false, false)) {
      r.start(redis, tracker, "scaling-router-" + n);
      return sampled(redis, "router (embedded)", n, () -> {
        List<CompletableFuture<?>> chains = new ArrayList<>(n);
        byte[] payload = Tracker.payload(256, 0, System.nanoTime());
        for (int i = 0; i < n; i++) {
          chains.add(chain(r, payload, 3).toCompletableFuture());
        }
        CompletableFuture.allOf(chains.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
      });
    }
  }

  private static java.util.concurrent.CompletionStage<?> chain(RouterEmbedded r, byte[] payload, int left) {
    if (left == 0) return CompletableFuture.completedFuture(null);
    return r.publish(payload).handle((ok, err) -> null).thenCompose(x -> chain(r, payload, left - 1));
  }

  static Point naive(BenchRedis redis, int n) throws Exception {
    JedisPoolConfig config = new JedisPoolConfig();
    config.setMaxTotal(n);
    config.setMaxIdle(n);
    byte[] channel = ("scaling-naive-" + n).getBytes(StandardCharsets.UTF_8);
    byte[] payload = Tracker.payload(256, 0, 0);
    try (JedisPool pool = new JedisPool(config, redis.host(), redis.port())) {
      return sampled(redis, "naive Jedis pool", n, () -> {
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          Thread t = new Thread(null, () -> {
            try {
              start.await();
              for (int k = 0; k < 3; k++) {
                try (Jedis j = pool.getResource()) {
                  j.publish(channel, payload);
                }
              }
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }, "naive-publisher-" + i, 256 * 1024);
          t.start();
          threads.add(t);
        }
        start.countDown();
        for (Thread t : threads) t.join(120_000);
      });
    }
  }

  interface Load {
    void run() throws Exception;
  }

  private static Point sampled(BenchRedis redis, String system, int n, Load load) throws Exception {
    AtomicInteger max = new AtomicInteger();
    ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
    sampler.scheduleAtFixedRate(() -> {
      try {
        max.accumulateAndGet(redis.connections(), Math::max);
      } catch (RuntimeException ignored) {
        // next sample
      }
    }, 0, 20, TimeUnit.MILLISECONDS);
    long t0 = System.nanoTime();
    try {
      load.run();
      max.accumulateAndGet(redis.connections(), Math::max);
    } finally {
      sampler.shutdownNow();
    }
    return new Point(system, n, max.get(), n * 3L, (System.nanoTime() - t0) / 1e9);
  }
}
