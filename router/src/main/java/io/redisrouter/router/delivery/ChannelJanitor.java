package io.redisrouter.router.delivery;

import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.XTrimArgs;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.RedisUnavailableException;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Applies a reliable channel's retention (max age, max length) without ever dropping an entry that a consumer group
 * still needs: the trim point is capped at the oldest pending entry of every group and at every group's
 * last-delivered id (Redis 7.0 trimming drops pending entries otherwise; 8.2's ACKED mode is not assumed).
 */
public final class ChannelJanitor {
  private ChannelJanitor() {}

  private enum Tick { TRIM }

  private record Trimmed(long removed, String threshold, Throwable error) {}

  public static Behavior<Object> create(String channel, ChannelPolicy policy, RedisHandle handle) {
    String stream = RedisKeys.stream(channel);
    return Behaviors.supervise(Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(Tick.TRIM, policy.trimInterval());
      boolean[] busy = {false};
      return Behaviors.receive(Object.class)
          .onMessageEquals(Tick.TRIM, () -> {
            if (busy[0]) return Behaviors.same();
            busy[0] = true;
            ctx.pipeToSelf(trim(handle, stream, policy), (t, e) -> e != null ? new Trimmed(0, null, e) : t);
            return Behaviors.same();
          })
          .onMessage(Trimmed.class, t -> {
            busy[0] = false;
            if (t.error() != null) {
              ctx.getLog().debug("retention of channel '{}' failed: {}", channel, SubscriptionActor.describe(t.error()));
            } else if (t.removed() > 0) {
              ctx.getLog().debug("retention of channel '{}': trimmed {} entries below {}", channel, t.removed(),
                  t.threshold());
            }
            return Behaviors.same();
          })
          .build();
    }))).onFailure(Exception.class, SupervisorStrategy.restartWithBackoff(Duration.ofSeconds(1),
        Duration.ofSeconds(30), 0.2));
  }

  /** Computes the safe trim point and trims to it; completes with what was removed. */
  static CompletionStage<Trimmed> trim(RedisHandle handle, String stream, ChannelPolicy policy) {
    long maxAgeMs = policy.retentionMaxAge().toMillis();
    long maxLength = policy.retentionMaxLength();
    // max-age 0 means "keep until acknowledged": trim whatever every group is done with, and nothing while there
    // is no group at all (no one has read those entries)
    boolean untilAcked = maxAgeMs <= 0;
    RedisAsyncCommands<String, byte[]> cmd;
    try {
      cmd = handle.commands();
    } catch (RedisUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
    CompletionStage<String> byPolicy =
        CompletableFuture.completedFuture((System.currentTimeMillis() - Math.max(0, maxAgeMs)) + "-0");
    if (maxLength > 0) {
      byPolicy = byPolicy.thenCompose(ageId -> cmd.xlen(stream).thenCompose(len -> {
        long excess = len - maxLength;
        if (excess <= 0) return CompletableFuture.completedFuture(ageId);
        // the first entry to keep is the excess-th one from the start
        return cmd.xrange(stream, Range.create("-", "+"), Limit.from(Math.min(excess + 1, 10_000)))
            .thenApply(msgs -> {
              if (msgs.isEmpty()) return ageId;
              String keepFrom = msgs.get(msgs.size() - 1).getId();
              return ageId == null ? keepFrom : maxId(ageId, keepFrom);
            });
      }));
    }
    return byPolicy.thenCompose(policyId -> {
      if (policyId == null) return CompletableFuture.completedFuture(new Trimmed(0, null, null));
      return safeLimit(cmd, stream).thenCompose(safe -> {
        if (safe == null && untilAcked) return CompletableFuture.completedFuture(new Trimmed(0, null, null));
        String threshold = safe == null ? policyId : minId(policyId, safe);
        return cmd.xtrim(stream, new XTrimArgs().minId(threshold).approximateTrimming())
            .thenApply(n -> new Trimmed(n, threshold, null));
      });
    });
  }

  /**
   * The highest id below which every group is done: min over groups of (oldest pending id, or the id after the
   * last delivered one when nothing is pending). {@code null} when there are no groups.
   */
  private static CompletionStage<String> safeLimit(RedisAsyncCommands<String, byte[]> cmd, String stream) {
    return cmd.xinfoGroups(stream).thenCompose(groups -> {
      List<CompletableFuture<String>> limits = new ArrayList<>();
      for (Object g : groups) {
        Map<String, Object> info = asMap(g);
        String name = String.valueOf(info.get("name"));
        long pending = info.get("pending") instanceof Number n ? n.longValue() : 0;
        String lastDelivered = String.valueOf(info.get("last-delivered-id"));
        if (pending > 0) {
          limits.add(cmd.xpending(stream, name).toCompletableFuture().thenApply(p -> {
            Range.Boundary<String> lower = p.getMessageIds().getLower();
            return lower.getValue() != null ? lower.getValue() : lastDelivered;
          }));
        } else {
          limits.add(CompletableFuture.completedFuture(nextId(lastDelivered)));
        }
      }
      return CompletableFuture.allOf(limits.toArray(CompletableFuture[]::new)).thenApply(v -> {
        String min = null;
        for (CompletableFuture<String> l : limits) {
          String id = l.join(); // completed: allOf finished
          min = min == null ? id : minId(min, id);
        }
        return min;
      });
    }).exceptionally(e -> {
      String m = String.valueOf(SubscriptionActor.unwrap(e).getMessage());
      if (m.contains("no such key")) return null;
      throw e instanceof RuntimeException re ? re : new RuntimeException(e);
    });
  }

  private static Map<String, Object> asMap(Object group) {
    java.util.HashMap<String, Object> m = new java.util.HashMap<>();
    if (group instanceof List<?> l) {
      for (int i = 0; i + 1 < l.size(); i += 2) {
        Object k = l.get(i);
        Object v = l.get(i + 1);
        String key = k instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : String.valueOf(k);
        Object val = v instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : v;
        m.put(key, val);
      }
    } else if (group instanceof Map<?, ?> mm) {
      mm.forEach((k, v) -> m.put(String.valueOf(k),
          v instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : v));
    }
    return m;
  }

  static String nextId(String id) {
    long[] p = parse(id);
    return p[0] + "-" + (p[1] + 1);
  }

  static String minId(String a, String b) {
    return compare(a, b) <= 0 ? a : b;
  }

  static String maxId(String a, String b) {
    return compare(a, b) >= 0 ? a : b;
  }

  static int compare(String a, String b) {
    long[] x = parse(a);
    long[] y = parse(b);
    int c = Long.compareUnsigned(x[0], y[0]);
    return c != 0 ? c : Long.compareUnsigned(x[1], y[1]);
  }

  private static long[] parse(String id) {
    int dash = id.indexOf('-');
    if (dash < 0) return new long[] {Long.parseUnsignedLong(id), 0};
    return new long[] {Long.parseUnsignedLong(id.substring(0, dash)), Long.parseUnsignedLong(id.substring(dash + 1))};
  }
}
