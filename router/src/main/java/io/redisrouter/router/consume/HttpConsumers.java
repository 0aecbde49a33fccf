package io.redisrouter.router.consume;

import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The HTTP subscriptions on this node: loads their definitions from Redis at start and every
 * {@code refresh} (so that subscriptions created or deleted through another node take effect here too), runs a
 * {@link WebhookPusher} for every webhook subscription, and a {@link PullGateway} for each pull subscription that a
 * client pulls or streams from.
 */
public final class HttpConsumers extends AbstractBehavior<HttpConsumers.Command> {

  public interface Command {}

  /** The gateway of a pull subscription (created on demand), or why there is none. */
  public record Lookup(String name, ActorRef<LookupResult> replyTo) implements Command {}

  /**
   * {@code subscription} is empty when there is no such subscription; {@code gateway} is null for a webhook
   * subscription (nothing to pull) or when Redis could not be read ({@code error}).
   */
  public record LookupResult(Optional<HttpSubscription> subscription, ActorRef<PullGateway.Command> gateway,
                             String error) {}

  /** A subscription was created (or found) through this node: start serving it now. */
  public record Upsert(HttpSubscription subscription) implements Command {}

  /** A subscription was deleted through this node: stop serving it now. */
  public record Removed(String name) implements Command {}

  private record Loaded(List<HttpSubscription> all, Throwable error) implements Command {}

  private record LookupLoaded(String name, Optional<HttpSubscription> found, Throwable error,
                              ActorRef<LookupResult> replyTo) implements Command {}

  private enum Refresh implements Command { INSTANCE }

  public static Behavior<Command> create(RouterRuntime runtime, SubscriptionStore store, Duration refresh,
                                         Duration pullIdleRelease) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(Refresh.INSTANCE, refresh);
      ctx.getSelf().tell(Refresh.INSTANCE);
      return new HttpConsumers(ctx, runtime, store, pullIdleRelease);
    }));
  }

  private final RouterRuntime runtime;
  private final SubscriptionStore store;
  private final Duration pullIdleRelease;
  private final Map<String, HttpSubscription> known = new HashMap<>();
  private final Map<String, ActorRef<PullGateway.Command>> gateways = new HashMap<>();
  private final Map<String, ActorRef<WebhookPusher.Command>> pushers = new HashMap<>();
  private boolean loading;
  private boolean loadedOnce;
  private long children;

  private HttpConsumers(ActorContext<Command> ctx, RouterRuntime runtime, SubscriptionStore store,
                        Duration pullIdleRelease) {
    super(ctx);
    this.runtime = runtime;
    this.store = store;
    this.pullIdleRelease = pullIdleRelease;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessageEquals(Refresh.INSTANCE, this::refresh)
        .onMessage(Loaded.class, this::onLoaded)
        .onMessage(Upsert.class, u -> {
          serve(u.subscription());
          return this;
        })
        .onMessage(Removed.class, r -> {
          forget(r.name());
          return this;
        })
        .onMessage(Lookup.class, this::onLookup)
        .onMessage(LookupLoaded.class, this::onLookupLoaded)
        .build();
  }

  private Behavior<Command> refresh() {
    if (loading) return this;
    loading = true;
    getContext().pipeToSelf(store.list(), Loaded::new);
    return this;
  }

  private Behavior<Command> onLoaded(Loaded l) {
    loading = false;
    if (l.error() != null) {
      getContext().getLog().debug("cannot read the HTTP subscriptions yet: {}", l.error().toString());
      return this;
    }
    Set<String> names = new HashSet<>();
    for (HttpSubscription s : l.all()) {
      names.add(s.name());
      serve(s);
    }
    for (String name : Set.copyOf(known.keySet())) {
      if (!names.contains(name)) forget(name);
    }
    if (!loadedOnce) {
      loadedOnce = true;
      long push = l.all().stream().filter(HttpSubscription::isPush).count();
      getContext().getLog().info("HTTP subscriptions: {} loaded from Redis ({} webhook, {} pull)", l.all().size(),
          push, l.all().size() - push);
    }
    return this;
  }

  /** Starts (or restarts, when the definition changed) what a subscription needs on this node. */
  private void serve(HttpSubscription s) {
    HttpSubscription before = known.get(s.name());
    if (before != null && before.sameDefinition(s)) return;
    if (before != null) forget(s.name());
    known.put(s.name(), s);
    if (s.isPush()) {
      pushers.put(s.name(), getContext().spawn(
          WebhookPusher.create(s, runtime.settings().policyFor(s.channel()), runtime.router()),
          "webhook-" + s.name() + "-" + children++));
    }
  }

  private void forget(String name) {
    known.remove(name);
    ActorRef<PullGateway.Command> g = gateways.remove(name);
    if (g != null) g.tell(PullGateway.Stop.INSTANCE);
    ActorRef<WebhookPusher.Command> p = pushers.remove(name);
    if (p != null) p.tell(WebhookPusher.Stop.INSTANCE);
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
      l.replyTo().tell(new LookupResult(Optional.empty(), null, "cannot read the subscriptions from Redis: "
          + SubscriptionStore.unwrap(l.error()).getMessage()));
      return this;
    }
    if (l.found().isEmpty()) {
      l.replyTo().tell(new LookupResult(Optional.empty(), null, null));
      return this;
    }
    serve(l.found().get());
    l.replyTo().tell(result(l.found().get()));
    return this;
  }

  private LookupResult result(HttpSubscription s) {
    if (s.isPush()) return new LookupResult(Optional.of(s), null, null);
    ActorRef<PullGateway.Command> g = gateways.computeIfAbsent(s.name(), n -> getContext().spawn(
        PullGateway.create(s, runtime.settings().policyFor(s.channel()), runtime.router(), pullIdleRelease),
        "pull-" + n + "-" + children++));
    return new LookupResult(Optional.of(s), g, null);
  }
}
