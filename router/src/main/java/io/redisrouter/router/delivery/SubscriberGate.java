package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.internal.DeliveryIds;
import io.redisrouter.router.internal.Supervision;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Stands between a subscription and one embedded subscriber: delivery is demand-driven. At most {@code prefetch}
 * deliveries are with the subscriber unanswered; the others wait here (bounded by the subscription's
 * {@code max-in-flight}), and each is checked just before it is handed over: one whose deadline passed, or that is
 * no longer current (acked, dead-lettered, timed out and given to another attempt), is dropped here and never reaches
 * the subscriber. A slow subscriber so never gets an unbounded mailbox, nor stale work.
 */
final class SubscriberGate extends AbstractBehavior<Object> {

  /**
   * A delivery with less time than this left before its deadline is not handed over (dropped as if expired): the
   * subscriber would start on it at its deadline.
   */
  static final Duration HANDOVER_MARGIN = Duration.ofMillis(10);
  /** Entries acknowledged through this gate that are remembered, so that a copy still waiting here is dropped. */
  static final int ACKED_REMEMBERED = 1024;
  /** How often deliveries handed over but unanswered are checked (a subscriber that never answers). */
  static final Duration CHECK_INTERVAL = Duration.ofMillis(200);

  private record Answered(DeliveryAck answer) {}

  /**
   * The subscriber left: pass on the answers it sent before (they are ahead of this message in the mailbox), then
   * run {@code done} and stop. Stopping the gate at once would drop them: acknowledged entries would stay pending
   * in the group, be delivered again, and hold the channel's retention back.
   */
  record Drain(Runnable done) {}

  private enum Check { INSTANCE }

  /** {@code prefetch}: deliveries handed to the subscriber at once, unanswered (at least 1). */
  static Behavior<Object> create(ActorRef<Delivery> subscriber, int prefetch, Duration ackTimeout,
      LiveDeliveries current, RouterMetrics metrics) {
    // resumed after a failure: what it holds (deliveries waiting, handed over, where their answers go) stays
    return Supervision.resuming(Object.class, "the gate of subscriber " + subscriber.path(), metrics,
        Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new SubscriberGate(ctx, timers, subscriber, prefetch,
            ackTimeout, current, metrics))));
  }

  /** A delivery handed over and unanswered: where its answer goes, and since when the subscriber has it. */
  private record Outstanding(ActorRef<DeliveryAck> replyTo, long sinceNanos) {}

  private final long ackTimeoutNanos;

  private final int prefetch;

  private final TimerScheduler<Object> timers;
  private final ActorRef<Delivery> subscriber;
  private final LiveDeliveries current;
  private final RouterMetrics metrics;
  private final ActorRef<DeliveryAck> answers;
  private final ArrayDeque<Delivery> waiting = new ArrayDeque<>();
  /** Handed over and unanswered: delivery id to where its answer goes. */
  private final Map<String, Outstanding> outstanding = new HashMap<>();

  private SubscriberGate(ActorContext<Object> ctx, TimerScheduler<Object> timers, ActorRef<Delivery> subscriber,
      int prefetch, Duration ackTimeout, LiveDeliveries current, RouterMetrics metrics) {
    super(ctx);
    this.ackTimeoutNanos = ackTimeout.toNanos();
    this.prefetch = prefetch;
    this.timers = timers;
    this.subscriber = subscriber;
    this.current = current;
    this.metrics = metrics;
    this.answers = ctx.messageAdapter(DeliveryAck.class, Answered::new);
  }

  @Override
  public Receive<Object> createReceive() {
    return newReceiveBuilder()
        .onMessage(Delivery.class, d -> {
          waiting.add(d);
          return pump();
        })
        .onMessage(Answered.class, a -> {
          DeliveryAck ack = a.answer();
          if (ack == null || ack.deliveryId() == null) {
            // a subscriber bug (Ack(null), a nack without id): nothing to match it to; the delivery it meant is
            // retried after its ack timeout
            getContext().getLog().warn("ignored a subscriber answer without a delivery id ({}) from {}; the delivery"
                + " it meant is retried after the ack timeout", ack, subscriber.path());
            return this;
          }
          Outstanding o = outstanding.remove(ack.deliveryId());
          ActorRef<DeliveryAck> to = o == null ? null : o.replyTo();
          if (ack instanceof DeliveryAck.Ack) {
            acked.add(DeliveryIds.entry(ack.deliveryId()));
            if (acked.size() > ACKED_REMEMBERED) acked.remove(acked.iterator().next());
          }
          if (to != null) {
            to.tell(ack);
            if (ack instanceof DeliveryAck.Nack) {
              // a subscriber that gave up waiting (a webhook timeout) may still ack it later: that ack counts
              lateTargets.put(ack.deliveryId(), to);
              trimLateTargets();
            }
          } else if (ack != null && ack.deliveryId() != null) {
            // an answer to a delivery dropped from the outstanding ones (no longer current): still passed on, an
            // ack of an earlier attempt means the message was processed
            ActorRef<DeliveryAck> late = lateTargets.remove(ack.deliveryId());
            if (late != null) late.tell(ack);
          }
          return pump();
        })
        .onMessage(SubscriptionActor.InjectedFailure.class, f -> {
          throw new IllegalStateException("injected failure: " + f.why());
        })
        .onMessage(Drain.class, d -> {
          d.done().run();
          return Behaviors.stopped();
        })
        .onMessageEquals(Check.INSTANCE, () -> {
          // a subscriber that kept a delivery unanswered for a whole ack timeout, and whose attempt ended meanwhile,
          // is not working on it (it ignored or lost it): its place goes to the next delivery. A slow subscriber
          // still working on it keeps the place, so its mailbox never holds more than the prefetch.
          long now = System.nanoTime();
          outstanding.entrySet().removeIf(e -> {
            if (now - e.getValue().sinceNanos() < ackTimeoutNanos || current.isCurrent(e.getKey())) return false;
            lateTargets.put(e.getKey(), e.getValue().replyTo());
            return true;
          });
          trimLateTargets();
          return pump();
        })
        .build();
  }

  /** Where answers to deliveries no longer outstanding still go (few: the subscriber answered them late). */
  private final java.util.LinkedHashMap<String, ActorRef<DeliveryAck>> lateTargets = new java.util.LinkedHashMap<>();

  private void trimLateTargets() {
    while (lateTargets.size() > Math.max(32, 4 * Math.min(prefetch, 1024))) {
      lateTargets.remove(lateTargets.keySet().iterator().next());
    }
  }

  /** Entries the subscriber acknowledged through this gate lately (oldest first). */
  private final java.util.LinkedHashSet<String> acked = new java.util.LinkedHashSet<>();

  private Behavior<Object> pump() {
    if (current.isClosed(getContext().getSelf())) {
      return this; // the subscriber left: what waits here was handed to the other subscribers
    }
    Instant soon = null;
    while (outstanding.size() < prefetch && !waiting.isEmpty()) {
      Delivery d = waiting.poll();
      if (soon == null) soon = Instant.now().plus(HANDOVER_MARGIN);
      if (acked.contains(DeliveryIds.entry(d.deliveryId())) && current.isCurrent(d.deliveryId())) {
        // the subscriber processed and acked this entry already (that XACK may have failed, so it came back):
        // acked again on its behalf, not processed twice
        metrics.recordDeliverySkipped();
        d.replyTo().tell(new DeliveryAck.Ack(d.deliveryId()));
        continue;
      }
      if (!current.isCurrent(d.deliveryId()) || d.envelope().isExpired(soon)) {
        metrics.recordDeliverySkipped();
        continue; // its attempt ended or its deadline came: whoever owns the entry retries or dead-letters it
      }
      outstanding.put(d.deliveryId(), new Outstanding(d.replyTo(), System.nanoTime()));
      current.handedOver(d.deliveryId());
      metrics.recordHandedToSubscriber();
      subscriber.tell(new Delivery(d.envelope(), d.subscription(), d.deliveryId(), d.ackRequired(), answers));
    }
    if (outstanding.isEmpty()) {
      timers.cancel(Check.INSTANCE);
    } else if (!timers.isTimerActive(Check.INSTANCE)) {
      timers.startTimerWithFixedDelay(Check.INSTANCE, CHECK_INTERVAL);
    }
    return this;
  }
}
