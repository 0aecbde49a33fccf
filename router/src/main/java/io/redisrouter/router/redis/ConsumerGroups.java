package io.redisrouter.router.redis;

import io.lettuce.core.RedisBusyException;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * Creating a consumer group where it continues: at the last entry this node read or claimed in it (see
 * {@link RedisHandle#groupPosition}), so that a group that Redis lost (a restart without persistence, an AOF
 * {@code everysec} loss, a failover) is made again without skipping what was written after that entry; at the end of
 * the stream ({@code $}) only when this node knows no position (a new subscription). Never blocks.
 */
public final class ConsumerGroups {
  private ConsumerGroups() {}

  /**
   * What {@link #ensure} did. {@code created}: the group was not there and was made at {@code at} (an entry id, or
   * {@code $}); otherwise it existed already. {@code position}: the last entry id known for the group after the call
   * (this node's, else the group's {@code last-delivered-id} as Redis reports it; {@code null} when unknown).
   */
  public record Ensured(boolean created, String at, String position) {}

  /** Makes sure {@code group} exists on {@code stream} (MKSTREAM), created at this node's known position or {@code $}. */
  public static CompletionStage<Ensured> ensure(RedisHandle handle, String stream, String group) {
    String known = handle.groupPosition(stream, group);
    XReadArgs.StreamOffset<String> offset = known == null
        ? XReadArgs.StreamOffset.latest(stream)
        : XReadArgs.StreamOffset.from(stream, known);
    CompletionStage<Boolean> created;
    try {
      created = handle.commands().xgroupCreate(offset, group, XGroupCreateArgs.Builder.mkstream(true))
          .handle((ok, err) -> {
            if (err == null) return true;
            if (unwrap(err) instanceof RedisBusyException) return false; // BUSYGROUP: it is there
            throw err instanceof CompletionException ce ? ce : new CompletionException(err);
          });
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    String at = known == null ? "$" : known;
    if (known != null) return created.thenApply(c -> new Ensured(c, at, known));
    // no position known here yet: learn the group's own, so that a later loss of the group resumes from there
    return created.thenCompose(c -> lastDelivered(handle, stream, group)
        .exceptionally(e -> null)
        .thenApply(pos -> {
          if (pos != null) handle.recordGroupPosition(stream, group, pos);
          return new Ensured(c, at, pos);
        }));
  }

  /** The group's {@code last-delivered-id} (XINFO GROUPS), or {@code null} when there is no such group. */
  static CompletionStage<String> lastDelivered(RedisHandle handle, String stream, String group) {
    return handle.commands().xinfoGroups(stream).thenApply(reply -> {
      GroupInfo g = GroupInfo.find(GroupInfo.parse(reply), group);
      return g == null ? null : g.lastDeliveredId();
    });
  }

  /** Whether {@code t} (or its cause) is Redis' {@code NOGROUP}: the stream or the consumer group is not there. */
  public static boolean isNoGroup(Throwable t) {
    Throwable c = unwrap(t);
    return c != null && c.getMessage() != null && c.getMessage().startsWith("NOGROUP");
  }

  private static Throwable unwrap(Throwable t) {
    Throwable c = t;
    while (c instanceof CompletionException && c.getCause() != null) c = c.getCause();
    return c;
  }
}
