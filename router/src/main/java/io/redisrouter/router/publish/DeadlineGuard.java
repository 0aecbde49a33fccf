package io.redisrouter.router.publish;

import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.router.RouterMetrics;
import org.apache.pekko.actor.typed.Scheduler;
import scala.concurrent.ExecutionContext;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Every publish is answered at most {@link #GRACE_MS} plus one {@link #SWEEP_PERIOD} after its deadline, whatever
 * Redis does. A message waiting in the ingress queue behind a stalled Redis, or written to a Redis that does not
 * answer, would otherwise wait for a command timeout (or several). Each unanswered publish sits in a set ordered by deadline, and leaves it when answered, so the set is
 * bounded by the messages in flight; a sweep runs every {@link #SWEEP_PERIOD} while the set is not empty (never
 * when idle) and answers those past their deadline: {@code Expired} when nothing was sent, {@code Rejected}
 * (unavailable, outcome unknown, retry with the message id) when the write is on its way.
 */
final class DeadlineGuard {
  static final Duration SWEEP_PERIOD = Duration.ofMillis(100);
  /**
   * A publish is answered by the guard only this long after its deadline: what handles the publish itself (an
   * expiry in the queue, an until-received broadcast given up at its deadline) answers first when it can.
   */
  static final long GRACE_MS = 100;
  private static final Duration RETRY_AFTER_UNKNOWN = Duration.ofSeconds(1);
  private static final int QUEUED = 0;
  private static final int SENT = 1;
  private static final int ANSWERED = 2;

  /** The reply of one guarded publish: answered once, by the write's outcome or by the sweep. */
  final class Guarded implements Consumer<PublishReply> {
    private final Envelope envelope;
    private final String instance;
    private final Consumer<PublishReply> target;
    private final long deadlineMs;
    private final long seq;
    private final AtomicInteger state = new AtomicInteger(QUEUED);

    private Guarded(Envelope envelope, String instance, Consumer<PublishReply> target, long seq) {
      this.envelope = envelope;
      this.instance = instance;
      this.target = target;
      this.deadlineMs = envelope.deadline().toEpochMilli();
      this.seq = seq;
    }

    /** The writer takes the message; false when the sweep already answered it (it must not be written then). */
    boolean markSent() {
      return state.compareAndSet(QUEUED, SENT);
    }

    /** Whether the publisher has its answer already. */
    boolean answered() {
      return state.get() == ANSWERED;
    }

    @Override
    public void accept(PublishReply reply) {
      if (finish() >= 0) target.accept(reply);
    }

    /** Moves to answered; returns the state it left, or -1 when it was answered already. */
    private int finish() {
      while (true) {
        int s = state.get();
        if (s == ANSWERED) return -1;
        if (state.compareAndSet(s, ANSWERED)) {
          pending.remove(this);
          return s;
        }
      }
    }
  }

  private final ConcurrentSkipListSet<Guarded> pending = new ConcurrentSkipListSet<>(
      Comparator.comparingLong((Guarded g) -> g.deadlineMs).thenComparingLong(g -> g.seq));
  private final AtomicLong sequence = new AtomicLong();
  private final AtomicBoolean sweepScheduled = new AtomicBoolean();
  private final Scheduler scheduler;
  private final ExecutionContext ec;
  private final RouterMetrics metrics;

  DeadlineGuard(Scheduler scheduler, ExecutionContext ec, RouterMetrics metrics) {
    this.scheduler = scheduler;
    this.ec = ec;
    this.metrics = metrics;
  }

  /** Guards {@code reply}: the returned reply answers once; the sweep answers it at the deadline if nothing did. */
  Guarded guard(Envelope envelope, String instance, Consumer<PublishReply> reply) {
    Guarded g = new Guarded(envelope, instance, reply, sequence.incrementAndGet());
    pending.add(g);
    if (sweepScheduled.compareAndSet(false, true)) scheduleSweep();
    return g;
  }

  /** Forgets a guarded reply without answering it (the queue refused the message; the caller answers). */
  void cancel(Guarded g) {
    g.finish();
  }

  /** Unanswered publishes now. */
  int size() {
    return pending.size();
  }

  private void scheduleSweep() {
    scheduler.scheduleOnce(SWEEP_PERIOD, this::sweep, ec);
  }

  private void sweep() {
    long now = System.currentTimeMillis();
    while (true) {
      Guarded g;
      try {
        g = pending.first();
      } catch (java.util.NoSuchElementException empty) {
        break;
      }
      if (g.deadlineMs + GRACE_MS > now) break;
      int was = g.finish();
      pending.remove(g);
      if (was == QUEUED) {
        metrics.recordPublishExpired();
        g.target.accept(new PublishReply.Expired(g.envelope.id(), "the deadline " + g.envelope.deadline()
            + " passed while the message waited for redis instance '" + g.instance + "'; nothing was written", 0));
      } else if (was == SENT) {
        metrics.recordPublishRejected();
        g.target.accept(new PublishReply.Rejected(g.envelope.id(), PublishReply.RejectReason.UNAVAILABLE,
            "redis instance '" + g.instance + "' did not confirm the write before the message's deadline "
                + g.envelope.deadline() + " (it is slow or not answering); the write may still happen: retry with"
                + " messageId '" + g.envelope.id() + "' so that it is deduplicated",
            List.of(), RETRY_AFTER_UNKNOWN));
      }
    }
    sweepScheduled.set(false);
    if (!pending.isEmpty() && sweepScheduled.compareAndSet(false, true)) scheduleSweep();
  }
}
