package io.redisrouter.router.consume;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.internal.Supervision;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * The HTTP subscriptions on this node: loads their definitions from Redis at start (again every second until Redis
 * answers, so that webhook subscriptions do not wait a whole {@code refresh} when Redis is not connected yet) and every
 * {@code refresh} (so that subscriptions created or deleted through another node take effect here too), runs a
 * {@link WebhookPusher} for every webhook subscription, and a {@link PullGateway} for each pull subscription that a
 * client pulls or streams from.
 *
 * <p>A subscription this node serves that is no longer stored is stopped only when its deletion left a tombstone;
 * without one Redis lost it (a restart without persistence, a lost AOF tail, a failover): this node writes the
 * definition back and creates its consumer group again, and says so (a WARN per instance and
 * {@code redis_router_redis_state_restored_total}).
 */
public final class HttpConsumers extends AbstractBehavior<HttpConsumers.Command> {
  private static final Logger log = LoggerFactory.getLogger(HttpConsumers.class);

  public interface Command {}

  /** The gateway of a pull subscription (created on demand), or why there is none. */
  public record Lookup(String name, ActorRef<LookupResult> replyTo) implements Command {}

  /** What a name stands for on this node: a pull subscription with its gateway, a webhook one, none, or unknown. */
  public sealed interface LookupResult {
    /** A pull subscription, served by {@code gateway} on this node. */
    record Pull(HttpSubscription subscription, ActorRef<PullGateway.Command> gateway) implements LookupResult {}

    /** A webhook subscription: the router pushes it, there is nothing to pull. */
    record Webhook(HttpSubscription subscription) implements LookupResult {}

    /** No subscription of that name. */
    record NotFound() implements LookupResult {}

    /** The subscriptions could not be read from Redis. */
    record Unavailable(String error) implements LookupResult {}
  }

  /** A subscription was created (or found) through this node: start serving it now. */
  public record Upsert(HttpSubscription subscription) implements Command {}

  /**
   * A subscription was deleted through this node: stop serving it now. {@code left} is told {@link Done} once this
   * node no longer consumes its consumer group (a consumer still reading would create a destroyed group again).
   */
  public record Removed(String name, ActorRef<Done> left) implements Command {}

  private record Loaded(SubscriptionStore.Snapshot snapshot, Throwable error) implements Command {}

  private record RestoreDone(List<SubscriptionStore.Restored> restored, Throwable error) implements Command {}

  private record LookupLoaded(String name, Optional<HttpSubscription> found, Throwable error,
      ActorRef<LookupResult> replyTo) implements Command {}

  private enum Refresh implements Command { INSTANCE }

  private enum EnsureOwners implements Command { INSTANCE }

  /** Retry period of the first load while Redis cannot be read (at most the refresh period). */
  static final Duration FIRST_LOAD_RETRY = Duration.ofSeconds(1);

  public static Behavior<Command> create(RouterRuntime runtime, SubscriptionStore store, Duration refresh,
      Duration pullIdleRelease) {
    return create(runtime, store, refresh, pullIdleRelease, null, null);
  }

  /**
   * With {@code sharding} (cluster mode), what consumes each subscription runs on one node of the cluster, in its
   * {@link SubscriptionOwner} entity: this actor then keeps it running ({@link SubscriptionOwner.Ensure} every
   * {@code ensureInterval} for every subscription it knows, which also starts it again on a survivor when its node
   * left or died), releases it when a subscription is deleted through this node, and serves pull subscriptions to
   * this node's routes through a {@link RemoteGateway} that forwards to the owner.
   */
  public static Behavior<Command> create(RouterRuntime runtime, SubscriptionStore store, Duration refresh,
      Duration pullIdleRelease, ClusterSharding sharding, Duration ensureInterval) {
    // restarted with backoff after a failure: its pushers and pull gateways stop with it, and the new incarnation
    // loads the subscriptions from Redis again and serves them (what they held stays pending and is redelivered)
    return Supervision.restarting("the HTTP consumers of this node", runtime.metrics(),
        ctx -> Behaviors.withTimers(timers -> {
          timers.startTimerWithFixedDelay(Refresh.INSTANCE, refresh);
          ctx.getSelf().tell(Refresh.INSTANCE);
          if (sharding != null) timers.startTimerWithFixedDelay(EnsureOwners.INSTANCE, ensureInterval);
          return new HttpConsumers(ctx, timers, runtime, store, refresh, pullIdleRelease, sharding);
        }));
  }

  private final TimerScheduler<Command> timers;
  private final RouterRuntime runtime;
  private final SubscriptionStore store;
  private final Duration firstLoadRetry;
  private final Duration pullIdleRelease;
  private final Map<String, HttpSubscription> known = new HashMap<>();
  private final Map<String, ActorRef<PullGateway.Command>> gateways = new HashMap<>();
  private final Map<String, ActorRef<WebhookPusher.Command>> pushers = new HashMap<>();
  private boolean loading;
  private boolean restoring;
  private boolean loadedOnce;
  private long children;

  /** Cluster mode: the subscriptions' owners (null on a single node). */
  private final ClusterSharding sharding;

  private HttpConsumers(ActorContext<Command> ctx, TimerScheduler<Command> timers, RouterRuntime runtime,
      SubscriptionStore store, Duration refresh, Duration pullIdleRelease, ClusterSharding sharding) {
    super(ctx);
    this.sharding = sharding;
    this.timers = timers;
    this.runtime = runtime;
    this.store = store;
    this.firstLoadRetry = refresh.compareTo(FIRST_LOAD_RETRY) < 0 ? refresh : FIRST_LOAD_RETRY;
    this.pullIdleRelease = pullIdleRelease;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Refresh.INSTANCE, this::refresh)
        .onMessageEquals(EnsureOwners.INSTANCE, () -> {
          for (String name : known.keySet()) owner(name).tell(new SubscriptionOwner.Ensure());
          return this;
        })
        .onMessage(InjectedFailure.class, f -> {
          throw f.fail();
        })
        .onMessage(Loaded.class, this::onLoaded)
        .onMessage(RestoreDone.class, this::onRestoreDone)
        .onMessage(Upsert.class, u -> {
          serve(u.subscription());
          return this;
        })
        .onMessage(Removed.class, r -> {
          forget(r.name(), r.left());
          return this;
        })
        .onMessage(Lookup.class, this::onLookup)
        .onMessage(LookupLoaded.class, this::onLookupLoaded)
        .build();
  }

  private Behavior<Command> refresh() {
    if (loading) return this;
    loading = true;
    getContext().pipeToSelf(store.load(), Loaded::new);
    return this;
  }

  private Behavior<Command> onLoaded(Loaded l) {
    loading = false;
    if (l.error() != null) {
      getContext().getLog().debug("cannot read the HTTP subscriptions yet: {}", l.error().toString());
      if (!loadedOnce) timers.startSingleTimer("first-load-retry", Refresh.INSTANCE, firstLoadRetry);
      return this;
    }
    List<HttpSubscription> all = l.snapshot().definitions();
    Set<String> names = new HashSet<>();
    for (HttpSubscription s : all) {
      names.add(s.name());
      serve(s);
    }
    List<HttpSubscription> lost = new ArrayList<>();
    for (String name : Set.copyOf(known.keySet())) {
      if (names.contains(name)) continue;
      SubscriptionStore.Tombstone t = l.snapshot().tombstones().get(name);
      // absence is not deletion: only a tombstone of this definition (or a later one) says it was deleted
      if (t != null && t.covers(known.get(name))) {
        forgetDeletedElsewhere(name);
      } else {
        lost.add(known.get(name));
      }
    }
    if (!lost.isEmpty() && !restoring) {
      restoring = true;
      getContext().pipeToSelf(store.restore(lost), RestoreDone::new);
    }
    if (!loadedOnce) {
      loadedOnce = true;
      long push = all.stream().filter(HttpSubscription::isPush).count();
      getContext().getLog().info("HTTP subscriptions: {} loaded from Redis ({} webhook, {} pull)", all.size(),
          push, all.size() - push);
    }
    return this;
  }

  /** Says what was restored, per Redis instance: a WARN and the restore counters. */
  private Behavior<Command> onRestoreDone(RestoreDone r) {
    restoring = false;
    if (r.error() != null) {
      getContext().getLog().warn("HTTP subscriptions missing from Redis could not be written back yet ({}); retried"
          + " at the next refresh", SubscriptionStore.unwrap(r.error()).toString());
      return this;
    }
    Map<String, List<String>> definitions = new HashMap<>();
    Map<String, List<String>> groups = new HashMap<>();
    for (SubscriptionStore.Restored x : r.restored()) {
      if (x.definitionWritten()) {
        definitions.computeIfAbsent(x.instance(), k -> new ArrayList<>()).add(x.subscription().name());
      }
      if (x.group().created()) {
        groups.computeIfAbsent(x.instance(), k -> new ArrayList<>()).add("'" + x.subscription().name() + "' at "
            + ("$".equals(x.group().at())
                ? "the end of the stream (no position known here)"
                : "entry " + x.group().at()));
      }
    }
    RouterMetrics metrics = runtime.metrics();
    Set<String> instances = new HashSet<>(definitions.keySet());
    instances.addAll(groups.keySet());
    for (String instance : instances) {
      List<String> defs = definitions.getOrDefault(instance, List.of());
      List<String> grps = groups.getOrDefault(instance, List.of());
      if (!defs.isEmpty()) metrics.stateRestored(instance, RouterMetrics.RESTORED_SUBSCRIPTION, defs.size());
      if (!grps.isEmpty()) metrics.stateRestored(instance, RouterMetrics.RESTORED_GROUP, grps.size());
      getContext().getLog().warn("redis instance '{}' had lost state of HTTP subscriptions that were not deleted (a"
          + " restart without persistence, a lost AOF tail or a failover): this node wrote back {} subscription"
          + " definitions {} and created {} consumer groups again {}; messages Redis lost with them are gone",
          instance, defs.size(), defs, grps.size(), grps);
    }
    return this;
  }

  /** Starts (or restarts, when the definition changed) what a subscription needs on this node. */
  private void serve(HttpSubscription s) {
    HttpSubscription before = known.get(s.name());
    if (before != null && before.sameDefinition(s)) {
      known.put(s.name(), s); // the stored one (it may be a later creation of the same definition)
      return;
    }
    if (sharding != null) {
      // its owner runs it, on whichever node: started now, or told to read the new definition
      known.put(s.name(), s);
      owner(s.name()).tell(before != null ? new SubscriptionOwner.Reload() : new SubscriptionOwner.Ensure());
      return;
    }
    if (before != null) forget(s.name(), null);
    known.put(s.name(), s);
    if (s.isPush()) {
      pushers.put(s.name(), getContext().spawn(
          WebhookPusher.create(s, runtime.settings().policyFor(s.channel()), runtime.router(), runtime.metrics(),
              runtime.settings().nodeId()),
          "webhook-" + s.name() + "-" + children++));
    }
  }

  /** Stops serving {@code name}; {@code left} (may be null) hears once its gateway and pusher have left. */
  /**
   * A subscription deleted through another node: this node stops consuming it, and then, if no subscription of that
   * name has been created again meanwhile, destroys its consumer group. This node's consumer recreates a group it
   * finds deleted (NOGROUP) until it stops, and a group nobody reads would hold the channel's retention back for good.
   */
  private void forgetDeletedElsewhere(String name) {
    if (sharding != null) {
      // the node it was deleted through released its owner (which also sees the tombstone itself)
      known.remove(name);
      ActorRef<PullGateway.Command> proxy = gateways.remove(name);
      if (proxy != null) proxy.tell(new PullGateway.Stop(null));
      return;
    }
    HttpSubscription def = known.get(name);
    boolean consumedHere = gateways.containsKey(name) || pushers.containsKey(name);
    List<CompletableFuture<Done>> leaving = new ArrayList<>(2);
    known.remove(name);
    ActorRef<PullGateway.Command> g = gateways.remove(name);
    if (g != null) leaving.add(stop(g, PullGateway.Stop::new, true, PullGateway.LEAVE_TIMEOUT));
    ActorRef<WebhookPusher.Command> p = pushers.remove(name);
    if (p != null) leaving.add(stop(p, WebhookPusher.Stop::new, true, WebhookPusher.LONGEST_STOP));
    if (!consumedHere || def == null) return;
    CompletableFuture.allOf(leaving.toArray(CompletableFuture[]::new))
        .handle((v, e) -> null)
        .thenCompose(x -> store.get(name))
        .thenCompose(found -> found.isPresent()
            ? CompletableFuture.completedFuture(false)
            : store.destroyGroup(def).thenApply(v -> true))
        .whenComplete((destroyed, e) -> {
          if (e != null) {
            log.warn("subscription '{}' was deleted through another node; removing its consumer group failed ({}):"
                + " remove it with XGROUP DESTROY {} {}", name, e.toString(), RedisKeys.stream(def.channel()), name);
          } else if (destroyed) {
            log.info("subscription '{}' was deleted through another node: this node stopped consuming it and removed"
                + " its consumer group", name);
          }
        });
  }

  private void forget(String name, ActorRef<Done> left) {
    if (sharding != null) {
      known.remove(name);
      ActorRef<PullGateway.Command> proxy = gateways.remove(name);
      if (proxy != null) proxy.tell(new PullGateway.Stop(null));
      // the owner leaves the subscription, wherever it runs, then answers
      CompletionStage<Done> released = Stages.plain(owner(name).<Done>ask(SubscriptionOwner.Release::new,
          PullGateway.LEAVE_TIMEOUT.plusSeconds(2)));
      if (left != null) released.whenComplete((d, e) -> left.tell(Done.getInstance()));
      return;
    }
    known.remove(name);
    List<CompletableFuture<Done>> leaving = new ArrayList<>(2);
    ActorRef<PullGateway.Command> g = gateways.remove(name);
    if (g != null) leaving.add(stop(g, PullGateway.Stop::new, left != null, PullGateway.LEAVE_TIMEOUT));
    ActorRef<WebhookPusher.Command> p = pushers.remove(name);
    if (p != null) leaving.add(stop(p, WebhookPusher.Stop::new, left != null, WebhookPusher.LONGEST_STOP));
    if (left != null) {
      CompletableFuture.allOf(leaving.toArray(CompletableFuture[]::new))
          .whenComplete((v, e) -> left.tell(Done.getInstance()));
    }
  }

  /** Tells {@code child} to stop; when {@code confirm}, completes once it has left the subscription. */
  private <C> CompletableFuture<Done> stop(ActorRef<C> child, Function<ActorRef<Done>, C> stop, boolean confirm,
      java.time.Duration longest) {
    if (!confirm) {
      child.tell(stop.apply(null));
      return CompletableFuture.completedFuture(Done.getInstance());
    }
    // the child confirms after the router did (a pusher first lets its calls in flight end): within longest, waited
    // for with a second more
    return Stages.plain(AskPattern.<C, Done>ask(child, stop::apply, longest.plusSeconds(1),
        getContext().getSystem().scheduler()));
  }

  private Behavior<Command> onLookup(Lookup l) {
    HttpSubscription s = known.get(l.name());
    if (s != null) {
      l.replyTo().tell(result(s));
      return this;
    }
    // not known here (yet): it may have been created through another node since the last refresh
    getContext().pipeToSelf(store.get(l.name()), (found, err) -> new LookupLoaded(l.name(), found, err, l.replyTo()));
    return this;
  }

  private Behavior<Command> onLookupLoaded(LookupLoaded l) {
    if (l.error() != null) {
      l.replyTo().tell(new LookupResult.Unavailable("cannot read the subscriptions from Redis: "
          + SubscriptionStore.unwrap(l.error()).getMessage()));
      return this;
    }
    if (l.found().isEmpty()) {
      l.replyTo().tell(new LookupResult.NotFound());
      return this;
    }
    serve(l.found().get());
    l.replyTo().tell(result(l.found().get()));
    return this;
  }

  private EntityRef<SubscriptionOwner.Command> owner(String name) {
    return sharding.entityRefFor(SubscriptionOwner.KEY, name);
  }

  private LookupResult result(HttpSubscription s) {
    if (s.isPush()) return new LookupResult.Webhook(s);
    if (sharding != null) {
      ActorRef<PullGateway.Command> proxy = gateways.computeIfAbsent(s.name(), n -> getContext().spawn(
          RemoteGateway.create(n, owner(n)), "pull-" + n + "-" + children++));
      return new LookupResult.Pull(s, proxy);
    }
    ActorRef<PullGateway.Command> g = gateways.computeIfAbsent(s.name(), n -> getContext().spawn(
        PullGateway.create(s, runtime.settings().policyFor(s.channel()), runtime.router(), pullIdleRelease,
            runtime.metrics()),
        "pull-" + n + "-" + children++));
    return new LookupResult.Pull(s, g);
  }
}
