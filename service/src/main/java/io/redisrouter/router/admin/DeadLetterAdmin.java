package io.redisrouter.router.admin;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.consume.MessageView;
import io.redisrouter.router.redis.RedisFailures;
import io.redisrouter.router.redis.RedisKeys;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A channel's dead letters in Redis (no HTTP here): pages, one entry, delete, purge, and replay of one or all.
 *
 * <p>Replay publishes the dead letter's payload, headers, content type and partition key again through
 * {@link RouterRuntime#publish} with a fresh deadline (the channel's time-to-live, or the given one) and the message
 * id {@code replay-<dead-letter id>}: a replay that is repeated (a client retry, or a delete that failed) is
 * deduplicated instead of delivered twice. The dead letter is deleted only after its publish was accepted.
 * Replay-all replays what is there when it starts (a message dead-lettered again meanwhile is not replayed again), in
 * batches of {@value #REPLAY_BATCH}, and stops at the first rejection that is not the message's fault.
 */
public final class DeadLetterAdmin {
  private static final Logger log = LoggerFactory.getLogger(DeadLetterAdmin.class);

  /** Message id prefix of replayed messages. */
  public static final String REPLAY_ID_PREFIX = "replay-";
  /** Dead letters replayed concurrently by a replay-all (one XRANGE page; then XDEL of the accepted ones). */
  static final int REPLAY_BATCH = 100;
  /** Failures a replay-all report lists at most. */
  static final int LISTED_FAILURES = 10;
  /** Counts and deletes a dead-letter stream atomically (no entry added in between is lost uncounted). */
  private static final String PURGE_SCRIPT = "local n = redis.call('XLEN', KEYS[1]) redis.call('DEL', KEYS[1]) return n";

  private final RouterRuntime runtime;

  public DeadLetterAdmin(RouterRuntime runtime) {
    this.runtime = runtime;
  }

  /**
   * One dead letter; {@code envelope} is null (and {@code undecodable} true) when its message cannot be read. The
   * envelope holds the payload only where it was asked for (one entry), else only its size (pages).
   */
  public record View(String id, String subscription, String reason, int attempts, String lastError, String at,
      MessageView envelope, @JsonInclude(JsonInclude.Include.NON_NULL) Boolean undecodable) {
    static View of(DeadLetter d, boolean withPayload) {
      return new View(d.deadLetterId(), d.subscription(), d.reason() == null ? null : d.reason().code(), d.attempts(),
          d.lastError(), d.at().toString(),
          d.envelope() == null ? null : MessageView.of(d.envelope(), withPayload), d.envelope() == null ? true : null);
    }
  }

  /** A page of dead letters, oldest first; {@code nextAfter} is the {@code after} of the next page, or null. */
  public record Page(String channel, long total, List<View> items, String nextAfter) {}

  /** The outcome of replaying one dead letter. */
  public sealed interface ReplayOne {
    /** No such dead letter. */
    record NotFound() implements ReplayOne {}

    /** Its message cannot be read, so it cannot be replayed. */
    record Undecodable() implements ReplayOne {}

    /** The publish was not accepted: the dead letter stays. */
    record NotPublished(PublishReply reply) implements ReplayOne {}

    /** Published; {@code deleted} false (with the reason) when the dead letter could not be deleted after. */
    record Replayed(DeadLetter deadLetter, PublishReply.Accepted accepted, String deleteError) implements ReplayOne {}
  }

  /** One dead letter a replay-all could not publish, and the answer it got. */
  public record Failure(String deadLetterId, PublishReply reply) {}

  /** What a replay-all did; {@code remaining} is null when the count could not be read. */
  public record ReplayAllReport(String channel, int replayed, int duplicates, int failed, int skipped, int notDeleted,
      Long remaining, String stoppedBecause, List<Failure> failures) {
    public boolean complete() {
      return stoppedBecause == null && failed == 0 && notDeleted == 0;
    }
  }

  // ---- read -------------------------------------------------------------------------------------------------------

  /** Up to {@code limit} dead letters after the id {@code after} (from the oldest when empty). */
  public CompletionStage<Page> page(String channel, Optional<String> after, int limit) {
    String dead = RedisKeys.deadLetters(channel);
    return runtime.onCommands(channel, cmd -> {
      Range<String> range = after.isEmpty()
          ? Range.create("-", "+")
          : Range.from(Range.Boundary.excluding(after.get()), Range.Boundary.unbounded());
      CompletableFuture<List<StreamMessage<String, byte[]>>> page = cmd.xrange(dead, range, Limit.from(limit))
          .toCompletableFuture();
      CompletableFuture<Long> total = cmd.xlen(dead).toCompletableFuture();
      return CompletableFuture.allOf(page, total).thenApply(v -> {
        List<StreamMessage<String, byte[]>> msgs = page.join();
        List<View> items = msgs.stream().map(m -> View.of(RedisRouter.toDeadLetter(m), false)).toList();
        String next = msgs.size() == limit ? msgs.get(msgs.size() - 1).getId() : null;
        return new Page(channel, total.join(), items, next);
      });
    });
  }

  /** One dead letter with its payload, or empty. */
  public CompletionStage<Optional<View>> get(String channel, String id) {
    return runtime.onCommands(channel, cmd -> readOne(cmd, channel, id)).thenApply(d -> d.map(x -> View.of(x, true)));
  }

  private static CompletionStage<Optional<DeadLetter>> readOne(RedisAsyncCommands<String, byte[]> cmd,
      String channel, String id) {
    return cmd.xrange(RedisKeys.deadLetters(channel), Range.create(id, id), Limit.from(1))
        .thenApply(msgs -> msgs.isEmpty() ? Optional.empty() : Optional.of(RedisRouter.toDeadLetter(msgs.get(0))));
  }

  // ---- delete -----------------------------------------------------------------------------------------------------

  /** Deletes one dead letter; false when there was none. */
  public CompletionStage<Boolean> delete(String channel, String id) {
    return runtime.onCommands(channel, cmd -> cmd.xdel(RedisKeys.deadLetters(channel), id)).thenApply(n -> n > 0);
  }

  /** Deletes every dead letter of the channel; completes with how many there were. */
  public CompletionStage<Long> purge(String channel) {
    return runtime.onCommands(channel, cmd -> cmd.<Long>eval(PURGE_SCRIPT, ScriptOutputType.INTEGER,
        RedisKeys.deadLetters(channel))).thenApply(n -> {
          log.info("dead letters of channel '{}' purged: {} entries", channel, n);
          return n;
        });
  }

  // ---- replay -----------------------------------------------------------------------------------------------------

  /** The publish that replays a dead letter: its message, a fresh deadline, an id that makes a repeat a duplicate. */
  static PublishRequest replayRequest(String channel, DeadLetter d, Duration ttl) {
    Envelope e = d.envelope();
    return new PublishRequest(channel, REPLAY_ID_PREFIX + d.deadLetterId(), e.partitionKey(), e.payload(),
        e.contentType(), e.headers(), ttl, null);
  }

  /** Replays one dead letter with the time-to-live {@code ttl} (null: the channel's). */
  public CompletionStage<ReplayOne> replayOne(String channel, String id, Duration ttl) {
    return runtime.onCommands(channel, cmd -> readOne(cmd, channel, id)).thenCompose(found -> {
      if (found.isEmpty()) return done(new ReplayOne.NotFound());
      DeadLetter d = found.get();
      if (d.envelope() == null) return done(new ReplayOne.Undecodable());
      return runtime.publish(replayRequest(channel, d, ttl)).thenCompose(reply -> {
        if (!(reply instanceof PublishReply.Accepted a)) return done(new ReplayOne.NotPublished(reply));
        return deleteReplayed(channel, List.of(id)).thenApply(err -> new ReplayOne.Replayed(d, a, err));
      });
    });
  }

  /** XDEL of replayed dead letters, on the current connection; completes with null or the error's description. */
  private CompletionStage<String> deleteReplayed(String channel, List<String> ids) {
    return runtime.onCommands(channel, cmd -> cmd.xdel(RedisKeys.deadLetters(channel), ids.toArray(String[]::new)))
        .handle((n, e) -> e == null ? null : RedisFailures.describe(e));
  }

  /** Progress of one replay-all; touched by one stage at a time (each runs after the previous completed). */
  private static final class Progress {
    final String channel;
    final Duration ttl;
    final int max;
    final String end;
    int processed;
    int replayed;
    int duplicates;
    int failed;
    int skipped;
    int notDeleted;
    String stoppedBecause;
    final List<Failure> failures = new ArrayList<>();

    Progress(String channel, Duration ttl, int max, String end) {
      this.channel = channel;
      this.ttl = ttl;
      this.max = max;
      this.end = end;
    }

    ReplayAllReport report(Long remaining) {
      return new ReplayAllReport(channel, replayed, duplicates, failed, skipped, notDeleted, remaining,
          stoppedBecause, List.copyOf(failures));
    }
  }

  /** Replays up to {@code max} of the dead letters there now, oldest first. */
  public CompletionStage<ReplayAllReport> replayAll(String channel, Duration ttl, int max) {
    String dead = RedisKeys.deadLetters(channel);
    return runtime.onCommands(channel, cmd -> cmd.xrevrange(dead, Range.create("-", "+"), Limit.from(1)))
        .thenCompose(last -> {
          if (last.isEmpty()) return done(new Progress(channel, ttl, max, null).report(0L));
          Progress p = new Progress(channel, ttl, max, last.get(0).getId());
          return batch(p, null).thenCompose(v -> runtime.onCommands(channel, cmd -> cmd.xlen(dead))
              .handle((n, e) -> p.report(e == null ? n : null)));
        });
  }

  private CompletionStage<Void> batch(Progress p, String after) {
    int count = Math.min(REPLAY_BATCH, p.max - p.processed);
    if (count <= 0) {
      p.stoppedBecause = "max";
      return done(null);
    }
    Range<String> range = after == null
        ? Range.create("-", p.end)
        : Range.from(Range.Boundary.excluding(after), Range.Boundary.including(p.end));
    return runtime.onCommands(p.channel, cmd -> cmd.xrange(RedisKeys.deadLetters(p.channel), range, Limit.from(count)))
        .handle((msgs, err) -> {
          if (err != null) {
            p.stoppedBecause = "redis-unavailable: " + RedisFailures.describe(err);
            return DeadLetterAdmin.<Void>done(null);
          }
          if (msgs.isEmpty()) return DeadLetterAdmin.<Void>done(null);
          String lastId = msgs.get(msgs.size() - 1).getId();
          return replayPage(p, msgs).thenCompose(more -> more && msgs.size() == count
              ? batch(p, lastId)
              : done(null));
        }).thenCompose(x -> x);
  }

  /** Publishes one page, then deletes what was accepted; completes with whether to go on. */
  private CompletionStage<Boolean> replayPage(Progress p, List<StreamMessage<String, byte[]>> msgs) {
    List<DeadLetter> letters = new ArrayList<>(msgs.size());
    List<CompletableFuture<PublishReply>> replies = new ArrayList<>(msgs.size());
    for (StreamMessage<String, byte[]> m : msgs) {
      DeadLetter d = RedisRouter.toDeadLetter(m);
      p.processed++;
      if (d.envelope() == null) {
        p.skipped++;
        continue;
      }
      letters.add(d);
      replies.add(runtime.publish(replayRequest(p.channel, d, p.ttl)).toCompletableFuture());
    }
    return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).thenCompose(v -> {
      List<String> accepted = new ArrayList<>();
      for (int i = 0; i < letters.size(); i++) {
        PublishReply r = replies.get(i).join(); // completed: allOf finished
        if (r instanceof PublishReply.Accepted a) {
          accepted.add(letters.get(i).deadLetterId());
          p.replayed++;
          if (a.duplicate()) p.duplicates++;
          continue;
        }
        p.failed++;
        if (p.failures.size() < LISTED_FAILURES) p.failures.add(new Failure(letters.get(i).deadLetterId(), r));
        if (r instanceof PublishReply.Rejected rej && rej.reason() != PublishReply.RejectReason.INVALID
            && p.stoppedBecause == null) {
          p.stoppedBecause = rej.reason().code(); // overloaded, unavailable, shutting down: retry later
        }
      }
      CompletionStage<String> deleted = accepted.isEmpty() ? done(null) : deleteReplayed(p.channel, accepted);
      return deleted.thenApply(delErr -> {
        if (delErr != null) {
          p.notDeleted += accepted.size();
          if (p.stoppedBecause == null) p.stoppedBecause = "redis-unavailable: " + delErr;
        }
        return p.stoppedBecause == null;
      });
    });
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  private static <T> CompletionStage<T> done(T value) {
    return CompletableFuture.completedFuture(value);
  }
}
