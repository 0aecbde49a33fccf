package io.redisrouter.router.consume;

import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.internal.Supervision;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The HTTP consumers of one pull subscription on this node: a member of the subscription like any embedded
 * subscriber (the router's delivery core owns retries, deadlines and dead letters), that hands the deliveries it
 * receives to pull requests and server-sent-event streams and forwards their acks and nacks.
 *
 * <p>It joins the subscription on the first pull or stream and leaves once nobody pulled for
 * {@code pull-idle-release}, no stream is open and nothing handed out is still unanswered: what it then still holds
 * stays pending in Redis and is delivered again after the ack timeout. A delivery is handed out only while younger
 * than the ack timeout and before its deadline (an expired one is nacked, and the core dead-letters it as
 * {@code expired}).
 */
public final class PullGateway extends AbstractBehavior<PullGateway.Command> {

  public interface Command {}

  /** A delivery handed to a client; {@code seq} orders hand-outs and is the server-sent event id. */
  public record Handed(Delivery delivery, long seq, Instant ackDeadline) {}

  /** Up to {@code max} deliveries, waiting at most {@code wait} for the first one. */
  public record Pull(int max, Duration waitFor, ActorRef<List<Handed>> replyTo) implements Command {}

  /**
   * A pull for a server-sent-event stream served elsewhere (cluster mode: another node forwards its stream's
   * pulls): what it hands out counts as sent to stream {@code streamKey} (null: none), and with {@code resumeAfter}
   * what went to streams after that event and is still unanswered comes again first.
   */
  public record StreamPull(Long streamKey, int max, Duration waitFor, Long resumeAfter,
      ActorRef<List<Handed>> replyTo) implements Command {}

  /** Ack ({@code ack}) or nack the handed-out deliveries with these ids. */
  public record Settle(List<String> deliveryIds, boolean ack, String error, boolean doNotRetry,
      ActorRef<SettleResult> replyTo) implements Command {}

  /** How many of the ids were settled; the others are not (or no longer) held here. */
                                                                                       /**
                                                                                        * How many of the ids were settled; the others are not (or no longer) held here, and {@code answeredHere} lists
                                                                                        * those of them that this node handed out and saw answered already.
                                                                                        */
  public record SettleResult(int settled, List<String> unknown, java.util.Set<String> answeredHere) {}

  /** Delivery ids answered here that are remembered (so that a repeated answer is known as one). */
  static final int ANSWERED_REMEMBERED = 4096;

  /**
   * A server-sent-event stream opens: deliveries are offered to {@code queue}. With {@code lastEventId}, the
   * unanswered deliveries handed to streams after that event are sent again first. {@code full} is set when an offer
   * found the queue full; the stream then clears it and sends {@link StreamRoom} once it has drained the queue to
   * half, so that a stream faster than the deliveries' arrival is fed at its own pace, not at the housekeeping tick's.
   */
  public record Attach(long streamKey, BoundedSourceQueue<Handed> queue, Long lastEventId,
      java.util.concurrent.atomic.AtomicBoolean full) implements Command {}

  /** A stream that was full has room again (see {@link Attach}): what is ready is offered now. */
  public record StreamRoom(long streamKey) implements Command {}

  /** The stream closed. */
  public record Detach(long streamKey) implements Command {}

  /**
   * The subscription was deleted or redefined: leave it and stop. {@code left}, when not null, is told {@link Done}
   * once the router confirmed the unsubscribe: from then on this node's consumer of the group reads nothing more (and
   * so does not create the group again), and the group can be destroyed.
   */
  public record Stop(ActorRef<Done> left) implements Command {}

  private record Delivered(Delivery delivery) implements Command {}

  private record SubscribeAnswer(SubscribeReply reply) implements Command {}

  private record WaitOver(long waiterId) implements Command {}

  private enum Tick implements Command { INSTANCE }

  private record Received(Delivery delivery, long atNanos) {}

  private record Out(Delivery delivery, long seq, long atNanos, Long streamKey) {}

  private record Waiter(int max, Long streamKey, ActorRef<List<Handed>> replyTo) {}

  /** An open stream: its queue, and the flag an offer sets when it was full (the stream tells when it has room). */
  private record StreamOut(BoundedSourceQueue<Handed> queue, java.util.concurrent.atomic.AtomicBoolean full) {}

  /** Housekeeping period: stale deliveries, idle release, streams that are full. */
  static final Duration TICK = Duration.ofMillis(200);

  /** Longest wait for the router to confirm an unsubscribe. */
  static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(10);

  /**
   * Restarted with backoff after a failure: the streams and long polls it served end (clients reconnect, a stream
   * with {@code Last-Event-ID}), it joins the subscription again, and what it had handed out stays pending and is
   * delivered again after the ack timeout (an ack of it still settles it: unknown delivery ids are acked in Redis).
   */
  public static Behavior<Command> create(HttpSubscription subscription, ChannelPolicy policy,
      ActorRef<RouterCommand> router, Duration idleRelease, RouterMetrics metrics) {
    return Supervision.restarting("the pull gateway of HTTP subscription '" + subscription.name() + "'", metrics,
        ctx -> Behaviors.withTimers(timers -> new PullGateway(ctx, timers, subscription, policy, router,
            idleRelease)));
  }

  private final TimerScheduler<Command> timers;
  private final HttpSubscription subscription;
  private final ChannelPolicy policy;
  private final ActorRef<RouterCommand> router;
  private final long idleReleaseNanos;
  private final long ackTimeoutNanos;
  private final ActorRef<Delivery> deliveries;
  private final ActorRef<SubscribeReply> subscribeReplies;

  private final ArrayDeque<Received> ready = new ArrayDeque<>();
  private final LinkedHashMap<String, Out> outstanding = new LinkedHashMap<>();
  private final LinkedHashMap<String, Boolean> answered = new LinkedHashMap<>() {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
      return size() > ANSWERED_REMEMBERED;
    }
  };
  private final LinkedHashMap<Long, Waiter> waiters = new LinkedHashMap<>();
  private final LinkedHashMap<Long, StreamOut> streams = new LinkedHashMap<>();
  private boolean member;
  private boolean joining;
  private long lastActivity = System.nanoTime();
  private long nextSeq = 1;
  private long nextWaiter;
  private int nextStream;
  /** Deliveries that waited past the ack timeout without being taken, since the last warning (and when it was). */
  private long unpulled;
  private long lastUnpulledWarning;
  static final Duration WARN_EVERY = Duration.ofSeconds(10);

  private PullGateway(ActorContext<Command> ctx, TimerScheduler<Command> timers, HttpSubscription subscription,
      ChannelPolicy policy, ActorRef<RouterCommand> router, Duration idleRelease) {
    super(ctx);
    this.timers = timers;
    this.subscription = subscription;
    this.policy = policy;
    this.router = router;
    this.idleReleaseNanos = idleRelease.toNanos();
    this.ackTimeoutNanos = policy.ackTimeout().toNanos();
    this.deliveries = ctx.messageAdapter(Delivery.class, Delivered::new);
    this.subscribeReplies = ctx.messageAdapter(SubscribeReply.class, SubscribeAnswer::new);
    timers.startTimerWithFixedDelay(Tick.INSTANCE, TICK);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Pull.class, p -> onPull(new StreamPull(null, p.max(), p.waitFor(), null, p.replyTo())))
        .onMessage(StreamPull.class, this::onPull)
        .onMessage(Settle.class, this::onSettle)
        .onMessage(Attach.class, this::onAttach)
        .onMessage(StreamRoom.class, r -> {
          dispatch();
          return this;
        })
        .onMessage(Detach.class, d -> {
          streams.remove(d.streamKey());
          lastActivity = System.nanoTime();
          return this;
        })
        .onMessage(Delivered.class, d -> {
          ready.addLast(new Received(d.delivery(), System.nanoTime()));
          dispatch();
          return this;
        })
        .onMessage(SubscribeAnswer.class, this::onSubscribeAnswer)
        .onMessage(WaitOver.class, w -> {
          Waiter waiter = waiters.remove(w.waiterId());
          if (waiter != null) waiter.replyTo().tell(List.of());
          return this;
        })
        .onMessageEquals(Tick.INSTANCE, this::onTick)
        .onMessage(Stop.class, this::onStop)
        .onMessage(InjectedFailure.class, f -> {
          throw f.fail();
        })
        .onSignal(PostStop.class, s -> endClients())
        .onSignal(PreRestart.class, s -> endClients())
        .build();
  }

  /** Stopping or restarting: the streams end and the long polls are answered (empty). */
  private Behavior<Command> endClients() {
    streams.values().forEach(s -> s.queue().complete());
    waiters.values().forEach(w -> w.replyTo().tell(List.of()));
    return this;
  }

  // ---- membership -------------------------------------------------------------------------------------------------

  private void join() {
    lastActivity = System.nanoTime();
    if (member || joining) return;
    joining = true;
    router.tell(new RouterCommand.Subscribe(subscription.channel(), subscription.name(), deliveries,
        subscribeReplies).withPrefetch(RouterCommand.Subscribe.MAX_PREFETCH));
  }

  private Behavior<Command> onSubscribeAnswer(SubscribeAnswer a) {
    if (a.reply() instanceof SubscribeReply.Subscribed && joining) {
      joining = false;
      member = true;
      getContext().getLog().debug("HTTP subscription '{}' joined on this node", subscription.name());
    } else if (a.reply() instanceof SubscribeReply.SubscribeFailed f) {
      joining = false;
      member = false;
      getContext().getLog().warn("HTTP subscription '{}' cannot join channel '{}': {}", subscription.name(),
          subscription.channel(), f.message());
    }
    return this;
  }

  /** Leaves the subscription; completes when the router confirmed it (at once when this was no member). */
  private CompletionStage<SubscribeReply> leave() {
    if (!member && !joining) return CompletableFuture.completedFuture(null);
    CompletionStage<SubscribeReply> left = Stages.plain(AskPattern.ask(router,
        replyTo -> new RouterCommand.Unsubscribe(subscription.channel(), subscription.name(), deliveries, replyTo),
        LEAVE_TIMEOUT, getContext().getSystem().scheduler()));
    member = false;
    joining = false;
    if (!ready.isEmpty()) {
      getContext().getLog().info("HTTP subscription '{}': no client for {} ms; {} deliveries nobody took stay pending"
          + " and are delivered again after the ack timeout", subscription.name(), idleReleaseNanos / 1_000_000,
          ready.size());
    }
    ready.clear();
    return left;
  }

  // ---- pulls and streams ------------------------------------------------------------------------------------------

  private Behavior<Command> onPull(StreamPull p) {
    join();
    List<Handed> out = p.resumeAfter() == null
        ? new ArrayList<>()
        : sendAgain(p.resumeAfter(), p.streamKey(),
            p.max());
    if (out.size() < p.max()) out.addAll(take(p.max() - out.size(), p.streamKey()));
    if (!out.isEmpty() || p.waitFor().isZero() || p.waitFor().isNegative()) {
      p.replyTo().tell(out);
      return this;
    }
    long id = nextWaiter++;
    waiters.put(id, new Waiter(p.max(), p.streamKey(), p.replyTo()));
    timers.startSingleTimer(new WaitOver(id), new WaitOver(id), p.waitFor());
    return this;
  }

  private Behavior<Command> onAttach(Attach a) {
    join();
    streams.put(a.streamKey(), new StreamOut(a.queue(), a.full()));
    if (a.lastEventId() != null) {
      // resume: what was sent to streams after the client's last event and is still unanswered, again, in order
      List<Out> again = new ArrayList<>();
      for (Out o : outstanding.values()) {
        if (o.streamKey() != null && o.seq() > a.lastEventId()) again.add(o);
      }
      int resent = 0;
      for (Out o : again) {
        Handed h = new Handed(o.delivery(), nextSeq++, ackDeadline(o.atNanos()));
        if (!QueueOfferResult.enqueued().equals(a.queue().offer(h))) break;
        outstanding.put(o.delivery().deliveryId(), new Out(o.delivery(), h.seq(), o.atNanos(), a.streamKey()));
        resent++;
      }
      if (resent > 0) {
        getContext().getLog().debug("HTTP subscription '{}': stream resumed after event {}: {} sent again",
            subscription.name(), a.lastEventId(), resent);
      }
    }
    dispatch();
    return this;
  }

  /**
   * Resuming a stream served elsewhere: up to {@code max} of what went to streams after event {@code after} and is
   * still unanswered, handed out again (new event ids) as sent to {@code streamKey}.
   */
  private List<Handed> sendAgain(long after, Long streamKey, int max) {
    List<Out> again = new ArrayList<>();
    for (Out o : outstanding.values()) {
      if (o.streamKey() != null && o.seq() > after && again.size() < max) again.add(o);
    }
    List<Handed> out = new ArrayList<>(again.size());
    for (Out o : again) {
      Handed h = new Handed(o.delivery(), nextSeq++, ackDeadline(o.atNanos()));
      outstanding.put(o.delivery().deliveryId(), new Out(o.delivery(), h.seq(), o.atNanos(), streamKey));
      out.add(h);
    }
    return out;
  }

  /** Hands ready deliveries to waiting pulls first, then to streams with room. */
  private void dispatch() {
    while (!waiters.isEmpty() && !ready.isEmpty()) {
      Iterator<Map.Entry<Long, Waiter>> it = waiters.entrySet().iterator();
      Map.Entry<Long, Waiter> first = it.next();
      List<Handed> out = take(first.getValue().max(), first.getValue().streamKey());
      if (out.isEmpty()) break;
      it.remove();
      timers.cancel(new WaitOver(first.getKey()));
      first.getValue().replyTo().tell(out);
    }
    while (!ready.isEmpty() && !streams.isEmpty()) {
      Received r = nextUsable();
      if (r == null) break;
      if (!offerToAStream(r)) break;
      ready.pollFirst();
    }
  }

  /** Round-robin offer; removes streams that closed. */
  private boolean offerToAStream(Received r) {
    List<Long> keys = new ArrayList<>(streams.keySet());
    for (int i = 0; i < keys.size(); i++) {
      long key = keys.get(Math.floorMod(nextStream + i, keys.size()));
      StreamOut s = streams.get(key);
      long seq = nextSeq;
      Handed h = new Handed(r.delivery(), seq, ackDeadline(r.atNanos()));
      QueueOfferResult res = s.queue().offer(h);
      if (QueueOfferResult.enqueued().equals(res)) {
        nextSeq++;
        nextStream = Math.floorMod(nextStream + i + 1, Math.max(1, keys.size()));
        outstanding.put(r.delivery().deliveryId(), new Out(r.delivery(), seq, r.atNanos(), key));
        return true;
      }
      if (QueueOfferResult.dropped().equals(res)) {
        s.full().set(true); // the stream tells when it drained to half (StreamRoom)
      } else {
        streams.remove(key); // closed or failed
      }
    }
    return false;
  }

  /** The first ready delivery that may still be handed out; drops stale and nacks expired ones on the way. */
  private Received nextUsable() {
    long now = System.nanoTime();
    while (!ready.isEmpty()) {
      Received r = ready.peekFirst();
      if (now - r.atNanos() >= ackTimeoutNanos) {
        ready.pollFirst(); // the core's ack timeout has passed: it delivers it again with a new id
        unpulled++;
        if (now - lastUnpulledWarning >= WARN_EVERY.toNanos() || lastUnpulledWarning == 0) {
          getContext().getLog().warn("HTTP subscription '{}': {} deliveries waited here ({}) longer than the ack"
              + " timeout without a pull or stream taking them (pulls waiting {}, streams {}); each counted as an"
              + " attempt and is delivered again", subscription.name(), unpulled, getContext().getSelf().path(),
              waiters.size(), streams.size());
          lastUnpulledWarning = now;
          unpulled = 0;
        }
        continue;
      }
      if (r.delivery().envelope().isExpired(Instant.now())) {
        ready.pollFirst(); // never hand it out late: the core dead-letters it as expired
        r.delivery().replyTo().tell(r.delivery().nack("deadline passed before a client took it", false));
        continue;
      }
      return r;
    }
    return null;
  }

  private List<Handed> take(int max, Long streamKey) {
    List<Handed> out = new ArrayList<>(Math.min(max, ready.size()));
    while (out.size() < max) {
      Received r = nextUsable();
      if (r == null) break;
      ready.pollFirst();
      Handed h = new Handed(r.delivery(), nextSeq++, ackDeadline(r.atNanos()));
      outstanding.put(r.delivery().deliveryId(), new Out(r.delivery(), h.seq(), r.atNanos(), streamKey));
      out.add(h);
    }
    return out;
  }

  private Instant ackDeadline(long receivedAtNanos) {
    long left = ackTimeoutNanos - (System.nanoTime() - receivedAtNanos);
    return Instant.now().plusNanos(Math.max(0, left));
  }

  // ---- acks -------------------------------------------------------------------------------------------------------

  private Behavior<Command> onSettle(Settle s) {
    lastActivity = System.nanoTime();
    int settled = 0;
    List<String> unknown = new ArrayList<>();
    java.util.Set<String> again = new java.util.HashSet<>();
    for (String id : s.deliveryIds()) {
      Out o = outstanding.remove(id);
      if (o == null) {
        unknown.add(id);
        if (answered.containsKey(id)) again.add(id);
        continue;
      }
      Delivery d = o.delivery();
      d.replyTo().tell(s.ack() ? d.ack() : d.nack(s.error(), s.doNotRetry()));
      answered.put(id, Boolean.TRUE);
      settled++;
    }
    s.replyTo().tell(new SettleResult(settled, unknown, again));
    return this;
  }

  // ---- housekeeping -----------------------------------------------------------------------------------------------

  private Behavior<Command> onTick() {
    long now = System.nanoTime();
    // a late ack still counts in the core (the delivery actor accepts an ack of any attempt), so hand-outs are
    // remembered for twice the ack timeout; a bounded number of them
    int cap = Math.max(1024, policy.maxInFlight() * 8);
    Iterator<Out> it = outstanding.values().iterator();
    while (it.hasNext()) {
      Out o = it.next();
      if (now - o.atNanos() > 2 * ackTimeoutNanos || outstanding.size() > cap) {
        it.remove();
      } else {
        break; // insertion order is hand-out order, roughly oldest first
      }
    }
    dispatch(); // streams that were full may have room now; stale entries are dropped
    if (!waiters.isEmpty() || !streams.isEmpty()) {
      lastActivity = now;
    } else if (member && now - lastActivity > idleReleaseNanos && outstandingYoungerThanAckTimeout(now) == 0) {
      leave();
    }
    return this;
  }

  private int outstandingYoungerThanAckTimeout(long now) {
    int n = 0;
    for (Out o : outstanding.values()) if (now - o.atNanos() < ackTimeoutNanos) n++;
    return n;
  }

  private Behavior<Command> onStop(Stop s) {
    CompletionStage<SubscribeReply> left = leave();
    if (s.left() != null) left.whenComplete((r, e) -> s.left().tell(Done.getInstance()));
    return Behaviors.stopped();
  }
}
