package io.redisrouter.bench;

import org.redisson.Redisson;
import org.redisson.api.RStream;
import org.redisson.api.RedissonClient;
import org.redisson.api.StreamMessageId;
import org.redisson.api.stream.StreamAddArgs;
import org.redisson.api.stream.StreamCreateGroupArgs;
import org.redisson.api.stream.StreamReadGroupArgs;
import org.redisson.client.codec.ByteArrayCodec;
import org.redisson.config.Config;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * Redisson, a Redis Stream with a consumer group: {@code addAsync} per message, one consumer thread reading
 * {@code readGroup(neverDelivered, count 500, timeout 100 ms)} and acking each batch with {@code ackAsync}.
 * At-least-once like the router; Redisson's default single-server pools (what a user gets out of the box).
 */
final class RedissonStreams implements Scenario {
  private RedissonClient redisson;
  private RStream<byte[], byte[]> stream;
  private Thread consumer;
  private volatile boolean running = true;
  private static final byte[] FIELD = {'p'};

  static RedissonClient client(BenchRedis redis) {
    Config c = new Config();
    c.useSingleServer().setAddress("redis://" + redis.host() + ":" + redis.port());
    return Redisson.create(c);
  }

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) {
    redisson = client(redis);
    stream = redisson.getStream(key, ByteArrayCodec.INSTANCE);
    stream.createGroup(StreamCreateGroupArgs.name("g").makeStream());
    consumer = new Thread(() -> {
      while (running) {
        Map<StreamMessageId, Map<byte[], byte[]>> batch;
        try {
          batch = stream.readGroup("g", "c1", StreamReadGroupArgs.neverDelivered().count(500)
              .timeout(Duration.ofMillis(100)));
        } catch (RuntimeException e) {
          if (!running) break;
          throw e;
        }
        if (batch == null || batch.isEmpty()) continue;
        StreamMessageId[] ids = batch.keySet().toArray(StreamMessageId[]::new);
        for (Map<byte[], byte[]> fields : batch.values()) {
          for (byte[] v : fields.values()) tracker.delivered(v);
        }
        stream.ackAsync("g", ids);
      }
    }, "redisson-consumer");
    consumer.start();
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    return stream.addAsync(StreamAddArgs.entry(FIELD, payload));
  }

  @Override
  public void close() throws Exception {
    running = false;
    consumer.join(2000);
    redisson.shutdown();
  }
}
