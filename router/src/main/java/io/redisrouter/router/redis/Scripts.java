package io.redisrouter.router.redis;

/** Lua scripts the router runs. Each one is atomic on the server, so a reply lost to a reconnect cannot half-apply it. */
public final class Scripts {
  private Scripts() {}

  /**
   * Deduplicated publish. KEYS[1] stream, KEYS[2] dedup marker; ARGV[1] dedup window in ms, ARGV[2] envelope.
   * Returns {1, streamId} when written, {0, streamIdOfTheFirst} for a duplicate.
   */
  public static final String DEDUP_XADD =
      "local prev = redis.call('GET', KEYS[2])\n"
          + "if prev then return {0, prev} end\n"
          + "local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])\n"
          + "redis.call('SET', KEYS[2], id, 'PX', ARGV[1])\n"
          + "return {1, id}\n";

  /**
   * Dead-letter one entry and acknowledge it on the source stream, atomically.
   * KEYS[1] source stream, KEYS[2] dead-letter stream; ARGV[1] group, ARGV[2] source entry id,
   * ARGV[3] envelope (may be empty), ARGV[4] reason, ARGV[5] attempts, ARGV[6] last error, ARGV[7] subscription,
   * ARGV[8] time in ms. Returns the dead-letter entry id.
   */
  public static final String DEAD_LETTER =
      "local id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[3], 'reason', ARGV[4], 'attempts', ARGV[5],"
          + " 'error', ARGV[6], 'sub', ARGV[7], 'at', ARGV[8], 'src', ARGV[2])\n"
          + "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
          + "return id\n";
}
