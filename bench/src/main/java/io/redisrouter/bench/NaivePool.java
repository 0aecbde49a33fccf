package io.redisrouter.bench;

import redis.clients.jedis.BinaryJedisPubSub;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPool;
import redis.clients.jedis.JedisPoolConfig;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The naive approach from the problem statement: a Jedis pool, {@code threads} publisher threads each borrowing a
 * connection for a PUBLISH, and re-publishing (10 ms apart, up to 200 times) while PUBLISH reports 0 receivers. The
 * subscriber is a SUBSCRIBE connection feeding an in-memory queue that a worker drains, as a service would. With
 * {@code restart}, the subscriber restarts midway: its connection closes, what it had received and not processed
 * is gone with the process, and it subscribes again 500 ms later.
 */
final class NaivePool implements Scenario {
  private final boolean restart;
  private final int threads;
  private JedisPool pool;
  private ExecutorService publishers;
  private byte[] channel;
  private BenchRedis redis;
  private Tracker tracker;
  private volatile Subscriber subscriber;

  NaivePool(boolean restart, int threads) {
    this.restart = restart;
    this.threads = threads;
  }

  private final class Subscriber {
    final Jedis jedis = new Jedis(redis.host(), redis.port());
    final BlockingQueue<byte[]> inbox = new ArrayBlockingQueue<>(1_000_000);
    final CompletableFuture<Void> subscribed = new CompletableFuture<>();
    volatile boolean alive = true;

    void start() {
      Thread listen = new Thread(() -> {
        try {
          jedis.subscribe(new BinaryJedisPubSub() {
            @Override
            public void onSubscribe(byte[] ch, int count) {
              subscribed.complete(null);
            }

            @Override
            public void onMessage(byte[] ch, byte[] message) {
              if (alive) inbox.offer(message);
            }
          }, channel);
        } catch (RuntimeException e) {
          // closed by a restart
        }
      }, "naive-subscriber");
      listen.setDaemon(true);
      listen.start();
      Thread work = new Thread(() -> {
        while (alive) {
          try {
            byte[] m = inbox.poll(50, TimeUnit.MILLISECONDS);
            if (m != null && alive) tracker.delivered(m);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "naive-worker");
      work.setDaemon(true);
      work.start();
      subscribed.orTimeout(5, TimeUnit.SECONDS).join();
    }

    void kill() {
      alive = false;
      inbox.clear(); // the process died: what it had received and not processed is gone
      jedis.disconnect();
    }
  }

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) {
    this.redis = redis;
    this.tracker = tracker;
    this.channel = key.getBytes(StandardCharsets.UTF_8);
    JedisPoolConfig config = new JedisPoolConfig();
    config.setMaxTotal(threads);
    config.setMaxIdle(threads);
    pool = new JedisPool(config, redis.host(), redis.port());
    publishers = Executors.newFixedThreadPool(threads);
    subscriber = new Subscriber();
    subscriber.start();
  }

  @Override
  public int window() {
    return threads * 4;
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    return CompletableFuture.runAsync(() -> {
      for (int tries = 0; tries < 200; tries++) {
        long receivers;
        try (Jedis j = pool.getResource()) {
          receivers = j.publish(channel, payload);
        }
        if (receivers > 0) return;
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }, publishers);
  }

  @Override
  public void midway() {
    if (!restart) return;
    Subscriber old = subscriber;
    old.kill();
    CompletableFuture.runAsync(() -> {
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      Subscriber fresh = new Subscriber();
      fresh.start();
      subscriber = fresh;
    });
  }

  @Override
  public void close() {
    subscriber.kill();
    publishers.shutdownNow();
    pool.close();
  }
}
