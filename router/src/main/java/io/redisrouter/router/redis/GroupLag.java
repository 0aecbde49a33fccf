package io.redisrouter.router.redis;

import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.async.RedisAsyncCommands;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A consumer group's lag (entries of the stream after its last-delivered id, not yet read by it) on every supported
 * Redis. The version-dependent {@code XINFO GROUPS} fields the router reads, in one place:
 *
 * <table>
 *   <caption>XINFO GROUPS fields that depend on the Redis version</caption>
 *   <tr><th>field</th><th>since</th><th>where the server lacks it (6.2) or answers nil</th></tr>
 *   <tr><td>{@code lag}</td><td>7.0</td><td>counted by the router: the entries after {@code last-delivered-id},
 *       counted inside Redis by a script bounded at {@link #COUNT_BOUND}; above the bound {@code lag} is
 *       {@code null} and {@code lagUnknown} says why</td></tr>
 *   <tr><td>{@code entries-read}</td><td>7.0</td><td>{@code null} with {@code entriesReadUnknown}: 6.2 keeps no
 *       count to compute it from</td></tr>
 * </table>
 */
public final class GroupLag {
  /** The most entries one statistics request counts where Redis does not report the lag. */
  public static final int COUNT_BOUND = 10_000;

  /** {@code entriesReadUnknown} where XINFO GROUPS has no (or a nil) {@code entries-read}. */
  public static final String ENTRIES_READ_UNKNOWN = "this redis does not report entries-read (redis before 7.0, or after deletions in the group's range)";

  private static final String COUNT_AFTER = """
      local start = ARGV[1]
      local r = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', tonumber(ARGV[2]))
      return #r
      """;

  /** The lag, or {@code null} with the reason it is unknown. */
  public record Lag(Long value, String unknown) {}

  private GroupLag() {}

  /**
   * The lag of the group {@code info} describes: the server's {@code lag} where it reports one, else counted up to
   * {@link #COUNT_BOUND}.
   */
  public static CompletionStage<Lag> of(RedisAsyncCommands<String, byte[]> cmd, String stream, GroupInfo info) {
    if (info.lag() != null) {
      return CompletableFuture.completedFuture(new Lag(info.lag(), null));
    }
    String lastId = info.lastDeliveredId();
    String start = lastId == null || "0-0".equals(lastId) ? "-" : "(" + lastId;
    return cmd.<Long>eval(COUNT_AFTER, ScriptOutputType.INTEGER, new String[]{stream},
        start.getBytes(StandardCharsets.UTF_8),
        Integer.toString(COUNT_BOUND + 1).getBytes(StandardCharsets.UTF_8))
        .thenApply(count -> count <= COUNT_BOUND
            ? new Lag(count, null)
            : new Lag(null, (info.lagReported()
                ? "redis answered no lag for this group"
                : "redis before 7.0 does not report consumer-group lag") + " and more than " + COUNT_BOUND
                + " entries follow its last-delivered id, more than the router counts per request"));
  }
}
