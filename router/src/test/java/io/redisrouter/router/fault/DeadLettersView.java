package io.redisrouter.router.fault;

import io.redisrouter.testkit.RedisServer;

import java.util.List;

/** Public view of {@link DeadLetters} for tests of other packages. */
public final class DeadLettersView {
  private DeadLettersView() {}

  /** Message id to the reason it was dead-lettered, oldest first. */
  public static java.util.Map<String, String> reasons(RedisServer redis, String channel) {
    return DeadLetters.reasons(redis, channel);
  }

  /** Message ids in the channel's dead-letter stream, oldest first. */
  public static List<String> ids(RedisServer redis, String channel) {
    return List.copyOf(DeadLetters.reasons(redis, channel).keySet());
  }

  /** Subscription to (message id to reason): what each subscription dead-lettered. */
  public static java.util.Map<String, java.util.Map<String, String>> bySubscription(RedisServer redis,
      String channel) {
    return DeadLetters.bySubscription(redis, channel);
  }

  /** The message ids a channel's stream holds, read straight from Redis. */
  public static java.util.Set<String> streamMessageIds(RedisServer redis, String channel) {
    java.util.Set<String> out = new java.util.HashSet<>();
    List<?> entries = (List<?>) redis.callBinary("XRANGE", io.redisrouter.router.redis.RedisKeys.stream(channel),
        "-", "+");
    for (Object o : entries) {
      List<?> fields = (List<?>) ((List<?>) o).get(1);
      for (int f = 0; f + 1 < fields.size(); f += 2) {
        String name = new String((byte[]) fields.get(f), java.nio.charset.StandardCharsets.UTF_8);
        if (io.redisrouter.router.redis.RedisKeys.FIELD_ENVELOPE.equals(name)) {
          out.add(io.redisrouter.protocol.EnvelopeCodec.decode((byte[]) fields.get(f + 1)).id());
        }
      }
    }
    return out;
  }
}
