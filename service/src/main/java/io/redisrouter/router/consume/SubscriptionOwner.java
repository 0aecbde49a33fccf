package io.redisrouter.router.consume;

import io.redisrouter.protocol.ClusterMessage;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.internal.Stages;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Cluster mode: the one owner of an HTTP subscription in the cluster, a Cluster Sharding entity (entity id: the
 * subscription's name). It runs what consumes the subscription, its {@link WebhookPusher} or its {@link PullGateway},
 * on whichever node sharding placed it; when that node leaves or dies, the next {@link Ensure} (every node sends one
 * per subscription it knows, each {@code ensure-interval}) starts it on a survivor, whose consumer takes over what the
 * old one left pending once idle past the ack timeout.
 *
 * <p>Pulls, acks and nacks that reach another node are forwarded here ({@link RemotePull}, {@link RemoteSettle}):
 * any node serves every call. The definition is read from Redis at start and again every {@code refresh}: a
 * subscription deleted or redefined through any node stops or restarts its consumer here.
 */
public final class SubscriptionOwner extends AbstractBehavior<SubscriptionOwner.Command> {

  public static final EntityTypeKey<Command> KEY = EntityTypeKey.create(Command.class, "http-subscription");

  /** What crosses nodes is a {@link ClusterMessage} (Jackson CBOR); the private answers stay on the node. */
  public interface Command {}

  /** Runs the subscription's consumer if it does not run yet (idempotent). */
  public record Ensure() implements Command, ClusterMessage {}

  /** The definition changed or the subscription was deleted: read it again now. */
  public record Reload() implements Command, ClusterMessage {}

  /**
   * The subscription was deleted: its consumer leaves the subscription, then {@code left} (may be null) is told
   * {@link Done} and this entity stops.
   */
  public record Release(ActorRef<Done> left) implements Command, ClusterMessage {}

  /**
   * A pull forwarded from a node that does not own the subscription; {@code streamKey} (0: none) marks what it hands
   * out as sent to that server-sent-event stream, and {@code resumeAfter} (may be null) sends again first what went to
   * streams after that event and is still unanswered. {@code answerBy} (epoch ms) is when the asking node stops
   * waiting: a pull that arrives too late (held up while its shard moved) takes nothing, so that deliveries are never
   * handed to a pull nobody waits for (each would burn an attempt).
   */
  public record RemotePull(long streamKey, int max, long waitMillis, Long resumeAfter, long answerBy,
      ActorRef<Pulled> replyTo) implements Command, ClusterMessage {}

  /** Time a forwarded pull's answer needs to get back to the asking node. */
  static final Duration ANSWER_MARGIN = Duration.ofMillis(500);

  /** The answer to a {@link RemotePull}. */
  public record Pulled(List<Handed> items) implements ClusterMessage {}

  /** A delivery handed out, as it crosses nodes (its envelope in the router's binary form). */
  public record Handed(byte[] envelope, String deliveryId, String subscription, long seq, Instant ackDeadline) {}

  /** An ack or nack forwarded from a node that does not own the subscription. */
  public record RemoteSettle(List<String> deliveryIds, boolean ack, String error, boolean doNotRetry,
      ActorRef<Settled> replyTo) implements Command, ClusterMessage {}

  /** The answer to a {@link RemoteSettle}. */
  public record Settled(int settled, List<String> unknown, Set<String> answeredHere) implements ClusterMessage {}

  /** Where does this owner run? Answered with {@link At}. */
  public record WhereAreYou(ActorRef<At> replyTo) implements Command, ClusterMessage {}

  /** The address of the node an owner runs on. */
  public record At(String address) implements ClusterMessage {}

  /** Sharding's stop message for this entity (its shard moves, or it passivated itself). */
  public record StopOwner() implements Command, ClusterMessage {}

  private record Loaded(Optional<HttpSubscription> found, Throwable error) implements Command {}

  /** The definition is missing from Redis: {@code deleted} when a tombstone says so, else Redis lost it. */
  private record Missing(boolean deleted, Throwable error) implements Command {}

  /** The consumer left the subscription (or could not say so in time): tell {@code left}, then stop. */
  private record ConsumerLeft(ActorRef<Done> left) implements Command {}

  private enum Tick implements Command { RELOAD }

  /** Messages held while the definition is read. */
  static final int STASH = 1_000;
  private static final Duration ASK_MARGIN = Duration.ofSeconds(10);

  public static Behavior<Command> create(String name, RouterRuntime runtime, SubscriptionStore store,
      Duration refresh, Duration pullIdleRelease, AtomicInteger ownedHere) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> Behaviors.withStash(STASH,
        stash -> new SubscriptionOwner(ctx, timers, stash, name, runtime, store, refresh, pullIdleRelease, ownedHere)
            .load())));
  }

  private final TimerScheduler<Command> timers;
  private final StashBuffer<Command> stash;
  private final String name;
  private final RouterRuntime runtime;
  private final SubscriptionStore store;
  private final Duration pullIdleRelease;
  private HttpSubscription definition;
  private ActorRef<PullGateway.Command> gateway;
  private ActorRef<WebhookPusher.Command> pusher;
  private final AtomicInteger ownedHere;
  /** Whether this owner counts in {@code ownedHere} (from its first consumer on). */
  private boolean counted;
  /** A stop from sharding (a hand-off) is being carried out. */
  private boolean stoppingForHandOff;
  private boolean loading;
  private int incarnation;

  private SubscriptionOwner(ActorContext<Command> ctx, TimerScheduler<Command> timers, StashBuffer<Command> stash,
      String name, RouterRuntime runtime, SubscriptionStore store, Duration refresh, Duration pullIdleRelease,
      AtomicInteger ownedHere) {
    super(ctx);
    this.ownedHere = ownedHere;
    this.timers = timers;
    this.stash = stash;
    this.name = name;
    this.runtime = runtime;
    this.store = store;
    this.pullIdleRelease = pullIdleRelease;
    timers.startTimerWithFixedDelay(Tick.RELOAD, refresh);
  }

  private SubscriptionOwner load() {
    if (loading) return this;
    loading = true;
    getContext().pipeToSelf(store.get(name), Loaded::new);
    return this;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Loaded.class, this::onLoaded)
        .onMessage(Missing.class, m -> {
          loading = false;
          if (m.error() != null || !m.deleted()) return this; // kept running: the definition is written back
          getContext().getLog().info("HTTP subscription '{}' was deleted: its owner stops", name);
          definition = null;
          stopConsumerThenSelf(null);
          return this;
        })
        .onMessage(Ensure.class, e -> this)
        .onMessage(Reload.class, r -> load())
        .onMessageEquals(Tick.RELOAD, this::load)
        .onMessage(Release.class, this::onRelease)
        .onMessage(RemotePull.class, this::onRemotePull)
        .onMessage(RemoteSettle.class, this::onRemoteSettle)
        .onMessage(WhereAreYou.class, w -> {
          w.replyTo().tell(new At(Cluster.get(getContext().getSystem()).selfMember().address().toString()));
          return this;
        })
        .onSignal(PostStop.class, s -> {
          if (counted) ownedHere.decrementAndGet();
          return this;
        })
        .onMessage(StopOwner.class, s -> {
          // sharding moves the subscription (a rebalance, this node leaving): the consumer finishes what is on the
          // wire and leaves first, so that the next owner, which sharding starts once this entity has stopped,
          // never pushes while this one still does
          if (stoppingForHandOff) return this;
          stoppingForHandOff = true;
          stopConsumerThenSelf(null);
          return this;
        })
        .onMessage(ConsumerLeft.class, l -> {
          if (l.left() != null) l.left().tell(Done.getInstance());
          return Behaviors.stopped();
        })
        .build();
  }

  /** Before the first definition is read, pulls and settles wait (in the stash). */
  private boolean waitingForDefinition(Command c) {
    if (definition != null || !loading) return false;
    if (stash.isFull()) {
      getContext().getLog().warn("HTTP subscription '{}': {} requests wait for its definition; one more is dropped",
          name, STASH);
      return true;
    }
    stash.stash(c);
    return true;
  }

  private Behavior<Command> onLoaded(Loaded l) {
    loading = false;
    if (l.error() != null) {
      getContext().getLog().warn("HTTP subscription '{}': cannot read its definition from Redis ({}); trying again"
          + " at the next reload", name, SubscriptionStore.unwrap(l.error()).toString());
      if (definition == null) timers.startSingleTimer(Reload.class, new Reload(), Duration.ofSeconds(1));
      return stash.unstashAll(this);
    }
    HttpSubscription found = l.found().orElse(null);
    if (found == null && definition != null) {
      // absence is not deletion: a tombstone says whether it was deleted, else the nodes write it back
      loading = true;
      getContext().pipeToSelf(store.deleted(definition), Missing::new);
      return this;
    }
    if (found == null) {
      // deleted (through any node): nothing to consume; what waited is answered empty
      getContext().getLog().info("HTTP subscription '{}' no longer exists: its owner stops", name);
      definition = null;
      stopConsumerThenSelf(null);
      return stash.unstashAll(this); // answered empty until the consumer has left
    }
    if (definition == null || !definition.sameDefinition(found)) {
      if (definition != null) {
        getContext().getLog().info("HTTP subscription '{}' was redefined: its consumer starts again", name);
        stopConsumer();
      }
      definition = found;
      startConsumer();
    } else {
      definition = found;
    }
    return stash.unstashAll(this);
  }

  private void startConsumer() {
    if (!counted) {
      counted = true;
      ownedHere.incrementAndGet();
    }
    int n = ++incarnation;
    var policy = runtime.settings().policyFor(definition.channel());
    if (definition.isPush()) {
      pusher = getContext().spawn(WebhookPusher.create(definition, policy, runtime.router(), runtime.metrics(),
          runtime.settings().nodeId()),
          "webhook-" + n);
    } else {
      gateway = getContext().spawn(PullGateway.create(definition, policy, runtime.router(), pullIdleRelease,
          runtime.metrics()), "pull-" + n);
    }
    getContext().getLog().info("cluster: this node owns HTTP subscription '{}' ({})", name,
        definition.isPush() ? "webhook" : "pull");
  }

  /** Stops the consumer; the stage completes once it has left the subscription (or could not say so in time). */
  private java.util.concurrent.CompletableFuture<Void> stopConsumer() {
    List<java.util.concurrent.CompletableFuture<Done>> leaving = new ArrayList<>(2);
    if (gateway != null) leaving.add(leave(gateway, PullGateway.Stop::new, PullGateway.LEAVE_TIMEOUT));
    if (pusher != null) leaving.add(leave(pusher, WebhookPusher.Stop::new, WebhookPusher.LONGEST_STOP));
    gateway = null;
    pusher = null;
    return java.util.concurrent.CompletableFuture.allOf(leaving.toArray(java.util.concurrent.CompletableFuture[]::new))
        .handle((v, e) -> null);
  }

  /** Stops the consumer, and this entity once the consumer has left (then {@code left}, may be null, hears). */
  private void stopConsumerThenSelf(ActorRef<Done> left) {
    getContext().pipeToSelf(stopConsumer(), (v, e) -> new ConsumerLeft(left));
  }

  /** Asks {@code child} to leave, which it confirms within {@code longest} (waited for with a second more). */
  private <C> java.util.concurrent.CompletableFuture<Done> leave(ActorRef<C> child,
      java.util.function.Function<ActorRef<Done>, C> stop, Duration longest) {
    return Stages.plain(AskPattern.<C, Done>ask(child, stop::apply, longest.plusSeconds(1),
        getContext().getSystem().scheduler()));
  }

  private Behavior<Command> onRelease(Release r) {
    getContext().getLog().info("HTTP subscription '{}' was deleted: its owner stops", name);
    definition = null;
    stopConsumerThenSelf(r.left());
    return this;
  }

  private Behavior<Command> onRemotePull(RemotePull p) {
    if (waitingForDefinition(p)) return this;
    if (gateway == null) { // not a pull subscription, or deleted
      p.replyTo().tell(new Pulled(List.of()));
      return this;
    }
    long left = p.answerBy() - System.currentTimeMillis() - ANSWER_MARGIN.toMillis();
    if (left <= 0) { // the asking node has given up (or is about to): take nothing
      p.replyTo().tell(new Pulled(List.of()));
      return this;
    }
    Duration wait = Duration.ofMillis(Math.max(0, Math.min(p.waitMillis(), left)));
    Stages.plain(AskPattern.<PullGateway.Command, List<PullGateway.Handed>>ask(gateway,
        replyTo -> new PullGateway.StreamPull(p.streamKey() == 0 ? null : p.streamKey(), p.max(), wait,
            p.resumeAfter(), replyTo),
        wait.plus(ASK_MARGIN), getContext().getSystem().scheduler()))
        .whenComplete((handed, err) -> p.replyTo().tell(new Pulled(err != null ? List.of() : wire(handed))));
    return this;
  }

  private static List<Handed> wire(List<PullGateway.Handed> handed) {
    List<Handed> out = new ArrayList<>(handed.size());
    for (PullGateway.Handed h : handed) {
      Delivery d = h.delivery();
      out.add(new Handed(EnvelopeCodec.encode(d.envelope()), d.deliveryId(), d.subscription(), h.seq(),
          h.ackDeadline()));
    }
    return out;
  }

  private Behavior<Command> onRemoteSettle(RemoteSettle s) {
    if (waitingForDefinition(s)) return this;
    if (gateway == null) {
      s.replyTo().tell(new Settled(0, s.deliveryIds(), Set.of()));
      return this;
    }
    Stages.plain(AskPattern.<PullGateway.Command, PullGateway.SettleResult>ask(gateway,
        replyTo -> new PullGateway.Settle(s.deliveryIds(), s.ack(), s.error(), s.doNotRetry(), replyTo), ASK_MARGIN,
        getContext().getSystem().scheduler()))
        .whenComplete((r, err) -> s.replyTo().tell(err != null
            ? new Settled(0, s.deliveryIds(), Set.of())
            : new Settled(r.settled(), r.unknown(), r.answeredHere())));
    return this;
  }

  /** The entity's place in the sharding configuration: the stop message sharding sends it. */
  public static void init(ClusterSharding sharding, RouterRuntime runtime, SubscriptionStore store, Duration refresh,
      Duration pullIdleRelease, AtomicInteger ownedHere) {
    sharding.init(org.apache.pekko.cluster.sharding.typed.javadsl.Entity
        .of(KEY, ctx -> create(ctx.getEntityId(), runtime, store, refresh, pullIdleRelease, ownedHere))
        .withStopMessage(new StopOwner()));
  }
}
