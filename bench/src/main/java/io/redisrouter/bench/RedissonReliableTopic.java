package io.redisrouter.bench;

import org.redisson.api.RReliableTopic;
import org.redisson.api.RedissonClient;
import org.redisson.client.codec.ByteArrayCodec;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Redisson's reliable topic ({@code RReliableTopic}: a stream read by each subscriber from its own position; no
 * per-message ack). With {@code restart}, the listener is removed midway and added again 500 ms later (a
 * subscriber restarting); whatever it then misses is counted as lost.
 */
final class RedissonReliableTopic implements Scenario {
  private final boolean restart;
  private RedissonClient redisson;
  private RReliableTopic topic;
  private Tracker tracker;
  private String listenerId;

  RedissonReliableTopic(boolean restart) {
    this.restart = restart;
  }

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) {
    this.tracker = tracker;
    redisson = RedissonStreams.client(redis);
    topic = redisson.getReliableTopic(key, ByteArrayCodec.INSTANCE);
    listen();
  }

  private void listen() {
    listenerId = topic.addListener(byte[].class, (channel, msg) -> tracker.delivered(msg));
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    return topic.publishAsync(payload);
  }

  @Override
  public void midway() {
    if (!restart) return;
    topic.removeListener(listenerId);
    CompletableFuture.runAsync(() -> {
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      listen();
    });
  }

  @Override
  public void close() {
    redisson.shutdown();
  }
}
