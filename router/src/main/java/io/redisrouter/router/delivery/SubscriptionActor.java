package io.redisrouter.router.delivery;

import io.redisrouter.router.internal.DeliveryIds;
import io.lettuce.core.StreamMessage;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.config.ConsumerSettings;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.redis.ConsumerGroups;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.StreamIds;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One subscription (one Redis consumer group) on this node: reads new entries with non-blocking XREADGROUP until
 * it has read its stream up, then sends nothing until it is woken (by local publishes, by the channel's doorbell
 * rung by other nodes' publishes, or by its instance's {@link io.redisrouter.router.redis.StreamWatch} for entries
 * no wake-up announced), keeps at most {@code max-in-flight} of them in flight, acknowledges them (XACK, batched) or
 * dead-letters them, renews the lease on what it holds (XCLAIM JUSTID), and takes over entries that another consumer
 * left pending for longer than the ack timeout (XAUTOCLAIM, only when the XPENDING summary shows another consumer
 * holds entries).
 *
 * <p>The first attempt of a new entry is made here (the fast path: one message to the subscriber and one back, no
 * actor per message; the ack timeouts of these attempts are checked by one periodic sweep). When that attempt fails
 * (a nack, or no ack in time), a supervised {@link DeliveryActor} child takes the entry over and its supervisor
 * retries with backoff, one incarnation per attempt; entries taken over from other consumers start with a child.
 *
 * <p>Two behaviors: the group phase ({@link #groupPhase}: the consumer group is created at start, or restored after
 * Redis answered NOGROUP; new subscribers wait in a stash, nothing is read or claimed) and the active one
 * ({@link #createReceive}). Its Redis calls are in {@link ConsumerCalls}, its subscribers and their gates in
 * {@link Subscribers}.
 *
 * <p>Size: about 1,110 lines, far above the ~400 the project aims at: what is left is one state machine (held
 * entries, leases, reads and claims sharing one {@code max-in-flight} budget) whose pieces are read and changed
 * together in most handlers. Splitting it further (a pure held-entries table, the claim schedule) is open work.
 */
public final class SubscriptionActor extends AbstractBehavior<SubscriptionActor.Command> {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SubscriptionActor.class);

  /** Messages of a subscription actor. */
  public interface Command {}

  /** Adds a local subscriber; replies {@link SubscribeReply.Subscribed}. */
  public record AddSubscriber(ActorRef<Delivery> subscriber, ActorRef<SubscribeReply> replyTo, int prefetch)
      implements
        Command {
    public AddSubscriber(ActorRef<Delivery> subscriber, ActorRef<SubscribeReply> replyTo) {
      this(subscriber, replyTo, io.redisrouter.protocol.RouterCommand.Subscribe.DEFAULT_PREFETCH);
    }
  }

  /** Removes a local subscriber; the actor stops when the last one is gone. */
  public record RemoveSubscriber(ActorRef<Delivery> subscriber, ActorRef<SubscribeReply> replyTo) implements Command {}

  /** Sent by the router after the last local subscriber left: the subscription stops. */
  public enum Stop implements Command {
    INSTANCE
  }

  /** A delivery child asks to hand its message to a subscriber. */
  record DeliverRequest(String streamId, Envelope envelope, String deliveryId, ActorRef<DeliveryAck> replyTo)
      implements
        Command {}

  /** How a delivery ended. */
  enum Result { ACKED, DEAD, LOST }

  /** A delivery child is done with its message. */
  record Outcome(String streamId, Envelope envelope, Result result, DeadLetter.Reason reason, int attempts,
      String error)
      implements
        Command {}

  /**
   * Makes the actor (or a subscriber's gate) fail the way a bug would (an exception thrown by a message handler).
   * Only the supervision tests send it; nothing in the router does.
   */
  record InjectedFailure(String why) implements Command {}

  /**
   * POLL: a read again after a failed one; WAKE: new entries announced (a local publish, the doorbell); WATCHED:
   * the stream watch found entries after the last one known here (nothing announced them).
   */
  private enum Tick implements Command { POLL, CLAIM, RENEW, ENSURE_GROUP, WAKE, WATCHED }

  /** The group's pending summary, read before a take-over scan: is there anything another consumer holds? */
  private record ClaimCheck(io.lettuce.core.models.stream.PendingMessages pending, Throwable error)
      implements
        Command {}

  private record SubscriberGone(ActorRef<Delivery> subscriber) implements Command {}

  private record ChildStopped(String streamId, ActorRef<Object> child) implements Command {}

  private record GroupReady(ConsumerGroups.Ensured ensured, Throwable error) implements Command {}

  /** {@code head}: the stream's last entry id read just before (a verifying read), "0-0" when empty, else null. */
  private record ReadDone(List<StreamMessage<String, byte[]>> messages, int requested, String head, Throwable error)
      implements
        Command {}

  /** {@code countsComplete}: {@code counts} lists every entry still pending for this consumer in the claimed range. */
  private record ClaimDone(List<StreamMessage<String, byte[]>> messages, Map<String, Long> counts,
      boolean countsComplete, String next,
      Throwable error) implements Command {}

  private record AckDone(String[] ids, Throwable error) implements Command {}

  /** A lease renewal's answer: of the {@code held} entries, {@code owned} are still this consumer's. */
  private record Renewed(String[] held, List<Object> owned, Throwable error) implements Command {}

  /** {@code written}: false when the entry was no longer this consumer's (nothing was written). */
  private record DeadLetterDone(String streamId, Envelope envelope, int attempts, DeadLetter.Reason reason,
      boolean written, Throwable error)
      implements
        Command {}

  /** A subscriber's answer to a first attempt made here. */
  private record InlineAnswer(DeliveryAck answer) implements Command {}

  private enum Sweep implements Command { INSTANCE }

  /** A gate of a subscriber that left passed on what that subscriber had answered, and stopped. */
  private record GateDrained(ActorRef<Object> gate) implements Command {}

  /** Stopping waited {@link #STOP_SETTLE_MAX} for the last answers and XACKs: it stops with what is left. */
  private enum StopSettled implements Command {
    INSTANCE
  }

  /** A first attempt made here, waiting for its answer. */
  private record Inline(Envelope envelope, String deliveryId) {}

  /**
   * How long a stopping subscription waits at most for the answers its subscribers sent before they left and for
   * their XACKs (normally a few milliseconds; longer only while Redis is slow or down: then they stay pending and
   * are claimed again, as before).
   */
  static final Duration STOP_SETTLE_MAX = Duration.ofSeconds(2);
  /** Backoff of the restarts after a failure (an exception in the actor, whatever its cause). */
  static final Duration RESTART_MIN_BACKOFF = Duration.ofMillis(200);
  static final Duration RESTART_MAX_BACKOFF = Duration.ofSeconds(10);
  /**
   * What waits for the consumer group: the subscribers added before it exists (one message each, so far more than a
   * node ever has on one subscription).
   */
  static final int STASH_CAPACITY = 10_000;

  /**
   * The supervised subscription: an exception restarts it with backoff (200 ms to 10 s, 20% jitter, without limit).
   * A restarted incarnation is a new consumer in the group: it calls {@code reattach} with itself so that its owner
   * (the router, which keeps who is subscribed) sends it every subscriber again; what the failed incarnation had in
   * flight stays pending in Redis and is claimed back once idle past the ack timeout, like a crashed consumer's.
   */
  public static Behavior<Command> create(String channel, String subscription, ChannelPolicy policy,
      ConsumerSettings consumerSettings, String nodeId, RedisHandle handle,
      Wakeups wakeups, RouterMetrics metrics,
      java.util.function.Consumer<ActorRef<Command>> reattach) {
    if (policy.mode() != ChannelMode.RELIABLE) {
      throw new IllegalArgumentException("channel '" + channel + "' is broadcast, not reliable");
    }
    java.util.concurrent.atomic.AtomicInteger incarnation = new java.util.concurrent.atomic.AtomicInteger();
    return Behaviors.supervise(Behaviors.<Command>setup(ctx -> {
      if (incarnation.incrementAndGet() > 1) {
        ctx.getLog().warn("subscription '{}' of channel '{}' restarted after a failure (incarnation {}):"
            + " re-attaching its subscribers; what it had in flight stays pending and is claimed again after the"
            + " ack timeout", subscription, channel, incarnation.get());
        metrics.recordFailureRecovered();
        reattach.accept(ctx.getSelf());
      }
      return Behaviors.withTimers(timers -> Behaviors.<Command>withStash(STASH_CAPACITY,
          stash -> new SubscriptionActor(ctx, timers, stash, channel, subscription, policy, consumerSettings, nodeId,
              handle, wakeups, metrics).groupPhase(false)));
    }))
        .onFailure(Exception.class, SupervisorStrategy.restartWithBackoff(RESTART_MIN_BACKOFF, RESTART_MAX_BACKOFF,
            0.2).withResetBackoffAfter(Duration.ofSeconds(30)));
  }

  private final TimerScheduler<Command> timers;
  private final String channel;
  private final String subscription;
  private final ChannelPolicy policy;
  private final ConsumerSettings consumerSettings;
  private final RedisHandle handle;
  private final Wakeups wakeups;
  private final RouterMetrics metrics;
  private final String stream;
  private final String deadStream;
  private final String consumer;
  private final Runnable wake;
  private final DeliveryActor.Source source;

  /** The local subscribers and their gates. */
  private final Subscribers subscribers;
  /** The attempts going on, and when each reached its subscriber (shared with the gates and delivery actors). */
  private final LiveDeliveries live = new LiveDeliveries();
  /** Entry id to the delivery id of the attempt its delivery actor made last. */
  private final Map<String, String> childAttempts = new HashMap<>();
  private final Map<String, ActorRef<Object>> inFlight = new HashMap<>();
  /**
   * Retries (attempts of delivery children) that came while the subscription had no subscriber (its last one
   * crashed or left, and another may join before the router stops this actor): handed to the next subscriber that
   * joins. At most one per message in flight.
   */
  private final List<DeliverRequest> parked = new ArrayList<>();
  /** First attempts made here, in the order they were sent (so the oldest is the first to time out). */
  private final java.util.LinkedHashMap<String, Inline> inline = new java.util.LinkedHashMap<>();
  private final ActorRef<DeliveryAck> inlineAnswers;
  private final long ackTimeoutNanos;
  private final List<String> acksToSend = new ArrayList<>();
  /**
   * Entries this consumer is done with whose XACK (or dead-letter script) is queued or in flight: a claim that
   * returns one of them (it was idle past the ack timeout before the XACK ran) must not deliver it again.
   */
  private final Set<String> settling = new HashSet<>();
  /**
   * Entries held here when the consumer group was lost: the restored group has them in no pending list until a read
   * takes them in again, so a lease renewal meanwhile would find them "no longer ours". Until a read returns them,
   * such an answer is not a lost lease.
   */
  private final Set<String> awaitingReRead = new HashSet<>();
  /** The subscribers added while the consumer group is being created (answered once it exists). */
  private final StashBuffer<Command> stash;
  /**
   * In the group phase ({@link #groupPhase}): no read or claim runs (they need the group); set and cleared only on
   * entering and leaving that behavior.
   */
  private boolean awaitingGroup;
  private Receive<Command> active;
  private boolean reading;
  private boolean claiming;
  private boolean acking;
  /** Gates of subscribers that left, still passing on their answers ({@link SubscriberGate.Drain}). */
  private final Set<ActorRef<Object>> draining = new HashSet<>();
  /** Stop came: the actor stops once the answers of its past subscribers are passed on and acknowledged. */
  private boolean stopping;
  private String claimCursor = "0-0";
  /**
   * A claim (take-over of entries other consumers left pending past the ack timeout) is due: until it ran, freed
   * room goes to it rather than to new reads, so that fresh traffic never starves a take-over. Reads and claims
   * never run at once: they share the one {@code max-in-flight} budget.
   */
  private boolean claimDue = true;
  /** The next read after a failed one ({@code poll-interval}, doubling up to {@code watch-interval} while it fails). */
  private Duration pollDelay;
  /**
   * The last entry id this subscription knows its stream holds (the last it read, or the stream's last entry read
   * just before a read that found nothing more): the stream watch wakes it for anything after. Null until known.
   */
  private String knownHead;
  /** What the stream watch was last told ({@link #knownHead} then), or null while not watched. */
  private String watchedAt;
  /** The next read first asks for the stream's last entry id (the first read, after a failure, when watched). */
  private boolean verifyNext = true;
  /** A wake-up came while a read was out: it may have missed what was announced, so read again after it. */
  private boolean wakePending;
  /** When the next claim check runs ({@link System#nanoTime}). */
  private long claimCheckAt;
  /** The next claim check after this ({@code claim-interval}; {@code idle-claim-max} while there is nothing to take over). */
  private Duration claimDelay;
  private final java.util.function.Consumer<byte[]> doorbell;
  private final Runnable watched;
  private final ConsumerCalls calls;
  /** This subscription's loss audit, from the first numbered message settled here (null until then). */
  private io.redisrouter.router.audit.SequenceAudit audit;

  private SubscriptionActor(ActorContext<Command> ctx, TimerScheduler<Command> timers, StashBuffer<Command> stash,
      String channel,
      String subscription, ChannelPolicy policy, ConsumerSettings consumerSettings,
      String nodeId, RedisHandle handle, Wakeups wakeups, RouterMetrics metrics) {
    super(ctx);
    this.timers = timers;
    this.stash = stash;
    this.channel = channel;
    this.subscription = subscription;
    this.policy = policy;
    this.consumerSettings = consumerSettings;
    this.handle = handle;
    this.wakeups = wakeups;
    this.metrics = metrics;
    this.stream = RedisKeys.stream(channel);
    this.deadStream = RedisKeys.deadLetters(channel);
    // a fresh consumer name per incarnation: whatever an earlier incarnation left pending is claimed back by
    // XAUTOCLAIM once idle, like any crashed consumer's entries
    this.consumer = nodeId + "-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0xfffff));
    this.source = new DeliveryActor.Source(handle, stream, subscription, consumer, live);
    this.calls = new ConsumerCalls(handle, stream, deadStream, subscription, consumer);
    this.subscribers = new Subscribers(live, policy.maxInFlight());
    this.inlineAnswers = ctx.messageAdapter(DeliveryAck.class, InlineAnswer::new);
    this.ackTimeoutNanos = policy.ackTimeout().toNanos();
    ActorRef<Command> self = ctx.getSelf();
    this.wake = () -> self.tell(Tick.WAKE);
    this.watched = () -> self.tell(Tick.WATCHED);
    wakeups.register(channel, wake);
    this.pollDelay = consumerSettings.pollInterval();
    this.claimDelay = consumerSettings.claimInterval();
    byte[] own = wakeups.token();
    // another node wrote entries here (its own rings are ignored: it woke its subscriptions locally)
    this.doorbell = from -> {
      if (!java.util.Arrays.equals(from, own)) self.tell(Tick.WAKE);
    };
    handle.addDoorbellListener(channel, doorbell);
    handle.registerConsumer(stream, subscription, consumer);
  }

  /** The behavior once the consumer group exists: reads, claims, deliveries, acks. */
  @Override
  public Receive<Command> createReceive() {
    if (active == null) active = activeReceive();
    return active;
  }

  private Receive<Command> activeReceive() {
    return newReceiveBuilder()
        .onMessage(AddSubscriber.class, this::onAdd)
        .onMessage(InjectedFailure.class, f -> {
          throw new IllegalStateException("injected failure: " + f.why());
        })
        .onMessage(RemoveSubscriber.class, this::onRemove)
        .onMessage(SubscriberGone.class, g -> removeSubscriber(g.subscriber()))
        .onMessageEquals(Stop.INSTANCE, this::onStop)
        .onMessage(GateDrained.class, g -> {
          draining.remove(g.gate());
          live.forgetGate(g.gate());
          return settled();
        })
        .onMessageEquals(StopSettled.INSTANCE, () -> {
          getContext().getLog().warn("subscription '{}' of channel '{}' stops without the last answers or XACKs"
              + " ({} gates still passing answers on, {} acks unsent, XACK in flight: {}) after {}: those entries"
              + " stay pending and are delivered again after the ack timeout", subscription, channel,
              draining.size(), acksToSend.size(), acking, STOP_SETTLE_MAX);
          return Behaviors.stopped();
        })
        .onMessage(DeliverRequest.class, this::onDeliverRequest)
        .onMessage(Outcome.class, this::onOutcome)
        .onMessage(ChildStopped.class, this::onChildStopped)
        .onMessage(ReadDone.class, this::onReadDone)
        .onMessage(ClaimDone.class, this::onClaimDone)
        .onMessage(AckDone.class, this::onAckDone)
        .onMessage(Renewed.class, this::onRenewed)
        .onMessage(DeadLetterDone.class, this::onDeadLetterDone)
        .onMessage(InlineAnswer.class, this::onInlineAnswer)
        .onMessageEquals(Sweep.INSTANCE, this::sweep)
        .onMessageEquals(Tick.POLL, this::read)
        .onMessageEquals(Tick.WAKE, this::onWake)
        .onMessageEquals(Tick.WATCHED, () -> {
          watchedAt = null; // the watch let go of us
          verifyNext = true;
          return onWake();
        })
        .onMessageEquals(Tick.CLAIM, this::checkClaim)
        .onMessage(ClaimCheck.class, this::onClaimCheck)
        .onMessageEquals(Tick.RENEW, this::renew)
        .onSignal(PreRestart.class, s -> released())
        .onSignal(PostStop.class, s -> released())
        .build();
  }

  /**
   * The group phase: the consumer group is being created (at start) or restored (Redis answered NOGROUP). What
   * needs the group waits: new subscribers are stashed and answered once it exists; reads, wake-ups and claim ticks
   * are left to the read and the claim that follow its creation. What concerns entries already held goes on
   * (answers, retries, acks, lease renewals, subscribers leaving), through the same handlers as once ready.
   */
  private Behavior<Command> groupPhase(boolean restore) {
    awaitingGroup = true;
    ensureGroup();
    return newReceiveBuilder()
        .onMessage(GroupReady.class, g -> onGroupReady(g, restore))
        .onMessage(AddSubscriber.class, a -> {
          stash.stash(a);
          return Behaviors.same();
        })
        .onMessage(RemoveSubscriber.class, r -> stash.anyMatch(m -> m instanceof AddSubscriber a
            && a.subscriber().equals(r.subscriber())), r -> {
              stash.stash(r); // after its own stashed AddSubscriber
              return Behaviors.same();
            })
        .onMessageEquals(Tick.ENSURE_GROUP, () -> {
          ensureGroup();
          return Behaviors.same();
        })
        .onMessageEquals(Tick.POLL, Behaviors::same)
        .onMessageEquals(Tick.WAKE, Behaviors::same)
        .onMessageEquals(Tick.CLAIM, Behaviors::same)
        .onMessage(ClaimCheck.class, c -> Behaviors.same())
        .onMessage(Command.class, m -> {
          Behavior<Command> next = createReceive().receiveMessage(m);
          return next == this ? Behaviors.same() : next; // stays in the phase, unless it stopped
        })
        .onSignal(PreRestart.class, s -> {
          released();
          return Behaviors.same();
        })
        .onSignal(PostStop.class, s -> {
          released();
          return Behaviors.same();
        })
        .build();
  }

  /** Stopped or restarting: the children stop with us; their entries (and the first attempts') stay pending. */
  private Behavior<Command> released() {
    wakeups.unregister(channel, wake);
    handle.watch().forget(stream, getContext().getSelf());
    // the consumer left in the group is removable once idle long enough: the janitor looks again then
    wakeups.touchAt(channel, System.nanoTime() + consumerSettings.idleConsumerRemoval().toNanos()
        + policy.trimInterval().toNanos());
    handle.removeDoorbellListener(channel, doorbell);
    handle.unregisterConsumer(stream, subscription, consumer);
    metrics.inFlightRemoved((inFlight.size() + inline.size()));
    inFlight.clear();
    inline.clear();
    parked.clear();
    live.clear();
    childAttempts.clear();
    awaitingReRead.clear();
    return this;
  }

  // ---- subscribers ------------------------------------------------------------------------------------------------

  private Behavior<Command> onAdd(AddSubscriber a) {
    if (subscribers.add(a.subscriber(), a.prefetch(), prefetch -> getContext().spawnAnonymous(
        SubscriberGate.create(a.subscriber(), prefetch, policy.ackTimeout(), live, metrics)))) {
      getContext().watchWith(a.subscriber(), new SubscriberGone(a.subscriber()));
    }
    // the consumer group exists (added in the group phase, this waited in the stash): from now on nothing is missed
    a.replyTo().tell(new SubscribeReply.Subscribed(channel, subscription, ChannelMode.RELIABLE));
    if (!parked.isEmpty()) {
      List<DeliverRequest> waiting = new ArrayList<>(parked);
      parked.clear();
      Instant now = Instant.now();
      for (DeliverRequest d : waiting) {
        // only the latest attempt of a message still in flight; an expired one is its child's to dead-letter
        if (inFlight.containsKey(d.streamId()) && !d.envelope().isExpired(now)) onDeliverRequest(d);
      }
    }
    return read();
  }

  private Behavior<Command> onRemove(RemoveSubscriber r) {
    Behavior<Command> next = removeSubscriber(r.subscriber());
    r.replyTo().tell(new SubscribeReply.Unsubscribed(channel, subscription));
    return next;
  }

  private Behavior<Command> removeSubscriber(ActorRef<Delivery> s) {
    ActorRef<Object> gate = subscribers.gateOf(s);
    if (subscribers.remove(s)) {
      getContext().unwatch(s);
      if (gate != null) {
        // not stopped at once: the answers its subscriber sent before leaving are still in its mailbox
        live.close(gate);
        draining.add(gate);
        ActorRef<Command> self = getContext().getSelf();
        gate.tell(new SubscriberGate.Drain(() -> self.tell(new GateDrained(gate))));
        handAgain(gate);
      }
      live.orphan(gate != null ? gate : s); // what was with it times out at once: retried elsewhere
      renew(); // Redis counts the deliveries it got now, not at the next renewal (a takeover may come first)
    }
    return this; // the router stops us (Stop) once it has taken the subscription out of its table
  }

  private Behavior<Command> onStop() {
    // the delivery counts left in Redis say what reached a subscriber, for whoever claims these entries next; those
    // that waited for a subscriber and never reached one are released: idle past the ack timeout, so that another
    // node's consumer takes them over at once (a hand-over does not hold them back for an ack timeout)
    String[] pairs = countPairs();
    List<String> kept = new ArrayList<>(pairs.length);
    List<String> released = new ArrayList<>(pairs.length + 1);
    released.add(Long.toString(policy.ackTimeout().multipliedBy(2).plusSeconds(1).toMillis()));
    for (int i = 0; i < pairs.length; i += 2) {
      List<String> to = neverReached(pairs[i]) ? released : kept;
      to.add(pairs[i]);
      to.add(pairs[i + 1]);
    }
    // while Redis is down, left as the last renewal set them
    if (!kept.isEmpty()) calls.claimOwned("SET", kept.toArray(String[]::new));
    if (released.size() > 1) calls.claimOwned("RELEASE", released.toArray(String[]::new));
    getContext().getLog().info("subscription '{}' of channel '{}': no subscriber left on this node; {} in-flight"
        + " entries stay pending and are claimed again after the ack timeout, {} that never reached a subscriber"
        + " are released to the other nodes", subscription, channel, kept.size() / 2, (released.size() - 1) / 2);
    // what the subscribers answered before they left is acknowledged first (dropped, those entries would stay
    // pending in a consumer nobody reads as: delivered again, and holding the channel's retention back for good)
    stopping = true;
    timers.cancel(Tick.RENEW);
    timers.startSingleTimer(StopSettled.INSTANCE, STOP_SETTLE_MAX);
    return settled();
  }

  /** Stopping: stops once no gate is passing answers on and every ack reached Redis; else (or not stopping) goes on. */
  private Behavior<Command> settled() {
    if (!stopping || !draining.isEmpty() || acking || !acksToSend.isEmpty()) return this;
    return Behaviors.stopped();
  }

  // ---- consumer group ---------------------------------------------------------------------------------------------

  /** One call at a time: on entering the group phase, then after each failed one (the ENSURE_GROUP timer). */
  private void ensureGroup() {
    // at the last entry this node read or claimed in the group when it knows one (a group Redis lost is made again
    // without skipping anything written after it); a new subscription starts with what is published from now on
    CompletionStage<ConsumerGroups.Ensured> f = handle.awaitUp(Duration.ofSeconds(5))
        .thenCompose(v -> ConsumerGroups.ensure(handle, stream, subscription));
    getContext().pipeToSelf(f, GroupReady::new);
  }

  /** Redis answered NOGROUP: the stream or the consumer group is gone (lost by Redis, or deleted by someone). */
  private Behavior<Command> onGroupGone(String command) {
    if (awaitingGroup) {
      return this; // already being restored (a read or claim that was out when it went)
    }
    String oldest = null;
    for (String id : inline.keySet()) if (oldest == null || StreamIds.compare(id, oldest) < 0) oldest = id;
    for (String id : inFlight.keySet()) if (oldest == null || StreamIds.compare(id, oldest) < 0) oldest = id;
    if (oldest != null) handle.lowerGroupPosition(stream, subscription, oldest);
    awaitingReRead.addAll(inline.keySet());
    awaitingReRead.addAll(inFlight.keySet());
    getContext().getLog().warn("redis instance '{}': consumer group '{}' of channel '{}' is gone ({} answered"
        + " NOGROUP: Redis lost it, or it was deleted); creating it again {} ({}){}", handle.instance(),
        subscription, channel, command,
        oldest == null ? "at the last entry this node read" : "just before the oldest entry in flight here",
        positionText(handle.groupPosition(stream, subscription)), oldest == null
            ? ""
            : ": the "
                + (inFlight.size() + inline.size())
                + " entries in flight here are read into it again, so that their acks"
                + " and retries work; entries after them acknowledged already may be delivered again");
    return groupPhase(true);
  }

  private static String positionText(String id) {
    return id == null ? "none known: at the end of the stream" : "entry " + id;
  }

  private Behavior<Command> onGroupReady(GroupReady g, boolean restore) {
    if (g.error() != null) {
      getContext().getLog().warn("subscription '{}' of channel '{}': cannot create consumer group ({}); retrying",
          subscription, channel, describe(g.error()));
      timers.startSingleTimer(Tick.ENSURE_GROUP, Duration.ofSeconds(1));
      return Behaviors.same();
    }
    ConsumerGroups.Ensured e = g.ensured();
    if (e.created() && (restore || !"$".equals(e.at()))) {
      // the group was there (this node read from it, or it answered NOGROUP) and Redis no longer had it
      metrics.stateRestored(handle.instance(), RouterMetrics.RESTORED_GROUP, 1);
      getContext().getLog().warn("redis instance '{}' had lost consumer group '{}' of channel '{}' (a restart"
          + " without persistence, a lost AOF tail or a failover): restored it at {}; entries written after it"
          + " are delivered, what Redis lost before it is gone", handle.instance(), subscription, channel,
          "$".equals(e.at()) ? "the end of the stream (no entry read here yet)" : "entry " + e.at());
    }
    awaitingGroup = false;
    scheduleClaimCheck(claimDelay);
    claim(); // first take over what crashed consumers left behind
    read();
    return stash.unstashAll(this); // the subscribers that waited for the group
  }

  /** How often the ack timeouts of first attempts are checked: 1/20 of the ack timeout, 5 ms to 1 s. */
  private Duration sweepInterval() {
    long ms = Math.max(5, Math.min(1000, policy.ackTimeout().toMillis() / 20));
    return Duration.ofMillis(ms);
  }

  private Duration renewInterval() {
    Duration third = policy.ackTimeout().dividedBy(3);
    Duration configured = consumerSettings.leaseRenewInterval();
    Duration d = configured.compareTo(third) < 0 ? configured : third;
    return d.isZero() ? Duration.ofMillis(1) : d;
  }

  // ---- reading ----------------------------------------------------------------------------------------------------

  private int room() {
    return policy.maxInFlight() - inFlight.size() - inline.size();
  }

  /**
   * New entries were announced (or found by the stream watch): read them (after the read in progress, if any), and
   * bring the next claim check to within {@code ack-timeout + claim-interval}: another consumer of the group (on
   * another node) may read some of them and stop before it acknowledges them.
   */
  private Behavior<Command> onWake() {
    if (reading) wakePending = true;
    if (watchedAt != null) {
      // reading now: the watch leaves it alone until it is idle again (with what it knows then)
      handle.watch().forget(stream, getContext().getSelf());
      watchedAt = null;
    }
    Duration soon = policy.ackTimeout().plus(consumerSettings.claimInterval());
    if (claimCheckAt - (System.nanoTime() + soon.toNanos()) > 0) scheduleClaimCheck(soon);
    return read();
  }

  private void scheduleClaimCheck(Duration in) {
    claimCheckAt = System.nanoTime() + in.toNanos();
    timers.startSingleTimer(Tick.CLAIM, in);
  }

  private Behavior<Command> read() {
    if (claimDue || claiming) {
      return claim(); // a take-over goes first; the read follows once the claim scan is done
    }
    if (awaitingGroup || reading || subscribers.isEmpty() || room() <= 0) {
      return this;
    }
    int count = room();
    CompletionStage<ConsumerCalls.Read> f = calls.read(count, verifyNext);
    reading = true;
    wakePending = false;
    verifyNext = false;
    getContext().pipeToSelf(f, (r, err) -> err != null
        ? new ReadDone(null, count, null, err)
        : new ReadDone(r.messages(), count, r.head(), null));
    return this;
  }

  private Behavior<Command> onReadDone(ReadDone r) {
    reading = false;
    if (r.error() != null) {
      Throwable c = unwrap(r.error());
      verifyNext = true; // what happened meanwhile is unknown
      if (ConsumerGroups.isNoGroup(c)) {
        return onGroupGone("XREADGROUP");
      } else {
        getContext().getLog().debug("subscription '{}': read failed: {}", subscription, describe(c));
        // read again soon (doubling while it fails); a reconnect wakes every subscription at once anyway
        timers.startSingleTimer(Tick.POLL, pollDelay);
        Duration doubled = pollDelay.multipliedBy(2);
        Duration max = consumerSettings.watchInterval().compareTo(consumerSettings.pollInterval()) > 0
            ? consumerSettings.watchInterval()
            : consumerSettings.pollInterval();
        pollDelay = doubled.compareTo(max) > 0 ? max : doubled;
      }
      return this;
    }
    pollDelay = consumerSettings.pollInterval();
    if (r.head() != null) knownHead = maxId(knownHead, r.head());
    if (!r.messages().isEmpty()) {
      // where the group continues should Redis lose it: after the last entry read (ids come in order)
      String last = r.messages().get(r.messages().size() - 1).getId();
      handle.recordGroupPosition(stream, subscription, last);
      knownHead = maxId(knownHead, last);
    }
    for (StreamMessage<String, byte[]> m : r.messages()) {
      awaitingReRead.remove(m.getId()); // in the restored group's pending list again, if it was held here
      start(m.getId(), m.getBody(), 1);
    }
    flushWaitingMarks();
    if (claimDue || wakePending || r.messages().size() >= r.requested()) {
      return read(); // a claim that waited for this read, a wake-up that came during it, or more to read
    }
    // read up: nothing to do until a wake-up (a publish here, the doorbell) or the stream watch finds more
    if (knownHead == null) {
      verifyNext = true; // not known yet (never read anything, no verifying read): the next read asks
    } else if (!knownHead.equals(watchedAt)) {
      watchedAt = knownHead;
      handle.watch().idle(stream, getContext().getSelf(), knownHead, watched);
    }
    return this;
  }

  private static String maxId(String a, String b) {
    if (a == null) return b;
    if (b == null) return a;
    return StreamIds.compare(a, b) >= 0 ? a : b;
  }

  private void start(String streamId, Map<String, byte[]> body, int attempt) {
    if (inFlight.containsKey(streamId) || inline.containsKey(streamId)) {
      return;
    }
    byte[] raw = body == null ? null : body.get(RedisKeys.FIELD_ENVELOPE);
    Envelope envelope;
    try {
      if (raw == null) throw new IllegalArgumentException("entry has no '" + RedisKeys.FIELD_ENVELOPE + "' field");
      envelope = EnvelopeCodec.decode(raw);
    } catch (RuntimeException e) {
      // not written by the router, or damaged: kept raw in the dead letters; delivery goes on with the next entries
      deadLetter(streamId, null, raw, DeadLetter.CORRUPT, attempt - 1, "undecodable entry: " + e.getMessage());
      return;
    }
    if (envelope.isExpired(Instant.now())) {
      deadLetter(streamId, envelope, raw, DeadLetter.EXPIRED, attempt - 1,
          "deadline " + envelope.deadline() + " passed before delivery");
      return;
    }
    if (attempt > policy.maxAttempts()) {
      deadLetter(streamId, envelope, raw, DeadLetter.MAX_ATTEMPTS, attempt - 1,
          "delivered " + (attempt - 1) + " times without an ack (taken over from a consumer that stopped)");
      return;
    }
    metrics.inFlightAdded(1);
    // lease renewals run while this consumer holds entries (an idle subscription has no timer ticking)
    if (!timers.isTimerActive(Tick.RENEW)) timers.startTimerWithFixedDelay(Tick.RENEW, renewInterval());
    if (attempt == 1 && !subscribers.isEmpty()) {
      // the fast path: the first attempt of a new entry is made here
      String deliveryId = DeliveryIds.of(streamId, 1);
      inline.put(streamId, new Inline(envelope, deliveryId));
      if (!timers.isTimerActive(Sweep.INSTANCE)) timers.startTimerWithFixedDelay(Sweep.INSTANCE, sweepInterval());
      metrics.recordDelivered();
      subscribers.deliver(new Delivery(envelope.withAttempt(1), subscription, deliveryId, true, inlineAnswers));
      return;
    }
    spawnDelivery(streamId, envelope, attempt, null);
  }

  private void spawnDelivery(String streamId, Envelope envelope, int attempt, String failedAttempt) {
    ActorRef<Object> child = getContext().spawnAnonymous(DeliveryActor.create(getContext().getSelf(), streamId,
        envelope, attempt, policy, source, metrics, failedAttempt));
    getContext().watchWith(child, new ChildStopped(streamId, child));
    inFlight.put(streamId, child);
  }

  // ---- first attempts made here -------------------------------------------------------------------------------------

  private Behavior<Command> onInlineAnswer(InlineAnswer a) {
    DeliveryAck answer = a.answer();
    String id = answer == null ? null : answer.deliveryId();
    if (id == null) {
      // a subscriber bug (Ack(null), a nack without id): nothing to match it to; the entry it meant stays in
      // flight and is retried after its ack timeout
      getContext().getLog().warn("subscription '{}' of channel '{}': ignored a subscriber answer without a delivery"
          + " id ({}); the delivery it meant is retried after the ack timeout", subscription, channel, answer);
      return this;
    }
    String streamId = DeliveryIds.entry(id);
    Inline in = inline.get(streamId);
    if (in == null || !in.deliveryId().equals(id)) {
      // a late answer: the entry failed its first attempt meanwhile and a delivery actor owns it; an ack of any
      // attempt still means it was processed
      ActorRef<Object> child = inFlight.get(streamId);
      if (child != null && answer instanceof DeliveryAck.Ack) {
        child.tell(answer);
      } else if (child == null && answer instanceof DeliveryAck.Ack && !settling.contains(streamId)) {
        // the lease was lost meanwhile: processed all the same, so acknowledge it (a no-op when it was already)
        acksToSend.add(streamId);
        settling.add(streamId);
        sendAcks();
      }
      return this;
    }
    if (answer instanceof DeliveryAck.Ack) {
      inline.remove(streamId);
      live.end(id);
      metrics.inFlightRemoved(1);
      metrics.recordAcked();
      metrics.acked(channel).increment();
      metrics.recordPublishToAck(in.envelope().publishedAt());
      audit(in.envelope(), 1, false);
      acksToSend.add(streamId);
      settling.add(streamId);
      sendAcks();
      return read();
    }
    DeliveryAck.Nack n = (DeliveryAck.Nack) answer;
    metrics.recordNacked();
    String error = n.error() == null || n.error().isBlank() ? "nack without error" : n.error();
    if (n.doNotRetry()) {
      inline.remove(streamId);
      live.end(id);
      metrics.inFlightRemoved(1);
      deadLetter(streamId, in.envelope(), null, DeadLetter.REJECTED, 1, "subscriber rejected it (do not retry): "
          + error);
      return read();
    }
    failInline(streamId, in, "nack: " + error);
    return read();
  }

  /** The first attempt made here failed: a supervised delivery actor retries it (or it is dead-lettered). */
  private void failInline(String streamId, Inline in, String error) {
    inline.remove(streamId);
    live.end(in.deliveryId());
    if (policy.maxAttempts() <= 1) {
      metrics.inFlightRemoved(1);
      deadLetter(streamId, in.envelope(), null, DeadLetter.MAX_ATTEMPTS, 1, error);
      return;
    }
    spawnDelivery(streamId, in.envelope(), 1, error);
  }

  /** Fails the first attempts that got no answer within the ack timeout (oldest first). */
  private Behavior<Command> sweep() {
    long now = System.nanoTime();
    Instant wallNow = null;
    List<Map.Entry<String, Inline>> late = null;
    List<Map.Entry<String, Inline>> expired = null;
    // at most max-in-flight entries: each is checked (the ack timeout runs from the hand-over, in no fixed order)
    for (Map.Entry<String, Inline> e : inline.entrySet()) {
      long handed = live.handedAt(e.getValue().deliveryId());
      if (handed != LiveDeliveries.NOT_HANDED) {
        if (now - handed >= ackTimeoutNanos) {
          if (late == null) late = new ArrayList<>();
          late.add(e);
        }
      } else {
        if (wallNow == null) wallNow = Instant.now();
        if (e.getValue().envelope().isExpired(wallNow)) {
          if (expired == null) expired = new ArrayList<>();
          expired.add(e);
        }
      }
    }
    if (inline.isEmpty()) timers.cancel(Sweep.INSTANCE); // started again by the next first attempt
    if (late == null && expired == null) return this;
    if (late != null) {
      for (Map.Entry<String, Inline> e : late) {
        metrics.recordAckTimeout();
        failInline(e.getKey(), e.getValue(), "no ack within the ack timeout of " + policy.ackTimeout().toMillis()
            + " ms");
      }
    }
    if (expired != null) {
      for (Map.Entry<String, Inline> e : expired) {
        // its deadline came while it waited for the subscriber (busy with earlier ones): never handed over
        inline.remove(e.getKey());
        live.end(e.getValue().deliveryId());
        metrics.inFlightRemoved(1);
        deadLetter(e.getKey(), e.getValue().envelope(), null, DeadLetter.EXPIRED, 0, "deadline "
            + e.getValue().envelope().deadline() + " passed while the delivery waited for a busy subscriber");
      }
    }
    return read();
  }

  private Behavior<Command> onDeliverRequest(DeliverRequest d) {
    if (subscribers.isEmpty()) {
      // no subscriber now: kept for the next one that joins (or, if the router stops us first, the entry stays
      // pending in Redis for whoever reads this subscription next). Before, it was dropped here, and its delivery
      // child waited for an answer that could not come until the message's deadline dead-lettered it.
      parked.add(d);
      return this;
    }
    metrics.recordDelivered();
    String previous = childAttempts.put(d.streamId(), d.deliveryId());
    if (previous != null) live.end(previous);
    subscribers.deliver(new Delivery(d.envelope(), subscription, d.deliveryId(), true, d.replyTo()));
    flushWaitingMarks();
    return this;
  }

  /**
   * A subscriber left: the first attempts that waited in its gate and never reached it go to another subscriber as
   * they are (no attempt burnt); what it had unanswered times out at once.
   */
  private void handAgain(ActorRef<Object> gate) {
    if (subscribers.isEmpty()) return;
    for (Map.Entry<String, Inline> e : inline.entrySet()) {
      Inline in = e.getValue();
      if (live.gateOf(in.deliveryId()) != gate || live.isHandedOver(in.deliveryId())) continue;
      subscribers.deliver(new Delivery(in.envelope().withAttempt(1), subscription, in.deliveryId(), true,
          inlineAnswers));
    }
    flushWaitingMarks();
  }

  /**
   * Lowers by one the delivery counts in Redis of the entries that went to wait in a gate (in one script), so that an
   * entry read but never handed over does not burn an attempt should this node crash; the lease renewals keep the
   * counts true afterwards.
   */
  private void flushWaitingMarks() {
    String[] pairs = subscribers.drainWaitingMarks();
    if (pairs.length == 0) return;
    calls.claimOwned("SET", pairs).whenComplete((owned, err) -> {
      if (err != null) { // the next lease renewal sets the counts
        log.debug("subscription '{}': could not lower the delivery count of {} waiting entries: {}", subscription,
            pairs.length / 2, describe(err));
      }
    });
  }

  private Behavior<Command> onOutcome(Outcome o) {
    if (inFlight.remove(o.streamId()) == null) {
      return this;
    }
    endChildAttempt(o.streamId());
    metrics.inFlightRemoved(1);
    switch (o.result()) {
      case ACKED -> {
        audit(o.envelope(), o.attempts(), false);
        acksToSend.add(o.streamId());
        settling.add(o.streamId());
        sendAcks();
      }
      case DEAD -> deadLetter(o.streamId(), o.envelope(), null, o.reason(), o.attempts(), o.error());
      case LOST -> getContext().getLog().debug("subscription '{}': {} {}", subscription, o.streamId(), o.error());
    }
    return read();
  }

  private void endChildAttempt(String streamId) {
    String attempt = childAttempts.remove(streamId);
    if (attempt != null) live.end(attempt);
  }

  private Behavior<Command> onChildStopped(ChildStopped c) {
    // only when the entry is still owned by that child: a later delivery of the same entry (claimed again
    // after its outcome) has a child of its own
    if (inFlight.get(c.streamId()) == c.child()) {
      inFlight.remove(c.streamId());
      endChildAttempt(c.streamId());
      metrics.inFlightRemoved(1);
      // stopped without an outcome: its supervisor gave up
      getContext().getLog().warn("subscription '{}': delivery of {} stopped without an outcome; it stays pending"
          + " and is claimed again after the ack timeout", subscription, c.streamId());
      return read();
    }
    return this;
  }

  // ---- acks and dead letters --------------------------------------------------------------------------------------

  /**
   * Counts a numbered message this subscription settled (acknowledged, or dead-lettered) in its loss audit; nothing
   * for a message without a producer id (the audit is made on the first numbered one).
   */
  private void audit(Envelope e, int attempt, boolean deadLettered) {
    if (!e.hasSequence()) return;
    if (audit == null) audit = metrics.audits().of(channel, subscription);
    audit.settled(e.producerId(), e.sequence(), attempt, deadLettered);
  }

  private void sendAcks() {
    if (acking || acksToSend.isEmpty()) {
      return;
    }
    String[] ids = acksToSend.toArray(String[]::new);
    acksToSend.clear();
    CompletionStage<Long> f = calls.ack(ids);
    acking = true;
    wakeups.touch(channel); // the janitor's trim point may move on
    getContext().pipeToSelf(f, (n, err) -> new AckDone(ids, err));
  }

  private Behavior<Command> onAckDone(AckDone a) {
    acking = false;
    for (String id : a.ids()) {
      settling.remove(id);
      awaitingReRead.remove(id); // done with: no lease to keep
    }
    if (a.error() != null) {
      getContext().getLog().warn("subscription '{}': XACK of {} entries failed ({}); they stay pending and will be"
          + " delivered again (duplicates)", subscription, a.ids().length, describe(a.error()));
      // no longer held here: taken over (by this or another consumer) once idle past the ack timeout
      Duration soon = policy.ackTimeout().plus(consumerSettings.claimInterval());
      if (claimCheckAt - (System.nanoTime() + soon.toNanos()) > 0) scheduleClaimCheck(soon);
    }
    sendAcks();
    return settled();
  }

  private void deadLetter(String streamId, Envelope envelope, byte[] raw, DeadLetter.Reason reason, int attempts,
      String error) {
    settling.add(streamId);
    wakeups.touch(channel);
    byte[] body = envelope != null ? EnvelopeCodec.encode(envelope) : raw == null ? new byte[0] : raw;
    CompletionStage<Object> f = calls.deadLetter(streamId, body, reason, attempts, error);
    getContext().pipeToSelf(f, (id, err) -> new DeadLetterDone(streamId, envelope, attempts, reason, id != null,
        err));
  }

  private Behavior<Command> onDeadLetterDone(DeadLetterDone d) {
    settling.remove(d.streamId());
    awaitingReRead.remove(d.streamId());
    if (d.error() != null) {
      getContext().getLog().warn("subscription '{}': dead-lettering {} ({}) failed: {}; it stays pending and is"
          + " handled again after the ack timeout", subscription, d.streamId(), d.reason(), describe(d.error()));
    } else if (!d.written()) {
      metrics.recordLeasesLost();
      getContext().getLog().info("subscription '{}' of channel '{}': {} was not dead-lettered ({}): it is no longer"
          + " pending for this consumer (another one took it over after the ack timeout, or it was acknowledged)",
          subscription, channel, d.streamId(), d.reason());
    } else {
      metrics.recordDeadLettered();
      if (d.reason() == DeadLetter.Reason.EXPIRED) metrics.recordExpired();
      if (d.envelope() != null) audit(d.envelope(), Math.max(1, d.attempts()), true);
      getContext().getLog().debug("subscription '{}': {} dead-lettered ({})", subscription, d.streamId(), d.reason());
    }
    return this;
  }

  // ---- leases and take-over ---------------------------------------------------------------------------------------

  private Behavior<Command> renew() {
    if (stopping || (inFlight.isEmpty() && inline.isEmpty())) {
      // (stopping: the leases were set for the last time, and a renewal would take the released entries back)
      timers.cancel(Tick.RENEW); // started again with the next entry taken
      return this;
    }
    String[] pairs = countPairs();
    String[] held = new String[pairs.length / 2];
    for (int i = 0; i < held.length; i++) held[i] = pairs[2 * i];
    // on a dead connection it fails at once (logged, the next tick tries again)
    getContext().pipeToSelf(calls.claimOwned("SET", pairs), (owned, err) -> new Renewed(held, owned, err));
    return this;
  }

  /** Every entry held here with the delivery count Redis should hold for it (pairs: id, count). */
  private String[] countPairs() {
    String[] pairs = new String[(inFlight.size() + inline.size()) * 2];
    int i = 0;
    for (String id : inFlight.keySet()) {
      pairs[i++] = id;
      pairs[i++] = Integer.toString(deliveryCount(childAttempts.get(id)));
    }
    for (Map.Entry<String, Inline> e : inline.entrySet()) {
      pairs[i++] = e.getKey();
      pairs[i++] = Integer.toString(deliveryCount(e.getValue().deliveryId()));
    }
    return pairs;
  }

  /** Whether entry {@code streamId}'s current attempt waits for a subscriber and never reached one. */
  private boolean neverReached(String streamId) {
    Inline in = inline.get(streamId);
    String deliveryId = in != null ? in.deliveryId() : childAttempts.get(streamId);
    return deliveryId != null && live.isCurrent(deliveryId) && !live.isHandedOver(deliveryId);
  }

  /**
   * The delivery count Redis should hold for an entry whose current attempt is {@code deliveryId}: the attempt once
   * its subscriber has it, one less while it waits in a gate, -1 (keep) between attempts.
   */
  private int deliveryCount(String deliveryId) {
    if (deliveryId == null || !live.isCurrent(deliveryId)) return -1;
    int attempt = Subscribers.attemptOf(deliveryId);
    return live.isHandedOver(deliveryId) ? attempt : attempt - 1;
  }

  /**
   * The entries a renewal found no longer ours: another consumer took them over (this one did not renew within the
   * ack timeout: a stall, a pause, a partition), or they were acknowledged meanwhile. Whatever this node still
   * does with them stops: no retry, no dead-lettering; a late ack of the subscriber is still sent (it was processed).
   */
  private Behavior<Command> onRenewed(Renewed r) {
    if (r.error() != null) {
      getContext().getLog().debug("subscription '{}': lease renewal failed: {}", subscription, describe(r.error()));
      return this;
    }
    Set<String> owned = new HashSet<>(r.owned().size() * 2);
    for (Object o : r.owned()) {
      owned.add(o instanceof byte[] b ? new String(b, StandardCharsets.US_ASCII) : String.valueOf(o));
    }
    int lost = 0;
    for (String id : r.held()) {
      if (owned.contains(id) || settling.contains(id) || awaitingReRead.contains(id)) continue;
      Inline gone = inline.remove(id);
      if (gone != null) {
        live.end(gone.deliveryId());
        lost++;
      } else {
        ActorRef<Object> child = inFlight.remove(id);
        if (child == null) continue;
        endChildAttempt(id);
        getContext().unwatch(child);
        getContext().stop(child);
        lost++;
      }
      metrics.inFlightRemoved(1);
    }
    if (lost > 0) {
      metrics.recordLeasesLost(lost);
      getContext().getLog().warn("subscription '{}' of channel '{}': lost the lease on {} entries (not renewed within"
          + " the ack timeout of {} ms, so another consumer took them over, or they were acknowledged): this node"
          + " stops handling them", subscription, channel, lost, policy.ackTimeout().toMillis());
      return read();
    }
    return this;
  }

  /**
   * The claim tick: a take-over scan (XAUTOCLAIM) runs only when the group has pending entries that this actor does
   * not hold (the XPENDING summary, one cheap command); while it has none, the next check comes after
   * {@code idle-claim-max}, or sooner after a write to the channel. A scan in progress goes on at once.
   */
  private Behavior<Command> checkClaim() {
    if (!"0-0".equals(claimCursor)) {
      scheduleClaimCheck(claimDelay);
      claimDue = true;
      return claim();
    }
    getContext().pipeToSelf(calls.pendingSummary(), ClaimCheck::new);
    return this;
  }

  private Behavior<Command> onClaimCheck(ClaimCheck c) {
    long untracked;
    if (c.error() != null) {
      untracked = 1; // unknown: scan as before
    } else {
      // pending entries this actor does not hold: another consumer's, or its own left behind (an XACK that failed
      // in a reconnect, an earlier incarnation's): what a scan may have to take over once idle past the ack timeout
      untracked = c.pending().getCount() - (inFlight.size() + inline.size() + settling.size());
    }
    if (untracked > 0) {
      claimDelay = consumerSettings.claimInterval();
      claimDue = true;
    } else {
      // nothing to take over: new work for a take-over comes from reads of other consumers, which follow writes to
      // the channel (a wake-up brings the next check near, see onWake) or an XACK that failed here (likewise);
      // what else there is (another consumer reading old entries and stopping) is found at idle-claim-max
      claimDelay = consumerSettings.idleClaimMax();
    }
    scheduleClaimCheck(claimDelay);
    return claimDue ? claim() : this;
  }

  private Behavior<Command> claim() {
    if (awaitingGroup || claiming || reading || subscribers.isEmpty() || room() <= 0) {
      return this; // still due: the next freed room (or the end of the read in progress) runs it
    }
    int count = room();
    CompletionStage<ConsumerCalls.Claimed> f = calls.autoClaim(claimCursor, count, policy.ackTimeout());
    claiming = true;
    getContext().pipeToSelf(f, (c, err) -> err != null
        ? new ClaimDone(List.of(), Map.of(), false, null, err)
        : new ClaimDone(c.messages(), c.counts(), c.countsComplete(), c.next(), null));
    return this;
  }

  private Behavior<Command> onClaimDone(ClaimDone c) {
    claiming = false;
    if (c.error() != null) {
      claimDue = false; // tried again at the next claim tick; reads go on meanwhile
      if (ConsumerGroups.isNoGroup(c.error())) {
        return onGroupGone("XAUTOCLAIM");
      } else {
        getContext().getLog().debug("subscription '{}': claim failed: {}", subscription, describe(c.error()));
      }
      return this;
    }
    claimCursor = c.next() == null ? "0-0" : c.next();
    int taken = 0;
    for (StreamMessage<String, byte[]> m : c.messages()) {
      handle.recordGroupPosition(stream, subscription, m.getId());
      if (m.getBody() == null || m.getBody().isEmpty()) {
        // trimmed away by something else than the router while pending: nothing left to deliver
        getContext().getLog().warn("subscription '{}' of channel '{}': pending entry {} was deleted from the stream"
            + " outside the router; acknowledging it", subscription, channel, m.getId());
        acksToSend.add(m.getId());
        settling.add(m.getId());
        continue;
      }
      // in flight here, or done here with its XACK / dead-lettering still on the way: not a stopped consumer's
      if (inFlight.containsKey(m.getId()) || inline.containsKey(m.getId()) || settling.contains(m.getId())) continue;
      // no longer pending for this consumer right after the claim: acknowledged meanwhile (an XACK that was
      // queued behind the claim) or taken by another consumer; either way not ours to deliver
      if (c.countsComplete() && !c.counts().containsKey(m.getId())) continue;
      long count = c.counts().getOrDefault(m.getId(), 2L);
      taken++;
      start(m.getId(), m.getBody(), (int) Math.min(Integer.MAX_VALUE, count));
    }
    sendAcks();
    flushWaitingMarks();
    if (taken > 0) {
      metrics.recordClaimed(taken);
      getContext().getLog().info("subscription '{}' of channel '{}': took over {} entries left pending by a stopped"
          + " or stuck consumer", subscription, channel, taken);
    }
    if ("0-0".equals(claimCursor)) {
      claimDue = false; // the whole pending list was scanned: new reads may have the room again
    }
    return read(); // the next part of the scan while it is due, else new entries
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  static Throwable unwrap(Throwable t) {
    Throwable c = t;
    while (c instanceof CompletionException && c.getCause() != null) c = c.getCause();
    return c;
  }

  static String describe(Throwable t) {
    Throwable c = unwrap(t);
    return c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
  }
}
