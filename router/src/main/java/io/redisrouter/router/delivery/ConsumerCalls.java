package io.redisrouter.router.delivery;

import io.lettuce.core.Consumer;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XAutoClaimArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.models.stream.ClaimedMessages;
import io.lettuce.core.models.stream.PendingMessage;
import io.lettuce.core.models.stream.PendingMessages;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisUnavailableException;
import io.redisrouter.router.redis.Scripts;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * The Redis calls of one consumer of one consumer group (a {@link SubscriptionActor} incarnation): each returns a
 * stage, failed with {@link RedisUnavailableException} while the instance is down, so that the actor only pipes
 * results to itself.
 */
final class ConsumerCalls {
  /** What a read found; {@code head}: the stream's last entry id just before it ("0-0" empty), or null. */
  record Read(List<StreamMessage<String, byte[]>> messages, String head) {}

  /**
   * A take-over scan's entries, with their delivery counts ({@code countsComplete}: every entry still pending for
   * this consumer in the claimed range is in {@code counts}) and where the scan goes on ({@code next}).
   */
  record Claimed(List<StreamMessage<String, byte[]>> messages, Map<String, Long> counts, boolean countsComplete,
      String next) {}

  private final RedisHandle handle;
  private final String stream;
  private final String deadStream;
  private final String group;
  private final String consumer;
  private final Consumer<String> groupConsumer;

  ConsumerCalls(RedisHandle handle, String stream, String deadStream, String group, String consumer) {
    this.handle = handle;
    this.stream = stream;
    this.deadStream = deadStream;
    this.group = group;
    this.consumer = consumer;
    this.groupConsumer = Consumer.from(group, consumer);
  }

  private <T> CompletionStage<T> call(Function<RedisAsyncCommands<String, byte[]>, CompletionStage<T>> f) {
    try {
      return f.apply(handle.commands());
    } catch (RedisUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /**
   * New entries ({@code XREADGROUP >}), at most {@code count}. A verifying read first asks for the stream's last
   * entry (the one connection runs the two in order): when the read then finds nothing more, the group has read at
   * least up to that entry.
   */
  CompletionStage<Read> read(int count, boolean verify) {
    return call(cmd -> {
      CompletionStage<String> head = verify
          ? cmd.xrevrange(stream, Range.create("-", "+"), Limit.from(1))
              .thenApply(l -> l.isEmpty() ? "0-0" : l.get(0).getId())
          : CompletableFuture.completedFuture(null);
      CompletionStage<List<StreamMessage<String, byte[]>>> msgs = cmd.xreadgroup(groupConsumer,
          XReadArgs.Builder.count(count), XReadArgs.StreamOffset.lastConsumed(stream));
      return msgs.thenCombine(head.exceptionally(e -> null), Read::new);
    });
  }

  CompletionStage<Long> ack(String... ids) {
    return call(cmd -> cmd.xack(stream, group, ids));
  }

  /** Moves the entry to the dead letters and acknowledges it, only while this consumer holds it (one script). */
  CompletionStage<Object> deadLetter(String streamId, byte[] body, io.redisrouter.protocol.DeadLetter.Reason reason,
      int attempts,
      String error) {
    return call(cmd -> handle.evalScript(cmd, Scripts.DEAD_LETTER, ScriptOutputType.VALUE,
        new String[]{stream, deadStream},
        bytes(group), bytes(streamId), body, bytes(reason.code()), bytes(Integer.toString(attempts)),
        bytes(error == null ? "" : error), bytes(group), bytes(Long.toString(System.currentTimeMillis())),
        bytes(consumer)));
  }

  /** See {@link #claimOwned(RedisHandle, String, String, String, String, String...)}, for this consumer. */
  CompletionStage<List<Object>> claimOwned(String mode, String... ids) {
    return call(cmd -> claimOwned(handle, stream, group, consumer, mode, ids));
  }

  /** The group's pending summary (XPENDING): is there anything another consumer holds? */
  CompletionStage<PendingMessages> pendingSummary() {
    return call(cmd -> cmd.xpending(stream, group));
  }

  /** One step of a take-over scan (XAUTOCLAIM from {@code cursor}), with the delivery counts of what it took. */
  CompletionStage<Claimed> autoClaim(String cursor, int count, Duration minIdle) {
    return call(cmd -> cmd.xautoclaim(stream, new XAutoClaimArgs<String>().consumer(groupConsumer)
        .minIdleTime(minIdle).startId(cursor).count(count))
        .thenCompose(cm -> deliveryCounts(cmd, cm)));
  }

  private CompletionStage<Claimed> deliveryCounts(RedisAsyncCommands<String, byte[]> cmd,
      ClaimedMessages<String, byte[]> cm) {
    List<StreamMessage<String, byte[]>> msgs = cm.getMessages();
    if (msgs.isEmpty()) {
      return CompletableFuture.completedFuture(new Claimed(msgs, Map.of(), false, cm.getId()));
    }
    String lo = msgs.get(0).getId();
    String hi = msgs.get(msgs.size() - 1).getId();
    long limit = msgs.size() * 2L + 16;
    return cmd.xpending(stream, groupConsumer, Range.create(lo, hi), Limit.from(limit))
        .thenApply(pending -> {
          Map<String, Long> counts = new HashMap<>();
          for (PendingMessage p : pending) counts.put(p.getId(), p.getRedeliveryCount());
          return new Claimed(msgs, counts, pending.size() < limit, cm.getId());
        });
  }

  /**
   * Claims {@code ids} for {@code consumer} only where it still holds them (see {@link Scripts#CLAIM_OWNED} for the
   * modes: JUSTID, COUNT, SET). Completes with the ids owned. Throws {@link RedisUnavailableException} while the
   * instance is down.
   */
  static CompletionStage<List<Object>> claimOwned(RedisHandle handle, String stream, String group, String consumer,
      String mode, String... ids) {
    byte[][] args = new byte[ids.length + 3][];
    args[0] = bytes(group);
    args[1] = bytes(consumer);
    args[2] = bytes(mode);
    for (int i = 0; i < ids.length; i++) args[i + 3] = bytes(ids[i]);
    return handle.evalScript(handle.commands(), Scripts.CLAIM_OWNED, ScriptOutputType.MULTI, new String[]{stream},
        args);
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
