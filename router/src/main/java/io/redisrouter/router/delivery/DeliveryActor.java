package io.redisrouter.router.delivery;

import io.redisrouter.router.internal.DeliveryIds;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisUnavailableException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Owns one message of a subscription while it is in flight: asks its parent to hand it to a subscriber, waits for
 * the ack, and fails on a nack or an ack timeout. The failure is the retry: the actor's supervisor restarts it with
 * exponential backoff and jitter (the channel's backoff policy), and each incarnation is one delivery attempt.
 * Before every attempt the deadline is checked, so a message is never delivered after it; retries re-claim the
 * entry in Redis with an owner check ({@code Scripts.CLAIM_OWNED}), which bumps its delivery count, and end without
 * delivering when another consumer owns it now or Redis cannot tell.
 *
 * <p>The behavior takes {@code Object} because it receives the public {@link DeliveryAck} from subscribers as well
 * as private messages; its ref is handed out narrowed to {@code ActorRef<DeliveryAck>}.
 */
final class DeliveryActor {

  private enum AckTimeout { INSTANCE }

  /**
   * Backoff reset period: far longer than one attempt can last (a claim plus the ack timeout), yet a delay the
   * Pekko scheduler accepts (at most Integer.MAX_VALUE ticks: about 248 days at the default 10 ms tick, 24.8 days
   * at 1 ms). A longer one (it was 3650 days) makes scheduling the reset throw on the first restart, which stops
   * the delivery actor instead of retrying: nacked messages were only retried after the ack timeout.
   */
  static final Duration NO_BACKOFF_RESET = Duration.ofDays(21);

  private record Claimed(boolean stillOurs, Throwable error) {}

  /** The failure of the attempt its parent made itself, turned into this actor's first failure. */
  private record FailNow(String error) {}

  /** Thrown to have the supervisor retry the delivery after a backoff. */
  static final class AttemptFailed extends RuntimeException {
    private static final long serialVersionUID = 1L;

    AttemptFailed(String message) {
      super(message, null, false, false);
    }
  }

  /** What survives the restarts: the attempt counter and the last error. Touched only by the actor. */
  private static final class AttemptState {
    int attempt;
    boolean started;
    String lastError;
    /** Set when the parent made the first attempt itself and it failed: the first incarnation fails with it. */
    String inheritedFailure;

    AttemptState(int firstAttempt) {
      this.attempt = firstAttempt;
    }
  }

  /** Where the entry lives in Redis. */
  record Source(RedisHandle handle, String stream, String group, String consumer, LiveDeliveries live) {}

  static Behavior<Object> create(ActorRef<SubscriptionActor.Command> parent, String streamId, Envelope envelope,
      int firstAttempt, ChannelPolicy policy, Source source, RouterMetrics metrics) {
    return create(parent, streamId, envelope, firstAttempt, policy, source, metrics, null);
  }

  /**
   * With {@code failedAttempt}: the parent already made attempt {@code firstAttempt} itself (the fast path: no actor
   * per message while deliveries are acked) and it failed with that error; this actor takes over from there: it
   * fails at once, so that its supervisor schedules the retry with the channel's backoff, as for any failed attempt.
   */
  static Behavior<Object> create(ActorRef<SubscriptionActor.Command> parent, String streamId, Envelope envelope,
      int firstAttempt, ChannelPolicy policy, Source source, RouterMetrics metrics,
      String failedAttempt) {
    AttemptState state = new AttemptState(firstAttempt);
    if (failedAttempt != null) {
      state.started = true;
      state.inheritedFailure = failedAttempt;
    }
    int retriesLeft = Math.max(0, policy.maxAttempts() - firstAttempt);
    return Behaviors.supervise(
        Behaviors.setup(ctx -> Behaviors.withTimers(
            timers -> new DeliveryActor(ctx, timers, parent, streamId, envelope, policy, source, metrics, state)
                .begin())))
        .onFailure(AttemptFailed.class,
            SupervisorStrategy.restartWithBackoff(policy.backoffMin(), policy.backoffMax(), policy.backoffJitter())
                // one more than the retries left, so the attempt limit is enforced here, with its reason;
                // the supervisor's limit only backs it up
                .withMaxRestarts(retriesLeft + 1)
                // an attempt that waited a whole ack timeout is still a failed attempt: never reset the backoff
                // (NO_BACKOFF_RESET must stay within what the scheduler accepts, or every restart fails)
                .withResetBackoffAfter(NO_BACKOFF_RESET)
                .withLoggingEnabled(false));
  }

  private final ActorContext<Object> ctx;
  private final TimerScheduler<Object> timers;
  private final ActorRef<SubscriptionActor.Command> parent;
  private final String streamId;
  private final Envelope envelope;
  private final ChannelPolicy policy;
  private final Source source;
  private final RouterMetrics metrics;
  private final AttemptState state;

  private DeliveryActor(ActorContext<Object> ctx, TimerScheduler<Object> timers,
      ActorRef<SubscriptionActor.Command> parent, String streamId, Envelope envelope,
      ChannelPolicy policy, Source source, RouterMetrics metrics, AttemptState state) {
    this.ctx = ctx;
    this.timers = timers;
    this.parent = parent;
    this.streamId = streamId;
    this.envelope = envelope;
    this.policy = policy;
    this.source = source;
    this.metrics = metrics;
    this.state = state;
  }

  private Behavior<Object> begin() {
    if (state.inheritedFailure != null) {
      String error = state.inheritedFailure;
      state.inheritedFailure = null;
      ctx.getSelf().tell(new FailNow(error));
      return Behaviors.receive(Object.class)
          .onMessage(FailNow.class, f -> fail(f.error()))
          .onMessage(DeliveryAck.Ack.class, a -> onAck()) // a late ack of the parent's attempt still counts
          .build();
    }
    boolean retry = state.started;
    if (retry) {
      state.attempt++;
      metrics.recordRetried();
    }
    state.started = true;
    if (envelope.isExpired(Instant.now())) {
      return expire();
    }
    if (!retry) {
      return deliver();
    }
    CompletionStage<List<Object>> claim;
    try {
      // only while this consumer still holds the entry: one that another consumer took over is never taken back
      claim = ConsumerCalls.claimOwned(source.handle(), source.stream(), source.group(), source.consumer(), "COUNT",
          streamId);
    } catch (RedisUnavailableException e) {
      claim = CompletableFuture.failedFuture(e);
    }
    ctx.pipeToSelf(claim, (owned, err) -> new Claimed(err == null && !owned.isEmpty(), err));
    return Behaviors.receive(Object.class)
        .onMessage(Claimed.class, c -> c.stillOurs()
            // the deadline may pass while the claim waits for Redis: check it again, never deliver late
            ? (envelope.isExpired(Instant.now()) ? expire() : deliver())
            : c.error() != null
                // the lease could not be checked: delivering now could hand out an entry another consumer holds;
                // it stays pending and is claimed again (here or elsewhere) once idle for the ack timeout
                ? finish(SubscriptionActor.Result.LOST, null, state.attempt - 1,
                    "retry not made: the lease could not be checked (" + SubscriptionActor.describe(c.error())
                        + "); the entry stays pending and is claimed again after the ack timeout")
                : finish(SubscriptionActor.Result.LOST, null, state.attempt - 1,
                    "entry is no longer pending for this consumer (acknowledged or taken over elsewhere)"))
        .onMessage(DeliveryAck.Ack.class, a -> onAck())
        .build();
  }

  private Behavior<Object> expire() {
    String why = state.lastError == null
        ? "deadline " + envelope.deadline() + " passed before delivery"
        : state.lastError + "; then the deadline " + envelope.deadline() + " passed";
    return finish(SubscriptionActor.Result.DEAD, DeadLetter.EXPIRED, state.attempt - 1, why);
  }

  private Behavior<Object> deliver() {
    String deliveryId = DeliveryIds.of(streamId, state.attempt);
    ActorRef<DeliveryAck> self = ctx.getSelf().narrow();
    parent.tell(new SubscriptionActor.DeliverRequest(streamId, envelope.withAttempt(state.attempt), deliveryId, self));
    timers.startSingleTimer(AckTimeout.INSTANCE, policy.ackTimeout());
    return Behaviors.receive(Object.class)
        .onMessage(DeliveryAck.Ack.class, a -> onAck())
        .onMessage(DeliveryAck.Nack.class, n -> onNack(n, deliveryId))
        .onMessageEquals(AckTimeout.INSTANCE, () -> {
          // the ack timeout runs from when the subscriber got it (time waiting for a busy subscriber is not an
          // attempt's): before that, wait on, unless the deadline came meanwhile
          long handed = source.live().handedAt(deliveryId);
          boolean waiting = handed == LiveDeliveries.NOT_HANDED;
          long waited = waiting ? -1 : System.nanoTime() - handed;
          if (waiting && envelope.isExpired(Instant.now())) return expire();
          if (waiting || waited < policy.ackTimeout().toNanos()) {
            timers.startSingleTimer(AckTimeout.INSTANCE, waiting
                ? policy.ackTimeout()
                : policy.ackTimeout().minusNanos(waited));
            return Behaviors.same();
          }
          metrics.recordAckTimeout();
          return fail("no ack within the ack timeout of " + policy.ackTimeout().toMillis() + " ms");
        })
        .build();
  }

  private Behavior<Object> onAck() {
    // an ack for any attempt of this message (even a late one) means it was processed
    metrics.recordAcked();
    metrics.acked(envelope.channel()).increment();
    metrics.recordPublishToAck(envelope.publishedAt());
    return finish(SubscriptionActor.Result.ACKED, null, state.attempt, null);
  }

  private Behavior<Object> onNack(DeliveryAck.Nack n, String currentDeliveryId) {
    if (!currentDeliveryId.equals(n.deliveryId())) {
      return Behaviors.same(); // answer to an earlier attempt: already handled
    }
    metrics.recordNacked();
    String error = n.error() == null || n.error().isBlank() ? "nack without error" : n.error();
    if (n.doNotRetry()) {
      return finish(SubscriptionActor.Result.DEAD, DeadLetter.REJECTED, state.attempt,
          "subscriber rejected it (do not retry): " + error);
    }
    return fail("nack: " + error);
  }

  private Behavior<Object> fail(String error) {
    state.lastError = error;
    if (state.attempt >= policy.maxAttempts()) {
      return finish(SubscriptionActor.Result.DEAD, DeadLetter.MAX_ATTEMPTS, state.attempt, error);
    }
    throw new AttemptFailed(error);
  }

  private Behavior<Object> finish(SubscriptionActor.Result result, DeadLetter.Reason reason, int attempts,
      String error) {
    timers.cancelAll();
    parent.tell(new SubscriptionActor.Outcome(streamId, envelope, result, reason, attempts, error));
    return Behaviors.stopped();
  }
}
