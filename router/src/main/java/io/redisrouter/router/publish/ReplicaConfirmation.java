package io.redisrouter.router.publish;

import io.redisrouter.config.Durability;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.ReplicaWaits;
import org.apache.pekko.Done;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The answers of messages to channels with {@code durability = replica(N)}: Redis wrote them, and they are answered
 * {@code Accepted} only once a {@code WAIT} sent on the connection that wrote them, after their writes were answered,
 * counted at least N replicas; else {@code Rejected(NOT_REPLICATED)} saying how many confirmed within the channel's
 * {@code durability-timeout}. Never an accept without the confirmation.
 *
 * <p>One {@code WAIT} per batch and connection (it covers every write the connection made before it, so the batch's
 * messages share it), and at most one out per connection at a time ({@link ReplicaWaits}). The batch's stage
 * completes after its answers: while replicas are missing, the ingress slows to {@code max-batches-in-flight}
 * batches per {@code durability-timeout} (backpressure: a full queue answers overloaded) instead of queueing ever
 * more commands behind a connection the {@code WAIT} holds.
 */
final class ReplicaConfirmation {

  /** The messages of one batch written on one connection incarnation, waiting for their {@code WAIT}. */
  static final class Group {
    private final RedisHandle.Live live;
    /** Filled by the writes' callbacks (Netty threads), read once all of them completed. */
    private final Queue<Written> messages = new ConcurrentLinkedQueue<>();

    Group(RedisHandle.Live live) {
      this.live = live;
    }

    /** {@code p} was written (or found a duplicate): it is answered after the group's {@code WAIT}. */
    void add(PublishIngress.Pending p, PublishReply.Accepted accepted) {
      messages.add(new Written(p, accepted));
    }
  }

  private record Written(PublishIngress.Pending pending, PublishReply.Accepted accepted) {}

  private final RouterMetrics metrics;
  private final Duration retryAfter;

  ReplicaConfirmation(RouterMetrics metrics, Duration retryAfter) {
    this.metrics = metrics;
    this.retryAfter = retryAfter;
  }

  /**
   * Sends each group's {@code WAIT} (with the largest replica count and timeout its messages' channels ask for) and
   * answers its messages. Call it once every write of the groups was answered.
   */
  CompletionStage<Done> confirm(Collection<Group> groups) {
    List<CompletableFuture<?>> confirms = new ArrayList<>(groups.size());
    for (Group g : groups) {
      if (g.messages.isEmpty()) continue; // every write failed, and was answered
      int replicas = 0;
      Duration timeout = Duration.ZERO;
      for (Written w : g.messages) {
        Durability d = w.pending().policy().durability();
        replicas = Math.max(replicas, d.replicas());
        if (d.timeout().compareTo(timeout) > 0) timeout = d.timeout();
      }
      long started = System.nanoTime();
      CompletionStage<Long> wait;
      try {
        wait = g.live.replicaWaits().confirm(replicas, timeout);
      } catch (RuntimeException e) {
        wait = CompletableFuture.failedFuture(e);
      }
      confirms.add(wait.toCompletableFuture().handle((confirmed, err) -> {
        long tookMs = (System.nanoTime() - started) / 1_000_000;
        for (Written w : g.messages) answer(w, confirmed, err, tookMs);
        return null;
      }));
    }
    if (confirms.isEmpty()) return CompletableFuture.completedFuture(Done.getInstance());
    return CompletableFuture.allOf(confirms.toArray(CompletableFuture[]::new)).handle((v, e) -> Done.getInstance());
  }

  private void answer(Written w, Long confirmed, Throwable err, long tookMs) {
    PublishIngress.Pending p = w.pending();
    PublishReply.Accepted a = w.accepted();
    Durability d = p.policy().durability();
    if (err == null && confirmed >= d.replicas()) {
      if (a.duplicate()) {
        metrics.recordPublishDuplicate();
      } else {
        metrics.recordPublishAccepted();
        metrics.published(p.envelope().channel()).increment();
      }
      p.reply().accept(a);
      return;
    }
    metrics.recordPublishRejected();
    String why = err != null
        ? "the WAIT for its replicas failed (" + describe(err) + ")"
        : "it was confirmed on " + confirmed + " of " + d.replicas() + " replicas within " + d.timeout().toMillis()
            + " ms (WAIT answered after " + tookMs + " ms)";
    p.reply().accept(new PublishReply.Rejected(p.envelope().id(), PublishReply.RejectReason.NOT_REPLICATED,
        "redis wrote the message (stream entry " + a.streamId() + ") but " + why + ", short of the channel's"
            + " durability " + d.configName() + ": it is on the primary and may still be delivered, but a failover"
            + " may lose it; retry with messageId '" + p.envelope().id() + "' (deduplicated, accepted once"
            + " replicated)",
        List.of(), retryAfter));
  }

  private static String describe(Throwable err) {
    Throwable c = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
    return c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
  }
}
