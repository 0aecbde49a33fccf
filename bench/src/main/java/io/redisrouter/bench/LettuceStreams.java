package io.redisrouter.bench;

import io.lettuce.core.Consumer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * The ceiling: raw Lettuce, no router. Pipelined XADD (auto-flush off, flushed in batches) on one connection, one
 * consumer thread reading with XREADGROUP COUNT 500 BLOCK 100 on its own connection, XACK of each batch on a third.
 * At-least-once like the router (consumer group, acked), without deadlines, retries or dead letters.
 */
final class LettuceStreams implements Scenario {
  static final RedisCodec<String, byte[]> CODEC = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

  private RedisClient client;
  private StatefulRedisConnection<String, byte[]> producer;
  private RedisAsyncCommands<String, byte[]> produce;
  private Thread consumer;
  private volatile boolean running = true;
  private String stream;

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) {
    client = RedisClient.create(redis.uri());
    stream = key;
    producer = client.connect(CODEC);
    producer.sync().xgroupCreate(XReadArgs.StreamOffset.latest(stream), "g", XGroupCreateArgs.Builder.mkstream());
    producer.setAutoFlushCommands(false);
    produce = producer.async();
    StatefulRedisConnection<String, byte[]> reader = client.connect(CODEC);
    StatefulRedisConnection<String, byte[]> acker = client.connect(CODEC);
    consumer = new Thread(() -> {
      RedisCommands<String, byte[]> read = reader.sync();
      RedisAsyncCommands<String, byte[]> ack = acker.async();
      Consumer<String> me = Consumer.from("g", "c1");
      while (running) {
        List<StreamMessage<String, byte[]>> batch = read.xreadgroup(me, XReadArgs.Builder.count(500).block(100),
            XReadArgs.StreamOffset.lastConsumed(stream));
        if (batch.isEmpty()) continue;
        String[] ids = new String[batch.size()];
        for (int i = 0; i < ids.length; i++) {
          StreamMessage<String, byte[]> m = batch.get(i);
          ids[i] = m.getId();
          tracker.delivered(m.getBody().get("p"));
        }
        ack.xack(stream, "g", ids);
      }
      reader.close();
      acker.close();
    }, "lettuce-consumer");
    consumer.start();
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    return produce.xadd(stream, Map.of("p", payload));
  }

  @Override
  public void flush() {
    producer.flushCommands();
  }

  @Override
  public void close() throws Exception {
    running = false;
    consumer.join(2000);
    producer.close();
    client.shutdown();
  }
}
