package io.redisrouter.router.cluster;

import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.internal.Stages;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Cluster mode: the actor system's guardian, in front of the node's router core (its child). Every command goes to
 * the core as without a cluster, except the subscribe and unsubscribe of a reliable channel: an embedded subscriber
 * joins its subscription's one owner in the cluster ({@link EmbeddedOwner}), whose node alone consumes the
 * subscription and sends the subscriber its deliveries across the cluster. This node keeps its subscribers' list and
 * sends it to the owner every {@code ensureInterval} (which starts the owner on a survivor after its node died) and
 * at once when the owner moves. Broadcast subscriptions stay on the node (each subscriber hears every message).
 *
 * <p>A subscriber is answered {@code Subscribed} once the owner has subscribed it, or {@code SubscribeFailed} when no
 * owner answered within {@link #JOIN_TIMEOUT}.
 */
public final class ClusterRouter extends AbstractBehavior<RouterCommand> {

  /** Longest wait for an owner to take a new subscriber before the subscribe fails. */
  public static final Duration JOIN_TIMEOUT = Duration.ofSeconds(15);

  private record Key(String channel, String subscription) {
    String entityId() {
      return EmbeddedOwner.entityId(channel, subscription);
    }
  }

  private record Waiting(ActorRef<Delivery> subscriber, ActorRef<SubscribeReply> replyTo, long since) {}

  private record JoinAnswer(Key key, EmbeddedOwner.Joined joined, Throwable error) implements RouterCommand {}

  private record MovedIn(EmbeddedOwner.Moved moved) implements RouterCommand {}

  private record LeaveAnswer(ActorRef<SubscribeReply> replyTo, Key key) implements RouterCommand {}

  private record SubscriberGone(ActorRef<Delivery> subscriber) implements RouterCommand {}

  private enum Tick implements RouterCommand { ENSURE }

  /** The node shuts down: its subscribers leave their owners first; then {@code replyTo} hears. */
  private record LeaveAll(ActorRef<Done> replyTo) implements RouterCommand {}

  /**
   * Where the owners of the embedded subscriptions this node has subscribers in run: {@code channel/subscription} to
   * the owner's address (null when it did not answer within {@link #WHERE_TIMEOUT}).
   */
  public record EmbeddedPlacement(ActorRef<Map<String, String>> replyTo) implements RouterCommand {}

  /** Longest wait for one owner to say where it runs. */
  static final Duration WHERE_TIMEOUT = Duration.ofSeconds(3);

  /** Longest wait at shutdown for the owners to drop this node's subscribers. */
  static final Duration LEAVE_ALL_TIMEOUT = Duration.ofSeconds(5);

  public static Behavior<RouterCommand> create(RouterSettings settings, Duration ensureInterval,
      AtomicInteger ownedHere) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      ActorRef<RouterCommand> core = ctx.spawn(RedisRouter.create(settings), "core");
      ctx.watch(core);
      ClusterSharding sharding = ClusterSharding.get(ctx.getSystem());
      EmbeddedOwner.init(sharding, core, ownedHere);
      timers.startTimerWithFixedDelay(Tick.ENSURE, ensureInterval);
      // the first step of a shutdown: this node's subscribers get nothing more (what they hold unanswered goes to
      // the subscribers of other nodes at once), before sharding hands the owners running here over
      ActorRef<RouterCommand> self = ctx.getSelf();
      CoordinatedShutdown.get(ctx.getSystem()).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(),
          "embedded-subscribers-leave", () -> AskPattern.<RouterCommand, Done>ask(self, LeaveAll::new,
              LEAVE_ALL_TIMEOUT.plusSeconds(1), ctx.getSystem().scheduler()).exceptionally(e -> Done.getInstance()));
      return new ClusterRouter(ctx, settings, core, sharding);
    }));
  }

  private final RouterSettings settings;
  private final ActorRef<RouterCommand> core;
  private final ClusterSharding sharding;
  /** This node's subscribers by subscription, with their prefetch (joined or waiting to be). */
  private final Map<Key, Map<ActorRef<Delivery>, Integer>> members = new LinkedHashMap<>();
  private final Map<Key, List<Waiting>> waiting = new HashMap<>();
  private final ActorRef<EmbeddedOwner.Moved> movedAdapter;
  private final ActorRef<EmbeddedOwner.Left> leftIgnored;
  /** Shutting down: no subscriber joins an owner any more. */
  private boolean leaving;

  private ClusterRouter(ActorContext<RouterCommand> ctx, RouterSettings settings, ActorRef<RouterCommand> core,
      ClusterSharding sharding) {
    super(ctx);
    this.settings = settings;
    this.core = core;
    this.sharding = sharding;
    this.movedAdapter = ctx.messageAdapter(EmbeddedOwner.Moved.class, MovedIn::new);
    this.leftIgnored = ctx.getSystem().ignoreRef();
  }

  @Override
  public Receive<RouterCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(RouterCommand.Subscribe.class, this::onSubscribe)
        .onMessage(RouterCommand.Unsubscribe.class, this::onUnsubscribe)
        .onMessage(JoinAnswer.class, this::onJoinAnswer)
        .onMessage(LeaveAnswer.class, l -> {
          l.replyTo().tell(new SubscribeReply.Unsubscribed(l.key().channel(), l.key().subscription()));
          return this;
        })
        .onMessage(MovedIn.class, m -> {
          for (Key k : members.keySet()) {
            if (k.entityId().equals(m.moved().entityId())) join(k);
          }
          return this;
        })
        .onMessage(SubscriberGone.class, this::onSubscriberGone)
        .onMessage(LeaveAll.class, this::onLeaveAll)
        .onMessage(EmbeddedPlacement.class, this::onPlacement)
        .onMessageEquals(Tick.ENSURE, () -> {
          members.keySet().forEach(this::join);
          return this;
        })
        .onMessage(RouterCommand.class, c -> {
          core.tell(c);
          return this;
        })
        .onSignal(Terminated.class, t -> Behaviors.stopped()) // the core stopped: so does the node
        .build();
  }

  /** Whether a subscribe or unsubscribe goes to the subscription's owner (a valid reliable one) or to the core. */
  private boolean owned(String channel, String subscription) {
    return Validation.checkName("channel", channel) == null
        && Validation.checkName("subscription", subscription) == null
        && settings.policyFor(channel).mode() == ChannelMode.RELIABLE;
  }

  private Behavior<RouterCommand> onSubscribe(RouterCommand.Subscribe s) {
    if (!owned(s.channel(), s.subscription())) {
      core.tell(s); // broadcast (every node's subscribers hear every message) or invalid (the core says why)
      return this;
    }
    if (leaving) {
      s.replyTo().tell(new SubscribeReply.SubscribeFailed(s.channel(), s.subscription(), "this router node is"
          + " shutting down: subscribe through a node that runs", List.of()));
      return this;
    }
    Key key = new Key(s.channel(), s.subscription());
    Map<ActorRef<Delivery>, Integer> of = members.computeIfAbsent(key, k -> new LinkedHashMap<>());
    if (of.containsKey(s.subscriber()) && waitingFor(key, s.subscriber()) == null) {
      s.replyTo().tell(new SubscribeReply.Subscribed(s.channel(), s.subscription(), ChannelMode.RELIABLE));
      return this;
    }
    of.put(s.subscriber(), s.prefetch());
    getContext().watchWith(s.subscriber(), new SubscriberGone(s.subscriber()));
    waiting.computeIfAbsent(key, k -> new ArrayList<>())
        .add(new Waiting(s.subscriber(), s.replyTo(), System.nanoTime()));
    join(key);
    return this;
  }

  private Waiting waitingFor(Key key, ActorRef<Delivery> subscriber) {
    for (Waiting w : waiting.getOrDefault(key, List.of())) {
      if (w.subscriber().equals(subscriber)) return w;
    }
    return null;
  }

  /** Sends the subscription's owner this node's subscribers of it (which starts the owner where it does not run). */
  private void join(Key key) {
    if (leaving) return;
    Map<ActorRef<Delivery>, Integer> of = members.get(key);
    if (of == null || of.isEmpty()) return;
    List<EmbeddedOwner.Member> list = new ArrayList<>(of.size());
    of.forEach((ref, prefetch) -> list.add(new EmbeddedOwner.Member(ref, prefetch)));
    getContext().pipeToSelf(sharding.entityRefFor(EmbeddedOwner.KEY, key.entityId()).<EmbeddedOwner.Joined>ask(
        replyTo -> new EmbeddedOwner.Join(key.channel(), key.subscription(), list, movedAdapter, replyTo),
        JOIN_TIMEOUT), (joined, error) -> new JoinAnswer(key, joined, error));
  }

  private Behavior<RouterCommand> onJoinAnswer(JoinAnswer a) {
    List<Waiting> w = waiting.get(a.key());
    if (w == null) return this;
    String error = a.error() != null
        ? "no owner of subscription '" + a.key().subscription() + "' answered in the cluster within "
            + JOIN_TIMEOUT.toSeconds() + " s (is the cluster formed? see /v1/admin/cluster)"
        : a.joined().error();
    long now = System.nanoTime();
    for (Iterator<Waiting> it = w.iterator(); it.hasNext();) {
      Waiting one = it.next();
      if (error == null) {
        one.replyTo().tell(new SubscribeReply.Subscribed(a.key().channel(), a.key().subscription(),
            ChannelMode.RELIABLE));
        it.remove();
      } else if (a.joined() != null || now - one.since() >= JOIN_TIMEOUT.toNanos()) {
        // refused by the owner, or no owner answered for as long as a subscribe may wait
        getContext().getLog().warn("cluster: subscribing to '{}' of channel '{}' failed: {}", a.key().subscription(),
            a.key().channel(), error);
        one.replyTo().tell(new SubscribeReply.SubscribeFailed(a.key().channel(), a.key().subscription(), error,
            List.of()));
        it.remove();
        drop(a.key(), one.subscriber());
      }
    }
    if (w.isEmpty()) waiting.remove(a.key());
    return this;
  }

  private Behavior<RouterCommand> onUnsubscribe(RouterCommand.Unsubscribe u) {
    if (!owned(u.channel(), u.subscription())) {
      core.tell(u);
      return this;
    }
    Key key = new Key(u.channel(), u.subscription());
    Map<ActorRef<Delivery>, Integer> of = members.get(key);
    if (of == null || !of.containsKey(u.subscriber())) {
      u.replyTo().tell(new SubscribeReply.Unsubscribed(u.channel(), u.subscription()));
      return this;
    }
    Waiting w = waitingFor(key, u.subscriber());
    if (w != null) waiting.get(key).remove(w);
    removeMember(key, u.subscriber());
    ActorRef<SubscribeReply> replyTo = u.replyTo();
    getContext().pipeToSelf(sharding.entityRefFor(EmbeddedOwner.KEY, key.entityId()).<EmbeddedOwner.Left>ask(
        r -> new EmbeddedOwner.Leave(u.subscriber(), r), JOIN_TIMEOUT), (left, e) -> new LeaveAnswer(replyTo, key));
    return this;
  }

  private Behavior<RouterCommand> onPlacement(EmbeddedPlacement p) {
    Map<String, CompletableFuture<String>> where = new java.util.TreeMap<>();
    for (Key k : members.keySet()) {
      where.put(k.entityId(),
          Stages
              .plain(sharding.entityRefFor(EmbeddedOwner.KEY, k.entityId()).<EmbeddedOwner.At>ask(
                  EmbeddedOwner.WhereAreYou::new, WHERE_TIMEOUT))
              .thenApply(EmbeddedOwner.At::address)
              .exceptionally(e -> null));
    }
    ActorRef<Map<String, String>> replyTo = p.replyTo();
    CompletableFuture.allOf(where.values().toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
      Map<String, String> out = new java.util.TreeMap<>();
      where.forEach((id, f) -> out.put(id, f.join())); // each completes with an address or null
      replyTo.tell(out);
    });
    return this;
  }

  private Behavior<RouterCommand> onLeaveAll(LeaveAll l) {
    leaving = true;
    List<CompletableFuture<EmbeddedOwner.Left>> left = new ArrayList<>();
    int subscribers = 0;
    for (Map.Entry<Key, Map<ActorRef<Delivery>, Integer>> e : members.entrySet()) {
      for (ActorRef<Delivery> s : e.getValue().keySet()) {
        subscribers++;
        left.add(Stages.plain(sharding.entityRefFor(EmbeddedOwner.KEY, e.getKey().entityId()).<EmbeddedOwner.Left>ask(
            r -> new EmbeddedOwner.Leave(s, r), LEAVE_ALL_TIMEOUT)));
      }
    }
    waiting.forEach((key, list) -> list.forEach(w -> w.replyTo().tell(new SubscribeReply.SubscribeFailed(
        key.channel(), key.subscription(), "this router node is shutting down", List.of()))));
    waiting.clear();
    if (subscribers > 0) {
      getContext().getLog().info("shutdown: {} embedded subscriber(s) of this node leave their subscriptions' owners",
          subscribers);
    }
    ActorRef<Done> replyTo = l.replyTo();
    CompletableFuture.allOf(left.toArray(CompletableFuture[]::new))
        .whenComplete((v, e) -> replyTo.tell(Done.getInstance()));
    return this;
  }

  private Behavior<RouterCommand> onSubscriberGone(SubscriberGone g) {
    for (Key key : new ArrayList<>(members.keySet())) {
      if (!members.get(key).containsKey(g.subscriber())) continue;
      List<Waiting> w = waiting.get(key);
      if (w != null) w.removeIf(x -> x.subscriber().equals(g.subscriber()));
      drop(key, g.subscriber());
    }
    return this;
  }

  /** Removes a subscriber here and tells the owner (which also watches it). */
  private void drop(Key key, ActorRef<Delivery> subscriber) {
    removeMember(key, subscriber);
    sharding.entityRefFor(EmbeddedOwner.KEY, key.entityId()).tell(new EmbeddedOwner.Leave(subscriber, leftIgnored));
  }

  private void removeMember(Key key, ActorRef<Delivery> subscriber) {
    Map<ActorRef<Delivery>, Integer> of = members.get(key);
    if (of == null || of.remove(subscriber) == null) return;
    if (of.isEmpty()) {
      members.remove(key);
      waiting.remove(key);
    }
    boolean stillSubscribed = false;
    for (Map<ActorRef<Delivery>, Integer> m : members.values()) stillSubscribed |= m.containsKey(subscriber);
    if (!stillSubscribed) getContext().unwatch(subscriber);
  }
}
