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
}
