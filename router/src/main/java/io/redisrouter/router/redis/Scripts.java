package io.redisrouter.router.redis;

import java.util.List;

/** Lua scripts the router runs. Each one is atomic on the server, so a reply lost to a reconnect cannot half-apply it. */
public final class Scripts {
  private Scripts() {}

  /**
   * Deduplicated publish. KEYS[1] stream, KEYS[2] dedup marker; ARGV[1] dedup window in ms, ARGV[2] envelope,
   * ARGV[3] (optional) {@code 1} when a duplicate must still make a write: the marker is set again to its value (its
   * expiry kept), so that the connection's replication offset passes the first write and a {@code WAIT} after it
   * confirms that one too, whoever made it. Returns {1, streamId} when written, {0, streamIdOfTheFirst} for a
   * duplicate.
   */
  public static final String DEDUP_XADD = "local prev = redis.call('GET', KEYS[2])\n"
      + "if prev then\n"
      + "  if ARGV[3] == '1' then redis.call('SET', KEYS[2], prev, 'KEEPTTL') end\n"
      + "  return {0, prev}\n"
      + "end\n"
      + "local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])\n"
      + "redis.call('SET', KEYS[2], id, 'PX', ARGV[1])\n"
      + "return {1, id}\n";

  /**
   * Dead-letter one entry and acknowledge it on the source stream, atomically, only while this consumer owns it.
   * KEYS[1] source stream, KEYS[2] dead-letter stream; ARGV[1] group, ARGV[2] source entry id,
   * ARGV[3] envelope (may be empty), ARGV[4] reason, ARGV[5] attempts, ARGV[6] last error, ARGV[7] subscription,
   * ARGV[8] time in ms, ARGV[9] consumer. Returns the dead-letter entry id, or {@code false} (nil) when the entry
   * is not pending for that consumer: another consumer took it over after the ack timeout, or it was acknowledged
   * meanwhile; then nothing is written, so that no entry ends both acknowledged and dead-lettered.
   */
  public static final String DEAD_LETTER = "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[9])\n"
      + "if #p == 0 then return false end\n"
      + "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return false end\n"
      + "return redis.call('XADD', KEYS[2], '*', 'e', ARGV[3], 'reason', ARGV[4], 'attempts', ARGV[5],"
      + " 'error', ARGV[6], 'sub', ARGV[7], 'at', ARGV[8], 'src', ARGV[2])\n";

  /**
   * Claims entries only from the consumer that holds them: a lease renewal or a retry must never take an entry
   * that another consumer took over (after this one stalled past the ack timeout). KEYS[1] stream; ARGV[1] group,
   * ARGV[2] consumer, ARGV[3] the mode: {@code JUSTID} (a renewal: resets the idle time, keeps the delivery count),
   * {@code COUNT} (a retry: also counts one more delivery), each with the entry ids from ARGV[4]; or {@code SET}
   * (a renewal that also sets each delivery count) with pairs from ARGV[4]: entry id, delivery count (-1 keeps it).
   * The counts say how often an entry really reached a subscriber: one read but still waiting for a busy subscriber
   * holds one less, so that a consumer taking it over after a crash does not count an attempt that never was.
   * {@code RELEASE} is {@code SET} for entries no subscriber has (they waited for one): ARGV[4] is an idle time in ms
   * given to them, past the ack timeout, so that another consumer takes them over at once; pairs from ARGV[5].
   * Returns the ids still owned (and so claimed); the others are no longer this consumer's.
   */
  public static final String CLAIM_OWNED = "local owned = {}\n"
      + "local release = ARGV[3] == 'RELEASE'\n"
      + "local set = ARGV[3] == 'SET' or release\n"
      + "local step = 1\n"
      + "if set then step = 2 end\n"
      + "local first = 4\n"
      + "if release then first = 5 end\n"
      + "for i = first, #ARGV, step do\n"
      + "  local id = ARGV[i]\n"
      + "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])\n"
      + "  if #p > 0 then\n"
      + "    local r\n"
      + "    if ARGV[3] == 'COUNT' then\n"
      + "      r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)\n"
      + "    elseif release and tonumber(ARGV[i + 1]) >= 0 then\n"
      + "      r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[4], 'RETRYCOUNT', ARGV[i + 1],"
      + " 'JUSTID')\n"
      + "    elseif release then\n"
      + "      r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[4], 'JUSTID')\n"
      + "    elseif set and tonumber(ARGV[i + 1]) >= 0 then\n"
      + "      r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'RETRYCOUNT', ARGV[i + 1], 'JUSTID')\n"
      + "    else\n"
      + "      r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')\n"
      + "    end\n"
      + "    if #r > 0 then owned[#owned + 1] = id end\n"
      + "  end\n"
      + "end\n"
      + "return owned\n";

  /**
   * Removes the consumers of a group that hold nothing and have been idle long enough, checked and removed in one
   * step (XGROUP DELCONSUMER drops a consumer's pending entries: one that read an entry meanwhile must stay).
   * KEYS[1] stream; ARGV[1] group, ARGV[2] minimum idle time in ms, ARGV[3..] consumers to keep (live on the
   * calling node). Returns how many were removed.
   */
  public static final String REMOVE_IDLE_CONSUMERS = "local keep = {}\n"
      + "for i = 3, #ARGV do keep[ARGV[i]] = true end\n"
      + "local removed = 0\n"
      + "for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do\n"
      + "  local f = {}\n"
      + "  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end\n"
      + "  if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) and not keep[f['name']] then\n"
      + "    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])\n"
      + "    removed = removed + 1\n"
      + "  end\n"
      + "end\n"
      + "return removed\n";

  /** Every script, loaded (SCRIPT LOAD) on each connect. */
  public static final List<String> ALL = List.of(DEDUP_XADD, DEAD_LETTER, CLAIM_OWNED, REMOVE_IDLE_CONSUMERS);
}
