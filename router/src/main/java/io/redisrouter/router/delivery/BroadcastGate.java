package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.internal.Supervision;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;

/**
 * Bounds the broadcast fan-out to one embedded subscriber. Broadcast deliveries are at-most-once and nothing is
 * retried, but they are paced like a backpressured actor sink: the subscriber holds at most {@code window}
 * deliveries unanswered. An answer (ack or nack) frees a place, and so does the delivery's deadline or an
 * {@code ack-timeout} without answer (the subscriber ignored it). A message that finds the window full is dropped
 * here, counted in {@code redis_router_broadcast_dropped} and reported by a WARN at most every 10 s: a slow
 * subscriber never gets an unbounded mailbox, and what it misses is never missed silently.
 */
public final class BroadcastGate extends AbstractBehavior<Object> {
  static final long WARN_EVERY_NANOS = Duration.ofSeconds(10).toNanos();

  private record Answered(DeliveryAck answer) {}

  /** A delivery with the subscriber: when it stops holding a place (deadline or ack timeout, the earlier). */
  private record Held(long releaseNanos) {}

  public static Behavior<Object> create(ActorRef<Delivery> subscriber, String channel, String subscription,
      int window, Duration ackTimeout, RouterMetrics metrics) {
    // resumed after a failure: the places it holds stay counted
    return Supervision.resuming(Object.class, "the broadcast gate of subscriber " + subscriber.path(), metrics,
        Behaviors.setup(ctx -> new BroadcastGate(ctx, subscriber, channel, subscription, window, ackTimeout,
            metrics)));
  }

  private final ActorRef<Delivery> subscriber;
  private final String channel;
  private final String subscription;
  private final int window;
  private final long ackTimeoutNanos;
  private final RouterMetrics metrics;
  private final ActorRef<DeliveryAck> answers;
  /** Unanswered deliveries with the subscriber, oldest first. */
  private final LinkedHashMap<String, Held> held = new LinkedHashMap<>();
  /** No place is freed by time before this ({@link System#nanoTime()}); meaningful while {@link #anyHeld}. */
  private long nextRelease;
  private boolean anyHeld;
  private long answeredEver;
  private long droppedSinceWarn;
  private long lastWarnNanos = System.nanoTime() - WARN_EVERY_NANOS;

  private BroadcastGate(ActorContext<Object> ctx, ActorRef<Delivery> subscriber, String channel, String subscription,
      int window, Duration ackTimeout, RouterMetrics metrics) {
    super(ctx);
    this.subscriber = subscriber;
    this.channel = channel;
    this.subscription = subscription;
    this.window = window;
    this.ackTimeoutNanos = ackTimeout.toNanos();
    this.metrics = metrics;
    this.answers = ctx.messageAdapter(DeliveryAck.class, Answered::new);
  }

  @Override
  public Receive<Object> createReceive() {
    return newReceiveBuilder()
        .onMessage(Delivery.class, this::onDelivery)
        .onMessage(SubscriptionActor.InjectedFailure.class, f -> {
          throw new IllegalStateException("injected failure: " + f.why());
        })
        .onMessage(Answered.class, a -> {
          if (a.answer() != null && a.answer().deliveryId() != null && held.remove(a.answer().deliveryId()) != null) {
            answeredEver++;
          }
          return this;
        })
        .build();
  }

  private Behavior<Object> onDelivery(Delivery d) {
    long now = System.nanoTime();
    if (held.size() >= window && anyHeld && now - nextRelease >= 0) release(now);
    if (held.size() >= window) {
      metrics.recordBroadcastDropped();
      droppedSinceWarn++;
      if (now - lastWarnNanos >= WARN_EVERY_NANOS) {
        getContext().getLog().warn("broadcast channel '{}', subscription '{}': subscriber {} holds {} deliveries"
            + " unanswered (broadcast-window): dropped {} messages since the last report.{}", channel,
            subscription, subscriber.path(), held.size(), droppedSinceWarn, answeredEver == 0
                ? " It has never answered one: answer each broadcast delivery (its ack()) to receive the next"
                : "");
        lastWarnNanos = now;
        droppedSinceWarn = 0;
      }
      return this;
    }
    long untilDeadline = Duration.between(Instant.now(), d.envelope().deadline()).toNanos();
    long releaseAt = now + Math.max(0, Math.min(untilDeadline, ackTimeoutNanos));
    held.put(d.deliveryId(), new Held(releaseAt));
    if (!anyHeld || releaseAt - nextRelease < 0) nextRelease = releaseAt;
    anyHeld = true;
    metrics.recordBroadcastDelivered();
    subscriber.tell(new Delivery(d.envelope(), d.subscription(), d.deliveryId(), false, answers));
    return this;
  }

  /** Frees the places of deliveries whose deadline or ack timeout passed. */
  private void release(long now) {
    boolean any = false;
    long next = 0;
    for (Iterator<Held> it = held.values().iterator(); it.hasNext();) {
      long at = it.next().releaseNanos();
      if (now - at >= 0) {
        it.remove();
      } else if (!any || at - next < 0) {
        next = at;
        any = true;
      }
    }
    anyHeld = any;
    nextRelease = next;
  }
}
