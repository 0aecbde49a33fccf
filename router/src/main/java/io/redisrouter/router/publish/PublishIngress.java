package io.redisrouter.router.publish;

import io.redisrouter.config.BroadcastDelivery;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.config.IngressSettings;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.delivery.Wakeups;
import io.redisrouter.router.redis.CommandBatch;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.RedisUnavailableException;
import io.redisrouter.router.redis.Scripts;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.stream.ActorAttributes;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.Supervision;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.concurrent.ExecutionContext;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The bounded publish ingress: a Pekko Streams queue of fixed size whose elements are batched while Redis is busy
 * and written with pipelined XADDs (one flush per batch). A full queue rejects at once; a reply is sent only once
 * Redis confirmed the write (and, for a channel with {@code durability = replica(N)}, N replicas confirmed it: see
 * {@link ReplicaConfirmation}), or when the message's deadline passed before it could be written.
 *
 * <p>Size (about 470 lines, above the ~400 of the layout rule): one stream and its write path (batch, dedup, XADD
 * pipeline, replies, retry with backoff until the deadline) whose steps share the pending batch and its replies;
 * splitting the write path from the queue would pass that state across files without making either testable alone.
 */
public final class PublishIngress {
  private static final Logger log = LoggerFactory.getLogger(PublishIngress.class);
  private static final Duration RETRY_AFTER_OVERLOAD = Duration.ofMillis(200);
  private static final Duration RETRY_AFTER_UNAVAILABLE = Duration.ofSeconds(1);
  /** ARGV[3] of {@link Scripts#DEDUP_XADD}: a duplicate writes its marker again (see there). */
  private static final byte[] DUPLICATE_WRITES = {'1'};

  /** Memory is freed by consumers and retention at their pace: retrying a full instance sooner only adds load. */
  private static final Duration RETRY_AFTER_FULL = Duration.ofSeconds(2);

  /**
   * One message waiting to be written.
   *
   * @param dedup whether the message id came from the publisher and must be deduplicated
   * @param reply called once with the outcome, on any thread (keep it non-blocking)
   */
  public record Pending(Envelope envelope, ChannelPolicy policy, boolean dedup, Consumer<PublishReply> reply) {}

  /** Outcome of {@link #offer(Pending)}. */
  public enum Offer {
    ENQUEUED,
    /** The ingress queue is full. */
    OVERLOADED,
    /** An until-received broadcast, and {@code ingress.until-received-max} of them wait for a receiver already. */
    UNTIL_RECEIVED_FULL, CLOSED
  }

  private final BoundedSourceQueue<Pending> queue;
  private final CompletionStage<Done> done;
  private final Function<String, RedisHandle> handles;
  private final Wakeups wakeups;
  private final RouterMetrics metrics;
  private final Scheduler scheduler;
  private final ExecutionContext ec;
  private final long dedupWindowMs;
  private final int queueSize;
  private final Duration connectWait;
  private final DeadlineGuard guard;
  private final ReplicaConfirmation replicas;
  /** Until-received broadcasts waiting for a receiver now (each holds one of {@link #untilReceivedMax}). */
  private final java.util.concurrent.atomic.AtomicInteger untilReceived = new java.util.concurrent.atomic.AtomicInteger();
  private final int untilReceivedMax;

  public PublishIngress(IngressSettings settings, Duration dedupWindow, Duration connectWait,
      Function<String, RedisHandle> handles, Wakeups wakeups, RouterMetrics metrics, Scheduler scheduler,
      ExecutionContext ec,
      Materializer materializer) {
    this.handles = handles;
    this.connectWait = connectWait;
    this.guard = new DeadlineGuard(scheduler, ec, metrics);
    this.replicas = new ReplicaConfirmation(metrics, RETRY_AFTER_UNAVAILABLE);
    this.untilReceivedMax = settings.untilReceivedMax();
    this.wakeups = wakeups;
    this.metrics = metrics;
    this.scheduler = scheduler;
    this.ec = ec;
    this.dedupWindowMs = Math.max(1, dedupWindow.toMillis());
    this.queueSize = settings.queueSize();
    var pair = Source.<Pending>queue(settings.queueSize())
        .batch(settings.batchSize(), p -> {
          List<Pending> l = new ArrayList<>(16);
          l.add(p);
          return l;
        }, (l, p) -> {
          l.add(p);
          return l;
        })
        .mapAsyncUnordered(settings.maxBatchesInFlight(), this::writeBatchSafely)
        // a batch that failed in a way writeBatchSafely did not foresee is dropped (its messages are answered by
        // their deadline guard), never the stream: the ingress goes on with the next batch
        .withAttributes(ActorAttributes.withSupervisionStrategy(Supervision.getResumingDecider()))
        .toMat(Sink.ignore(), org.apache.pekko.stream.javadsl.Keep.both())
        .run(materializer);
    this.queue = pair.first();
    this.done = pair.second();
    done.whenComplete((d, e) -> {
      if (e == null) return;
      if (completing || e instanceof org.apache.pekko.stream.AbruptStageTerminationException) {
        log.debug("publish ingress stream ended with the router: {}", e.toString());
      } else {
        log.error("publish ingress stream failed; publishes are refused from now on", e);
      }
    });
  }

  /** {@link #complete()} was called: the stream ends because the router stops. */
  private volatile boolean completing;

  /** Whether the ingress takes publishes (false once its stream ended: shut down, or failed). */
  public boolean isRunning() {
    return !done.toCompletableFuture().isDone();
  }

  /** Why the ingress stopped, or null while it runs. */
  public String stoppedReason() {
    CompletableFuture<Done> f = done.toCompletableFuture();
    if (!f.isDone()) return null;
    try {
      f.getNow(null);
      return "completed (shutting down)";
    } catch (CompletionException | java.util.concurrent.CancellationException e) {
      return "failed: " + (e.getCause() != null ? e.getCause() : e);
    }
  }

  /**
   * {@link #writeBatch} that never fails: an exception (a bug, a value a codec cannot handle) answers every message
   * of the batch not answered yet with {@code unavailable}, is logged and counted, and the ingress goes on.
   */
  private CompletionStage<Done> writeBatchSafely(List<Pending> batch) {
    CompletionStage<Done> f;
    try {
      f = writeBatch(batch);
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    return f.exceptionally(e -> {
      Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      metrics.recordFailureRecovered();
      log.error("a publish batch of {} messages failed; answering them unavailable and going on", batch.size(), c);
      for (Pending p : batch) failed(p, c);
      return Done.getInstance();
    });
  }

  /** Answers one message whose write failed with an exception (no-op when it was answered already). */
  private void failed(Pending p, Throwable e) {
    if (p.reply() instanceof DeadlineGuard.Guarded g && g.answered()) return;
    metrics.recordPublishRejected();
    p.reply().accept(new PublishReply.Rejected(p.envelope().id(), PublishReply.RejectReason.UNAVAILABLE,
        "the router failed to write the message (" + e.getClass().getSimpleName() + "); nothing was written, retry"
            + " later",
        List.of(), RETRY_AFTER_UNAVAILABLE));
  }

  /**
   * Offers a message; never blocks. An enqueued message is answered exactly once, shortly after its deadline at the latest
   * (see {@link DeadlineGuard}); a refused one is not answered here (the caller answers with the offer's outcome).
   */
  public Offer offer(Pending p) {
    if (isUntilReceived(p) && untilReceived.get() >= untilReceivedMax) return Offer.UNTIL_RECEIVED_FULL;
    DeadlineGuard.Guarded g = guard.guard(p.envelope(), p.policy().redisInstance(), p.reply());
    QueueOfferResult r = queue.offer(new Pending(p.envelope(), p.policy(), p.dedup(), g));
    if (r == QueueOfferResult.enqueued()) return Offer.ENQUEUED;
    guard.cancel(g);
    if (r == QueueOfferResult.dropped()) return Offer.OVERLOADED;
    return Offer.CLOSED;
  }

  /** Messages waiting in the queue now. */
  public int depth() {
    return queue.size();
  }

  public int capacity() {
    return queueSize;
  }

  private static boolean isUntilReceived(Pending p) {
    return p.policy().mode() == ChannelMode.BROADCAST
        && p.policy().broadcastDelivery() == BroadcastDelivery.UNTIL_RECEIVED;
  }

  /** Until-received broadcasts waiting for a receiver now. */
  public int untilReceivedWaiting() {
    return untilReceived.get();
  }

  /** The bound of {@link #untilReceivedWaiting()} ({@code ingress.until-received-max}). */
  public int untilReceivedMax() {
    return untilReceivedMax;
  }

  /** The time a publisher rejected for overload should wait. */
  public static Duration retryAfterOverload() {
    return RETRY_AFTER_OVERLOAD;
  }

  /** Stops taking messages; what is queued is still written. Completes when the last batch is done. */
  public CompletionStage<Done> complete() {
    completing = true;
    try {
      queue.complete();
    } catch (IllegalStateException alreadyDone) {
      // the stream already ended (its materializer stopped with the router)
    }
    return done;
  }

  private CompletionStage<Done> writeBatch(List<Pending> batch) {
    // while an instance is (re)connecting, hold the batch (and so, by backpressure, the queue) until it has been
    // down for the connect timeout instead of rejecting at once (a reconnect is a blip); an instance down for longer
    // is an outage, and its messages are refused at once (unavailable, with Retry-After) rather than each waiting
    // the connect timeout. The messages' deadlines are checked after the wait.
    List<CompletableFuture<Void>> waits = null;
    Set<String> seen = null;
    for (Pending p : batch) {
      String instance = p.policy().redisInstance();
      RedisHandle h;
      try {
        h = handles.apply(instance);
      } catch (RuntimeException e) {
        continue; // answered by write, message by message
      }
      if (!h.isUp()) {
        if (seen == null) {
          seen = new HashSet<>(2);
          waits = new ArrayList<>(2);
        }
        Duration left = connectWait.minus(h.downFor());
        if (seen.add(instance) && left.compareTo(Duration.ZERO) > 0) {
          waits.add(h.awaitUp(left).toCompletableFuture());
        }
      }
    }
    if (waits == null || waits.isEmpty()) {
      return write(batch);
    }
    return CompletableFuture.allOf(waits.toArray(CompletableFuture[]::new))
        .handle((v, e) -> null)
        .thenCompose(v -> write(batch));
  }

  private CompletionStage<Done> write(List<Pending> batch) {
    Instant now = Instant.now();
    List<CompletableFuture<?>> writes = new ArrayList<>(batch.size());
    Map<RedisHandle, CommandBatch> toFlush = new IdentityHashMap<>(2);
    Set<String> written = new HashSet<>(4);
    Map<RedisHandle, RedisHandle.Live> lives = new IdentityHashMap<>(2);
    Map<RedisHandle, ReplicaConfirmation.Group> replicated = new IdentityHashMap<>(2);
    for (Pending p : batch) {
      try {
        writeOne(p, now, writes, toFlush, written, lives, replicated);
      } catch (RuntimeException ex) {
        metrics.recordFailureRecovered();
        log.error("writing publish '{}' to channel '{}' failed; answering it unavailable", p.envelope().id(),
            p.envelope().channel(), ex);
        failed(p, ex);
      }
    }
    for (CommandBatch b : toFlush.values()) {
      b.dispatch(); // one write and flush per instance; the connection's other users are not held back
    }
    if (writes.isEmpty()) {
      return CompletableFuture.completedFuture(Done.getInstance());
    }
    return CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).handle((v, err) -> {
      written.forEach(wakeups::wake);
      return Done.getInstance();
    }).thenCompose(d -> replicas.confirm(replicated.values()));
  }

  /**
   * Answers a written message: at once, or, for a channel with {@code durability = replica(N)}, after its batch's
   * {@code WAIT} ({@link ReplicaConfirmation}).
   */
  private void answerWritten(Pending p, ReplicaConfirmation.Group group, PublishReply.Accepted a) {
    if (group != null) {
      group.add(p, a);
      return;
    }
    if (a.duplicate()) {
      metrics.recordPublishDuplicate();
    } else {
      metrics.recordPublishAccepted();
      metrics.published(p.envelope().channel()).increment();
    }
    p.reply().accept(a);
  }

  private void writeOne(Pending p, Instant now, List<CompletableFuture<?>> writes,
      Map<RedisHandle, CommandBatch> toFlush, Set<String> written,
      Map<RedisHandle, RedisHandle.Live> lives, Map<RedisHandle, ReplicaConfirmation.Group> replicated) {
    Envelope e = p.envelope();
    if (e.isExpired(now)) {
      metrics.recordPublishExpired();
      p.reply().accept(new PublishReply.Expired(e.id(),
          "the deadline " + e.deadline() + " passed while the message waited in the ingress queue", 0));
      return;
    }
    RedisHandle handle = handles.apply(p.policy().redisInstance());
    RedisHandle.Live live;
    try {
      // read once per batch and instance: the connection and the script digests of one incarnation, even if the
      // connections drop while the batch is written (its commands then fail, and are answered, one by one)
      live = lives.computeIfAbsent(handle, RedisHandle::connected);
    } catch (RedisUnavailableException ex) {
      rejectUnavailable(p, ex);
      return;
    }
    CommandBatch batch = toFlush.computeIfAbsent(handle, h -> new CommandBatch(h, live));
    if (p.reply() instanceof DeadlineGuard.Guarded g && !g.markSent()) {
      return; // its deadline passed and the guard answered it: it must not be written now
    }
    byte[] body = EnvelopeCodec.encode(e);
    // replica(N): answered after the batch's WAIT on the connection this write goes on (broadcasts never are)
    ReplicaConfirmation.Group toConfirm = p.policy().durability().waitsForReplicas()
        && p.policy().mode() == ChannelMode.RELIABLE
            ? replicated.computeIfAbsent(handle, h -> new ReplicaConfirmation.Group(live))
            : null;
    if (p.policy().mode() == ChannelMode.BROADCAST) {
      writes.add(batch.publish(RedisKeys.broadcast(e.channel()), body)
          .handle((receivers, err) -> {
            onBroadcastResult(p, handle, body, 1, receivers, err);
            return null;
          }));
    } else if (p.dedup()) {
      byte[] window = Long.toString(dedupWindowMs).getBytes(StandardCharsets.US_ASCII);
      String[] keys = {RedisKeys.stream(e.channel()), RedisKeys.dedup(e.channel(), e.id())};
      // a duplicate to confirm on replicas writes its marker again: the WAIT then covers the first write too
      CompletionStage<List<Object>> f = toConfirm == null
          ? batch.evalScript(Scripts.DEDUP_XADD, keys, window, body)
          : batch.evalScript(Scripts.DEDUP_XADD, keys, window, body, DUPLICATE_WRITES);
      written.add(e.channel());
      batch.ringAfter(e.channel(), wakeups.token());
      writes.add(f.toCompletableFuture().handle((r, err) -> {
        if (err != null) {
          rejectUnavailable(p, err);
        } else {
          boolean fresh = ((Number) r.get(0)).longValue() == 1L;
          String id = new String((byte[]) r.get(1), StandardCharsets.US_ASCII);
          notFull(p);
          answerWritten(p, toConfirm, new PublishReply.Accepted(e.id(), id, !fresh, 1, -1));
        }
        return null;
      }));
    } else {
      written.add(e.channel());
      batch.ringAfter(e.channel(), wakeups.token());
      writes.add(batch.xadd(RedisKeys.stream(e.channel()), RedisKeys.FIELD_ENVELOPE, body)
          .handle((id, err) -> {
            if (err != null) {
              rejectUnavailable(p, err);
            } else {
              notFull(p);
              answerWritten(p, toConfirm, new PublishReply.Accepted(e.id(), id, false, 1, -1));
            }
            return null;
          }));
    }
  }

  private void rejectUnavailable(Pending p, Throwable err) {
    if (io.redisrouter.router.redis.RedisFailures.isOutOfMemory(err)) {
      rejectFull(p);
      return;
    }
    metrics.recordPublishRejected();
    Throwable c = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
    String msg = c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
    // a timed-out command is still executed when a slow or stopped Redis catches up: its outcome is unknown
    String outcome = !(c instanceof io.lettuce.core.RedisCommandTimeoutException)
        ? "; nothing was written, retry later"
        : p.policy().mode() == ChannelMode.BROADCAST
            ? "; the message may still be published, a retry may deliver it twice"
            : "; the write may still happen: retry with messageId '" + p.envelope().id()
                + "' so that it is deduplicated";
    p.reply().accept(new PublishReply.Rejected(p.envelope().id(), PublishReply.RejectReason.UNAVAILABLE,
        "redis did not accept the message: " + msg + outcome, List.of(), RETRY_AFTER_UNAVAILABLE));
  }

  /** A full instance is reported at most this often (a WARN with the refusals since the last one). */
  static final long FULL_WARN_EVERY_NANOS = Duration.ofSeconds(30).toNanos();
  /** It is reported free again once it accepts a write this long after its last refusal (not while it flaps). */
  static final long FREE_AFTER_NANOS = Duration.ofSeconds(2).toNanos();

  /** An instance that refused writes as full and is not reported free again yet. */
  private static final class FullEpisode {
    volatile long lastWarnNanos;
    volatile long lastRefusalNanos;
    final java.util.concurrent.atomic.AtomicLong refusedSinceWarn = new java.util.concurrent.atomic.AtomicLong();
  }

  private final Map<String, FullEpisode> fullInstances = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * Answers a message the instance refused because it is out of memory ({@code redis-full}): nothing was written.
   * A WARN when an instance becomes full, and at most every 30 s while it stays so (it flaps at the edge as memory is
   * freed and taken again); an INFO once it accepts writes again, 2 s after its last refusal.
   */
  private void rejectFull(Pending p) {
    metrics.recordPublishRedisFull();
    String instance = p.policy().redisInstance();
    long now = System.nanoTime();
    boolean[] fresh = {false};
    FullEpisode ep = fullInstances.computeIfAbsent(instance, k -> {
      fresh[0] = true;
      FullEpisode e = new FullEpisode();
      e.lastWarnNanos = now - FULL_WARN_EVERY_NANOS;
      return e;
    });
    ep.lastRefusalNanos = now;
    long refused = ep.refusedSinceWarn.incrementAndGet();
    if (now - ep.lastWarnNanos >= FULL_WARN_EVERY_NANOS) {
      ep.lastWarnNanos = now;
      ep.refusedSinceWarn.set(0);
      log.warn("redis instance '{}' is full (used memory reached maxmemory, policy noeviction): publishes to it are"
          + " refused with redis-full until memory is freed ({}); subscribers keep consuming and acknowledging."
          + " Raise the instance's maxmemory, let the subscriptions catch up, or lower the channels' retention"
          + " (retention.max-age: acknowledged entries stay that long; retention.max-length)", instance,
          fresh[0] ? "first refusal" : refused + " refused since the last report");
    }
    p.reply().accept(new PublishReply.Rejected(p.envelope().id(), PublishReply.RejectReason.REDIS_FULL,
        "redis instance '" + instance + "' is full (used memory reached its maxmemory); nothing was written. Retry"
            + " later: it takes messages again once subscribers consumed the backlog, retention trimmed it, or the"
            + " operator raised maxmemory",
        List.of(), RETRY_AFTER_FULL));
  }

  /** A write to {@code p}'s instance was accepted: reported free again once its last refusal is 2 s old. */
  private void notFull(Pending p) {
    if (fullInstances.isEmpty()) return;
    String instance = p.policy().redisInstance();
    FullEpisode ep = fullInstances.get(instance);
    if (ep == null || System.nanoTime() - ep.lastRefusalNanos < FREE_AFTER_NANOS) return;
    if (fullInstances.remove(instance, ep)) {
      log.info("redis instance '{}' accepts publishes again (memory was freed; {} refused since the last report)",
          instance, ep.refusedSinceWarn.get());
    }
  }

  /**
   * The outcome of one PUBLISH of a broadcast. An until-received broadcast that no subscriber received is published
   * again with backoff until one does or its deadline comes; while it waits it holds one of
   * {@code ingress.until-received-max} places (from its first miss, {@code attempt} 1, to its answer), and when none
   * is free it is refused {@code overloaded} at once. Republishes go over the publish connection (flushed each), never
   * the command connection that the reliable subscriptions read with.
   */
  private void onBroadcastResult(Pending p, RedisHandle handle, byte[] body, int attempt, Long receivers,
      Throwable err) {
    Envelope e = p.envelope();
    boolean holding = attempt > 1;
    if (err != null) {
      if (holding) untilReceived.decrementAndGet();
      rejectUnavailable(p, err);
      return;
    }
    boolean untilReceivedMode = p.policy().broadcastDelivery() == BroadcastDelivery.UNTIL_RECEIVED;
    if (receivers > 0 || !untilReceivedMode) {
      if (holding) untilReceived.decrementAndGet();
      metrics.recordPublishAccepted();
      metrics.published(e.channel()).increment();
      p.reply().accept(new PublishReply.Accepted(e.id(), null, false, attempt, receivers));
      return;
    }
    Duration delay = backoff(p.policy(), attempt);
    if (!Instant.now().plus(delay).isBefore(e.deadline())) {
      // no time for another attempt: it is given up at the deadline, not before (a subscriber may still come)
      Runnable expire = () -> {
        if (holding) untilReceived.decrementAndGet();
        metrics.recordPublishExpired();
        p.reply().accept(new PublishReply.Expired(e.id(), "no subscriber received the message before its deadline "
            + e.deadline() + " (" + attempt + " attempts)", attempt));
      };
      Duration left = Duration.between(Instant.now(), e.deadline());
      if (left.isNegative() || left.isZero()) expire.run();
      else
        scheduler.scheduleOnce(left, expire, ec);
      return;
    }
    if (!holding && untilReceived.incrementAndGet() > untilReceivedMax) {
      untilReceived.decrementAndGet();
      metrics.recordPublishRejected();
      p.reply().accept(new PublishReply.Rejected(e.id(), PublishReply.RejectReason.OVERLOADED,
          "no subscriber received the message, and " + untilReceivedMax + " until-received messages wait for a"
              + " receiver already (ingress.until-received-max): it is not published again; retry later",
          List.of(), RETRY_AFTER_OVERLOAD));
      return;
    }
    scheduler.scheduleOnce(delay, () -> {
      CompletionStage<Long> f;
      try {
        RedisHandle.Live live = handle.connected();
        f = live.publish().async().publish(RedisKeys.broadcast(e.channel()), body);
      } catch (RuntimeException ex) {
        f = CompletableFuture.failedFuture(ex);
      }
      f.whenComplete((r, ex) -> onBroadcastResult(p, handle, body, attempt + 1, r, ex));
    }, ec);
  }

  /** Exponential backoff with jitter for the given attempt (1-based). */
  public static Duration backoff(ChannelPolicy policy, int attempt) {
    long min = policy.backoffMin().toMillis();
    long max = policy.backoffMax().toMillis();
    double exp = Math.min((double) max, min * Math.pow(2, Math.max(0, attempt - 1)));
    double jitter = 1.0 + policy.backoffJitter() * ThreadLocalRandom.current().nextDouble();
    return Duration.ofMillis((long) Math.min(max, exp * jitter));
  }
}
