package io.redisrouter.bench;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;

import java.util.concurrent.CompletionStage;

/** Raw PUBLISH / SUBSCRIBE with Lettuce (at-most-once), the peer of the router's broadcast mode. */
final class LettucePubSub implements Scenario {
  private RedisClient client;
  private StatefulRedisConnection<String, byte[]> pub;
  private RedisAsyncCommands<String, byte[]> publish;
  private StatefulRedisPubSubConnection<String, byte[]> sub;
  private String channel;

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) {
    client = RedisClient.create(redis.uri());
    channel = key;
    sub = client.connectPubSub(LettuceStreams.CODEC);
    sub.addListener(new RedisPubSubAdapter<>() {
      @Override
      public void message(String ch, byte[] message) {
        tracker.delivered(message);
      }
    });
    sub.sync().subscribe(channel);
    pub = client.connect(LettuceStreams.CODEC);
    pub.setAutoFlushCommands(false);
    publish = pub.async();
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    return publish.publish(channel, payload);
  }

  @Override
  public void flush() {
    pub.flushCommands();
  }

  @Override
  public void close() {
    sub.close();
    pub.close();
    client.shutdown();
  }
}
