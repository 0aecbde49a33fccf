package io.redisrouter.router.delivery;

import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.XTrimArgs;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.ScriptOutputType;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.config.ConsumerSettings;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.internal.Supervision;
import io.redisrouter.router.redis.GroupInfo;
import io.redisrouter.router.redis.Scripts;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.RedisUnavailableException;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Applies a reliable channel's retention (max age, max length) without ever dropping an entry that a consumer group
 * still needs: the trim point is capped at the oldest pending entry of every group and at every group's
 * last-delivered id (Redis 7.0 trimming drops pending entries otherwise; 8.2's ACKED mode is not assumed).
 */
public final class ChannelJanitor {
  private ChannelJanitor() {}

  private enum Tick { TRIM, TOUCHED }

  /**
   * One round's outcome: {@code removed} entries trimmed below {@code threshold}; {@code pinnedBy} names the consumer
   * group that held retention back (entries older than max-age kept for it), or null; {@code idle}: the channel's
   * stream and dead letters are empty.
   */
  record Trimmed(long removed, String threshold, String pinnedBy, boolean idle, long deadTrimmed,
      long consumersRemoved, String oldest, String oldestDead, Throwable error) {
    static Trimmed failed(Throwable e) {
      return new Trimmed(0, null, null, false, 0, 0, null, null, e);
    }
  }

  /**
   * When ageing alone makes the next round necessary (as {@link System#nanoTime}): the oldest entry left passes
   * max-age, or the oldest dead letter dead-letter-max-age; {@link #NEVER} when neither can (empty, no age
   * limit, or retention pinned by a group: then its reads and acks, which touch the channel, move it on).
   */
  static long agesOutAt(Trimmed t, ChannelPolicy policy, ConsumerSettings consumerSettings, long nowNanos,
      long nowMillis) {
    long due = NEVER;
    if (t.oldest() != null && t.pinnedBy() == null && !policy.retentionMaxAge().isZero()) {
      due = earlier(due, atMillis(idMillis(t.oldest()) + policy.retentionMaxAge().toMillis(), policy.retentionMaxAge(),
          policy, consumerSettings, nowNanos, nowMillis));
    }
    if (t.oldestDead() != null && !policy.deadLetterMaxAge().isZero()) {
      due = earlier(due, atMillis(idMillis(t.oldestDead()) + policy.deadLetterMaxAge().toMillis(),
          policy.deadLetterMaxAge(), policy, consumerSettings, nowNanos, nowMillis));
    }
    return due;
  }

  /**
   * When {@code wallMillis} comes, as a {@link System#nanoTime}. One already past is an entry that approximate
   * trimming left (it goes with the rest of its radix-tree node): looked at again after max-age (at least
   * trim-interval, at most quiet-trim-interval), not at every tick.
   */
  private static long atMillis(long wallMillis, Duration maxAge, ChannelPolicy policy,
      ConsumerSettings consumerSettings, long nowNanos, long nowMillis) {
    long inMillis = wallMillis - nowMillis;
    if (inMillis <= 0) {
      long later = Math.min(consumerSettings.quietTrimInterval().toMillis(), maxAge.toMillis());
      inMillis = Math.max(policy.trimInterval().toMillis(), later);
    }
    return nowNanos + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(inMillis);
  }

  private static long idMillis(String id) {
    int dash = id.indexOf('-');
    return Long.parseUnsignedLong(dash < 0 ? id : id.substring(0, dash));
  }

  /** "No round needed" among the {@link System#nanoTime} values of the next round. */
  static final long NEVER = Long.MAX_VALUE;

  /** The earlier of two {@link System#nanoTime} values, either of which may be {@link #NEVER}. */
  static long earlier(long a, long b) {
    if (a == NEVER) return b;
    if (b == NEVER) return a;
    return a - b <= 0 ? a : b;
  }

  /** Rounds in a row a channel must be found empty before it is reported idle. */
  static final int IDLE_ROUNDS = 2;

  /**
   * The janitor of a reliable channel: every {@code trim-interval} after something happened on the channel on this
   * node ({@link Wakeups#touch}), else every {@code quiet-trim-interval}, it trims the stream (never below what a group
   * still needs), trims the dead letters by their own retention, removes group consumers that hold nothing and have
   * been idle for {@code idle-consumer-removal}, says when a group pins retention (WARN once, and the
   * {@code retention_pinned} gauge), and calls {@code onIdle} while the channel has been empty for
   * {@value #IDLE_ROUNDS} rounds (its owner stops it when nothing on the node uses the channel). Restarted with
   * backoff after a failure ({@link Supervision#restarting}: logged and counted).
   */
  public static Behavior<Object> create(String channel, ChannelPolicy policy, ConsumerSettings consumerSettings,
      RedisHandle handle, Wakeups activity, RouterMetrics metrics,
      Runnable onIdle) {
    String stream = RedisKeys.stream(channel);
    return Supervision.restarting("janitor of channel '" + channel + "'", metrics, ctx -> Behaviors.withTimers(
        timers -> {
          // no periodic tick: one timer for the next round, set by what makes a round necessary (something happening
          // on the channel here, an entry ageing out, a consumer becoming removable, quiet-trim-interval), so that a
          // quiet channel's janitor costs nothing between rounds
          org.apache.pekko.actor.typed.ActorRef<Object> self = ctx.getSelf();
          activity.listen(channel, () -> self.tell(Tick.TOUCHED));
          long trimNanos = Math.max(1, policy.trimInterval().toNanos());
          long quietNanos = consumerSettings.quietTrimInterval().toNanos();
          boolean[] busy = {false};
          int[] idleRounds = {0};
          long[] roundAt = {NEVER}; // when the timer fires
          java.util.function.LongConsumer schedule = at -> {
            long now = System.nanoTime();
            if (at == NEVER || earlier(roundAt[0], at) != at) return; // none needed, or one as early is set already
            roundAt[0] = at;
            timers.startSingleTimer(Tick.TRIM, Duration.ofNanos(Math.max(0, at - now)));
          };
          // the first round at a random point of trim-interval: thousands of janitors started together (a node
          // subscribing to many channels at once) spread their commands instead of sending them in one burst that would
          // overflow the connection's command queue
          schedule.accept(System.nanoTime() + java.util.concurrent.ThreadLocalRandom.current().nextLong(trimNanos));
          return Behaviors.receive(Object.class)
              .onMessage(SubscriptionActor.InjectedFailure.class, f -> {
                throw new IllegalStateException("injected failure: " + f.why());
              })
              .onMessageEquals(Tick.TOUCHED, () -> {
                // something happened here, or a look was asked for (see Wakeups#touchAt): a round within trim-interval
                long due = activity.dueAt(channel);
                long now = System.nanoTime();
                long at = activity.isTouched(channel) ? now + trimNanos : NEVER;
                if (due != NEVER) at = earlier(at, due - now < 0 ? now : due);
                schedule.accept(at);
                return Behaviors.same();
              })
              .onMessageEquals(Tick.TRIM, () -> {
                roundAt[0] = NEVER;
                if (busy[0]) return Behaviors.same(); // the round in progress sets the next
                activity.takeTouched(channel);
                // at most RedisHandle.JANITOR_ROUNDS_AT_ONCE rounds per Redis instance run at once: a round that finds
                // them all taken comes again a trim-interval later
                if (!handle.janitorRounds().tryAcquire()) {
                  schedule.accept(System.nanoTime() + trimNanos);
                  return Behaviors.same();
                }
                busy[0] = true;
                CompletionStage<Trimmed> r;
                try {
                  r = round(handle, channel, policy, consumerSettings);
                } catch (RuntimeException e) {
                  r = CompletableFuture.failedFuture(e);
                }
                ctx.pipeToSelf(r.whenComplete((t, e) -> handle.janitorRounds().release()),
                    (t, e) -> e != null ? Trimmed.failed(e) : t);
                return Behaviors.same();
              })
              .onMessage(Trimmed.class, t -> {
                busy[0] = false;
                long done = System.nanoTime();
                if (t.error() != null) {
                  schedule.accept(done + trimNanos); // tried again
                  ctx.getLog().debug("retention of channel '{}' failed: {}", channel,
                      SubscriptionActor.describe(t.error()));
                  return Behaviors.same();
                }
                if (t.removed() > 0 || t.deadTrimmed() > 0 || t.consumersRemoved() > 0) {
                  ctx.getLog()
                      .debug("retention of channel '{}': trimmed {} entries below {}, {} dead letters, removed {}"
                          + " idle consumers", channel, t.removed(), t.threshold(), t.deadTrimmed(),
                          t.consumersRemoved());
                }
                String was = metrics.retentionPinned().get(channel);
                if (t.pinnedBy() != null && !t.pinnedBy().equals(was)) {
                  metrics.retentionPinned(channel, t.pinnedBy());
                  ctx.getLog().warn("retention of channel '{}' is held back by consumer group '{}': entries older than"
                      + " max-age ({}) are kept until that group reads and acknowledges them (it lags, or holds pending"
                      + " entries); the stream grows meanwhile", channel, t.pinnedBy(), policy.retentionMaxAge());
                } else if (t.pinnedBy() == null && was != null) {
                  metrics.retentionPinned(channel, null);
                  ctx.getLog().info("retention of channel '{}' is no longer held back by consumer group '{}'", channel,
                      was);
                }
                idleRounds[0] = t.idle() ? idleRounds[0] + 1 : 0;
                // the next round: a trim-interval on while something happens here, retention is held back by a group
                // (how long that lasts is reported) or the channel is empty but not yet for IDLE_ROUNDS rounds (an
                // unused empty channel lets its janitor go); else when an entry ages out, a consumer becomes removable,
                // or after quiet-trim-interval
                long next = earlier(done + quietNanos, agesOutAt(t, policy, consumerSettings, done,
                    System.currentTimeMillis()));
                long asked = activity.dueAt(channel);
                if (asked != NEVER) next = earlier(next, asked - done < 0 ? done : asked);
                if (activity.isTouched(channel) || t.pinnedBy() != null || (t.idle() && idleRounds[0] < IDLE_ROUNDS)) {
                  next = earlier(next, done + trimNanos);
                }
                schedule.accept(next);
                if (idleRounds[0] >= IDLE_ROUNDS) onIdle.run();
                return Behaviors.same();
              })
              .onSignal(org.apache.pekko.actor.typed.PostStop.class, sig -> {
                activity.unlisten(channel);
                metrics.retentionPinned(channel, null);
                return Behaviors.same();
              })
              .onSignal(org.apache.pekko.actor.typed.PreRestart.class, sig -> {
                // the next incarnation listens again and takes its first round within trim-interval; a round in flight
                // releases its slot when it completes (its answer goes to dead letters)
                activity.unlisten(channel);
                return Behaviors.same();
              })
              .build();
        }));
  }

  /** One round: the stream's retention, then the dead letters', the idle consumers and whether the channel is empty. */
  static CompletionStage<Trimmed> round(RedisHandle handle, String channel, ChannelPolicy policy,
      ConsumerSettings consumerSettings) {
    RedisAsyncCommands<String, byte[]> cmd;
    try {
      cmd = handle.commands();
    } catch (RedisUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
    String stream = RedisKeys.stream(channel);
    String dead = RedisKeys.deadLetters(channel);
    // the groups read once per round: for the trim limit and for the idle consumers
    return GroupInfo.of(cmd, stream).thenCompose(groups -> trim(handle, stream, policy, groups)
        .thenCompose(t -> trimDead(cmd, dead, policy)
            .thenCompose(deadTrimmed -> removeIdleConsumers(handle, cmd, stream, groups, consumerSettings)
                .thenCompose(removed -> first(cmd, stream)
                    .thenCompose(oldest -> first(cmd, dead).thenApply(oldestDead -> new Trimmed(t.removed(),
                        t.threshold(), t.pinnedBy(), oldest == null && oldestDead == null,
                        deadTrimmed, removed, oldest, oldestDead, null)))))));
  }

  /** The id of the stream's first entry, or null when it is empty (or missing). */
  private static CompletionStage<String> first(RedisAsyncCommands<String, byte[]> cmd, String stream) {
    return cmd.xrange(stream, Range.create("-", "+"), Limit.from(1))
        .thenApply(l -> l.isEmpty() ? null : l.get(0).getId());
  }

  /** The dead letters' own retention: exact trimming (they are few, and a cap should hold as written). */
  private static CompletionStage<Long> trimDead(RedisAsyncCommands<String, byte[]> cmd, String dead,
      ChannelPolicy policy) {
    CompletionStage<Long> byAge = policy.deadLetterMaxAge().isZero()
        ? CompletableFuture.completedFuture(0L)
        : cmd.xtrim(dead, new XTrimArgs().minId((System.currentTimeMillis() - policy.deadLetterMaxAge().toMillis())
            + "-0"));
    if (policy.deadLetterMaxLength() <= 0) return byAge;
    return byAge.thenCompose(n -> cmd.xtrim(dead, new XTrimArgs().maxlen(policy.deadLetterMaxLength()))
        .thenApply(m -> n + m));
  }

  /**
   * Removes, in every group of the stream, the consumers that hold nothing and have been idle for
   * {@code idle-consumer-removal} (a script checks both and removes at once, so an entry read meanwhile is never
   * dropped with its consumer). The consumers of this node's running subscriptions are kept; an idle live
   * consumer of another node may be removed (it holds nothing) and comes back with its next read.
   */
  private static CompletionStage<Long> removeIdleConsumers(RedisHandle handle, RedisAsyncCommands<String, byte[]> cmd,
      String stream, List<GroupInfo> groups,
      ConsumerSettings consumerSettings) {
    List<CompletableFuture<Long>> removals = new ArrayList<>();
    for (GroupInfo g : groups) {
      List<byte[]> args = new ArrayList<>();
      args.add(g.name().getBytes(StandardCharsets.UTF_8));
      args.add(Long.toString(consumerSettings.idleConsumerRemoval().toMillis()).getBytes(StandardCharsets.US_ASCII));
      for (String live : handle.liveConsumers(stream, g.name())) args.add(live.getBytes(StandardCharsets.UTF_8));
      CompletionStage<Long> r = handle.evalScript(cmd, Scripts.REMOVE_IDLE_CONSUMERS, ScriptOutputType.INTEGER,
          new String[]{stream}, args.toArray(byte[][]::new));
      removals.add(r.toCompletableFuture());
    }
    return io.redisrouter.router.internal.Stages.all(removals)
        .thenApply(l -> l.stream().mapToLong(Long::longValue).sum());
  }

  /** Computes the safe trim point and trims to it; completes with what was removed. */
  static CompletionStage<Trimmed> trim(RedisHandle handle, String stream, ChannelPolicy policy,
      List<GroupInfo> groups) {
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
    CompletionStage<String> byPolicy = CompletableFuture
        .completedFuture((System.currentTimeMillis() - Math.max(0, maxAgeMs)) + "-0");
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
      if (policyId == null) return CompletableFuture.completedFuture(trimmed(0, null, null));
      return safeLimit(cmd, stream, groups).thenCompose(limit -> {
        String safe = limit == null ? null : limit.id();
        if (safe == null && untilAcked) return CompletableFuture.completedFuture(trimmed(0, null, null));
        String threshold = safe == null ? policyId : minId(policyId, safe);
        boolean heldBack = !untilAcked && safe != null && compare(safe, policyId) < 0;
        return cmd.xtrim(stream, new XTrimArgs().minId(threshold).approximateTrimming()).thenCompose(n -> {
          if (!heldBack) return CompletableFuture.completedFuture(trimmed(n, threshold, null));
          // held back only if what is left starts before the age limit
          return cmd.xrange(stream, Range.create("-", "+"), Limit.from(1))
              .thenApply(first -> trimmed(n, threshold, !first.isEmpty() && compare(first.get(0).getId(), policyId) < 0
                  ? limit.group()
                  : null));
        });
      });
    });
  }

  private static Trimmed trimmed(long removed, String threshold, String pinnedBy) {
    return new Trimmed(removed, threshold, pinnedBy, false, 0, 0, null, null, null);
  }

  /** The trim limit of the groups, and the group that sets it. */
  private record GroupLimit(String id, String group) {}

  /**
   * The highest id below which every group is done: min over groups of (oldest pending id, or the id after the
   * last delivered one when nothing is pending). {@code null} when there are no groups.
   */
  private static CompletionStage<GroupLimit> safeLimit(RedisAsyncCommands<String, byte[]> cmd, String stream,
      List<GroupInfo> groups) {
    List<CompletableFuture<String>> limits = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (GroupInfo g : groups) {
      String name = g.name();
      long pending = g.pending();
      String lastDelivered = g.lastDeliveredId();
      names.add(name);
      if (pending > 0) {
        limits.add(cmd.xpending(stream, name).toCompletableFuture().thenApply(p -> {
          Range.Boundary<String> lower = p.getMessageIds().getLower();
          return lower.getValue() != null ? lower.getValue() : lastDelivered;
        }));
      } else {
        limits.add(CompletableFuture.completedFuture(nextId(lastDelivered)));
      }
    }
    return io.redisrouter.router.internal.Stages.all(limits).thenApply(ids -> {
      GroupLimit min = null;
      for (int i = 0; i < ids.size(); i++) {
        String id = ids.get(i);
        if (min == null || compare(id, min.id()) < 0) min = new GroupLimit(id, names.get(i));
      }
      return min;
    });
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
    if (dash < 0) return new long[]{Long.parseUnsignedLong(id), 0};
    return new long[]{Long.parseUnsignedLong(id.substring(0, dash)), Long.parseUnsignedLong(id.substring(dash + 1))};
  }
}
