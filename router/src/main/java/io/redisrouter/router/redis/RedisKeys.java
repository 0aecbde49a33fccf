package io.redisrouter.router.redis;

/**
 * Redis key names of a channel. Every key of a channel shares the hash tag {@code {channel}}, so the keys a
 * Lua script touches together live in one slot when Redis runs as a cluster.
 */
public final class RedisKeys {
  private RedisKeys() {}

  /** The stream that carries a reliable channel. */
  public static String stream(String channel) {
    return "rr:{" + channel + "}:stream";
  }

  /** The channel's dead-letter stream. */
  public static String deadLetters(String channel) {
    return "rr:{" + channel + "}:dead";
  }

  /** The dedup marker of a publisher-supplied message id. */
  public static String dedup(String channel, String messageId) {
    return "rr:{" + channel + "}:dedup:" + messageId;
  }

  /** The Redis pub/sub channel that carries a broadcast channel. */
  public static String broadcast(String channel) {
    return "rr:bc:" + channel;
  }

  /**
   * The pub/sub channel that rings when entries were written to a reliable channel's stream (the message is the
   * writing node's id): subscriptions on other nodes read at once instead of waiting for their next poll.
   */
  public static String doorbell(String channel) {
    return "rr:wake:" + channel;
  }

  public static boolean isDoorbell(String redisChannel) {
    return redisChannel.startsWith("rr:wake:");
  }

  /** Hash of the subscriptions created over the HTTP API: field = subscription name, value = its JSON. */
  public static final String SUBSCRIPTIONS = "rr:subscriptions";

  /**
   * Hash of the HTTP subscriptions deleted through the API: field = subscription name, value = JSON with the deleted
   * definition's {@code createdAt} and the {@code deletedAt} time. A definition missing from {@link #SUBSCRIPTIONS}
   * without a tombstone was lost by Redis, not deleted: the nodes that know it write it back.
   */
  public static final String SUBSCRIPTION_TOMBSTONES = "rr:subscriptions:deleted";

  /** Field of a stream entry that holds the encoded envelope. */
  public static final String FIELD_ENVELOPE = "e";
}
