package io.redisrouter.router.consume;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.internal.Stages;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Cluster mode: a pull subscription as this node's HTTP routes see it, speaking {@link PullGateway}'s protocol, while
 * the subscription's one consumer runs wherever its {@link SubscriptionOwner} is. Pulls, acks and nacks are forwarded
 * to the owner; a server-sent-event stream opened here is fed by long pulls forwarded for it (each hand-out counts
 * as sent to that stream, so that {@code Last-Event-ID} resumes it on any node).
 */
final class RemoteGateway extends AbstractBehavior<PullGateway.Command> {
  /** Longest forwarded wait of an event stream's pull (then the next one starts). */
  static final Duration STREAM_WAIT = Duration.ofSeconds(5);
  /**
   * How long a forwarded ack or nack may take, and a forwarded pull beyond its wait: when the owner cannot be reached
   * that soon (sharding is moving it, its node is leaving), the pull is answered empty and the ack or nack with its
   * ids unknown (an ack that arrives later still counts), so that the client goes on (elsewhere) instead of waiting,
   * while the deliveries the owner holds wait for a pull and count against their ack timeout.
   */
  static final Duration FORWARD_MARGIN = Duration.ofSeconds(2);
  /**
   * The owner takes deliveries for a forwarded pull only if it can answer this long before the asker gives up
   * ({@code answerBy}, epoch ms): room for the way back and for the nodes' clocks to differ.
   */
  static final Duration ANSWER_BEFORE = Duration.ofMillis(500);
  /** A full event stream is looked at again after this. */
  static final Duration FULL_RETRY = Duration.ofMillis(100);

  private record Stream(BoundedSourceQueue<PullGateway.Handed> queue, Long resumeAfter) {}

  private record StreamPulled(long key, SubscriptionOwner.Pulled pulled, Throwable error)
      implements
        PullGateway.Command {}

  private record PullNext(long key) implements PullGateway.Command {}

  static Behavior<PullGateway.Command> create(String subscription, EntityRef<SubscriptionOwner.Command> owner) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new RemoteGateway(ctx, timers, subscription,
        owner)));
  }

  private final TimerScheduler<PullGateway.Command> timers;
  private final String subscription;
  private final EntityRef<SubscriptionOwner.Command> owner;
  private final ActorRef<DeliveryAck> nobody;
  private final Map<Long, Stream> streams = new HashMap<>();

  private RemoteGateway(ActorContext<PullGateway.Command> ctx, TimerScheduler<PullGateway.Command> timers,
      String subscription, EntityRef<SubscriptionOwner.Command> owner) {
    super(ctx);
    this.timers = timers;
    this.subscription = subscription;
    this.owner = owner;
    // the answers of deliveries handed out here go to the owner as settles, never to the delivery itself
    this.nobody = ctx.getSystem().ignoreRef();
  }

  @Override
  public Receive<PullGateway.Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(PullGateway.Pull.class, p -> {
          // the route waits longer than this ask (wait + FORWARD_MARGIN): the owner answers ANSWER_BEFORE plus its own
          // margin before that, or takes nothing
          Duration timeout = p.waitFor().plus(FORWARD_MARGIN);
          long answerBy = System.currentTimeMillis() + timeout.toMillis() - ANSWER_BEFORE.toMillis();
          Stages.plain(owner.<SubscriptionOwner.Pulled>ask(replyTo -> new SubscriptionOwner.RemotePull(0, p.max(),
              p.waitFor().toMillis(), null, answerBy, replyTo), timeout))
              .whenComplete((r, e) -> p.replyTo().tell(e != null ? List.of() : local(r)));
          return this;
        })
        .onMessage(PullGateway.Settle.class, s -> {
          Stages.plain(owner.<SubscriptionOwner.Settled>ask(replyTo -> new SubscriptionOwner.RemoteSettle(
              s.deliveryIds(), s.ack(), s.error(), s.doNotRetry(), replyTo), FORWARD_MARGIN))
              .whenComplete((r, e) -> s.replyTo().tell(e != null
                  ? new PullGateway.SettleResult(0, s.deliveryIds(), java.util.Set.of())
                  : new PullGateway.SettleResult(r.settled(), r.unknown(), r.answeredHere())));
          return this;
        })
        .onMessage(PullGateway.Attach.class, a -> {
          streams.put(a.streamKey(), new Stream(a.queue(), a.lastEventId()));
          pullFor(a.streamKey());
          return this;
        })
        .onMessage(PullGateway.Detach.class, d -> {
          streams.remove(d.streamKey());
          return this;
        })
        .onMessage(PullNext.class, n -> {
          pullFor(n.key());
          return this;
        })
        .onMessage(StreamPulled.class, this::onStreamPulled)
        .onMessage(PullGateway.Stop.class, s -> {
          if (s.left() != null) s.left().tell(Done.getInstance()); // this node consumes nothing itself
          return Behaviors.stopped();
        })
        .onSignal(PostStop.class, s -> {
          streams.values().forEach(st -> st.queue().complete());
          return this;
        })
        .build();
  }

  /** The next forwarded pull of stream {@code key}, for as many deliveries as it has room for. */
  private void pullFor(long key) {
    Stream s = streams.get(key);
    if (s == null) return;
    int room = PullService.EVENT_BUFFER - s.queue().size();
    if (room <= 0) {
      timers.startSingleTimer(new PullNext(key), new PullNext(key), FULL_RETRY);
      return;
    }
    Long resume = s.resumeAfter();
    if (resume != null) streams.put(key, new Stream(s.queue(), null)); // only the first pull resumes
    Duration timeout = STREAM_WAIT.plus(FORWARD_MARGIN);
    long answerBy = System.currentTimeMillis() + timeout.toMillis() - ANSWER_BEFORE.toMillis();
    getContext().pipeToSelf(owner.<SubscriptionOwner.Pulled>ask(replyTo -> new SubscriptionOwner.RemotePull(key,
        room, STREAM_WAIT.toMillis(), resume, answerBy, replyTo), timeout), (r, e) -> new StreamPulled(key, r, e));
  }

  private Behavior<PullGateway.Command> onStreamPulled(StreamPulled p) {
    Stream s = streams.get(p.key());
    if (s == null) return this; // closed meanwhile: what it got is delivered again after the ack timeout
    if (p.error() != null) {
      getContext().getLog().debug("HTTP subscription '{}': a forwarded stream pull failed ({}); trying again",
          subscription, p.error().toString());
      timers.startSingleTimer(new PullNext(p.key()), new PullNext(p.key()), Duration.ofSeconds(1));
      return this;
    }
    for (PullGateway.Handed h : local(p.pulled())) {
      QueueOfferResult r = s.queue().offer(h);
      if (!QueueOfferResult.enqueued().equals(r)) {
        // closed (or, against the room asked for, full): the rest is delivered again after the ack timeout
        if (!QueueOfferResult.dropped().equals(r)) streams.remove(p.key());
        break;
      }
    }
    pullFor(p.key());
    return this;
  }

  private List<PullGateway.Handed> local(SubscriptionOwner.Pulled pulled) {
    List<PullGateway.Handed> out = new ArrayList<>(pulled.items().size());
    for (SubscriptionOwner.Handed h : pulled.items()) {
      out.add(new PullGateway.Handed(new Delivery(EnvelopeCodec.decode(h.envelope()), h.subscription(),
          h.deliveryId(), true, nobody), h.seq(), h.ackDeadline()));
    }
    return out;
  }
}
