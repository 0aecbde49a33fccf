package io.redisrouter.router;

import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.config.RedisInstanceSettings;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.DeadLetterPage;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.delivery.BroadcastGate;
import io.redisrouter.router.delivery.BroadcastSubscription;
import io.redisrouter.router.delivery.ChannelJanitor;
import io.redisrouter.router.delivery.SubscriptionActor;
import io.redisrouter.router.delivery.Wakeups;
import io.redisrouter.router.publish.PublishIngress;
import io.redisrouter.router.publish.Publisher;
import io.redisrouter.router.redis.RedisConnectionActor;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.RedisUnavailableException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.Materializer;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The router: the one entry point of the embedded API. Spawn {@link #create(RouterSettings)} and talk to it with
 * {@link RouterCommand}s.
 *
 * <pre>{@code
 * ActorRef<RouterCommand> router = system.systemActorOf(RedisRouter.create(RouterSettings.load()), "router", Props.empty());
 * router.tell(new RouterCommand.Publish(PublishRequest.of("orders", bytes), replyTo));
 * router.tell(new RouterCommand.Subscribe("orders", "billing", subscriberRef, subscribedReplyTo));
 * }</pre>
 *
 * <p>Children: one supervised {@link RedisConnectionActor} per configured Redis instance (the only owners of Redis
 * connections), one {@link SubscriptionActor} per reliable subscription with local subscribers, one
 * {@link ChannelJanitor} per reliable channel in use (retention), and the bounded {@link PublishIngress} stream.
 *
 * <p>Size (about 480 lines, above the ~400 of the layout rule): it is the embedded API's one message protocol
 * (publish, subscribe, unsubscribe, dead letters, lifecycle) and the table of who is subscribed where, which its
 * handlers share; the one seam left is the dead-letter entry decoding ({@link #toDeadLetter}, used by the HTTP
 * admin routes too), which would move beside the script that writes those entries.
 */
public final class RedisRouter extends AbstractBehavior<RouterCommand> {

  /** Behavior of a router with the given settings. */
  public static Behavior<RouterCommand> create(RouterSettings settings) {
    return create(settings, new RouterMetrics());
  }

  /** Behavior of a router that counts into {@code metrics} (so that the caller can read them). */
  public static Behavior<RouterCommand> create(RouterSettings settings, RouterMetrics metrics) {
    Objects.requireNonNull(settings, "settings");
    Objects.requireNonNull(metrics, "metrics");
    metrics.audits().configure(settings.auditWindow(), settings.auditMaxProducers());
    return Behaviors.setup(ctx -> new RedisRouter(ctx, settings, metrics));
  }

  private record SubscriptionKey(String channel, String subscription) {}

  private record SubscriptionStopped(SubscriptionKey key, ActorRef<SubscriptionActor.Command> ref)
      implements
        RouterCommand {}

  /** A channel's janitor found its stream and dead letters empty for a while. */
  private record ChannelIdle(String channel) implements RouterCommand {}

  /** A subscription actor restarted after a failure: it gets its members again. */
  private record Reattach(SubscriptionKey key, ActorRef<SubscriptionActor.Command> ref) implements RouterCommand {}

  private record SubscriberTerminated(ActorRef<Delivery> subscriber) implements RouterCommand {}

  private record ChannelSeen(String channel) implements RouterCommand {}

  /** Asks for the router's {@link RouterRuntime}: the HTTP layer and the admin API use it. */
  public record GetRuntime(ActorRef<RouterRuntime> replyTo) implements RouterCommand {}

  private final RouterSettings settings;
  private final RouterMetrics metrics;
  private final ClientResources resources;
  private final Map<String, RedisHandle> handles = new HashMap<>();
  private final Wakeups wakeups = new Wakeups();
  private final PublishIngress ingress;
  private final Publisher publisher;
  private final Map<SubscriptionKey, ActorRef<SubscriptionActor.Command>> subscriptions = new HashMap<>();
  private final Map<SubscriptionKey, BroadcastSubscription> broadcasts = new HashMap<>();
  private final Map<String, ActorRef<Object>> janitors = new HashMap<>();
  private final Map<SubscriptionKey, Set<ActorRef<Delivery>>> members = new HashMap<>();
  private final Set<ActorRef<Delivery>> watchedSubscribers = new HashSet<>();
  /** The prefetch each subscriber asked for (to attach it again the same way after a subscription restarted). */
  private final Map<ActorRef<Delivery>, Integer> prefetchOf = new HashMap<>();
  private final ActorRef<RouterCommand> self;
  private final RouterRuntime runtime;
  private final org.apache.pekko.actor.Cancellable watchTimer;

  private RedisRouter(ActorContext<RouterCommand> ctx, RouterSettings settings, RouterMetrics metrics) {
    super(ctx);
    this.self = ctx.getSelf();
    this.settings = settings;
    this.metrics = metrics;
    this.resources = DefaultClientResources.builder().ioThreadPoolSize(2).computationThreadPoolSize(2).build();
    for (RedisInstanceSettings instance : settings.redisInstances().values()) {
      RedisHandle handle = new RedisHandle(instance.name(), metrics::recordWatchWakeup,
          metrics::recordBroadcastResubscribe);
      handles.put(instance.name(), handle);
      ctx.spawn(RedisConnectionActor.create(instance, settings.nodeId(), resources, handle),
          "redis-" + instance.name());
    }
    this.ingress = new PublishIngress(settings.ingress(), settings.dedupWindow(), connectWait(settings), this::handle,
        wakeups, metrics,
        ctx.getSystem().scheduler(), ctx.getExecutionContext(), Materializer.createMaterializer(ctx));
    // the safety net of idle subscriptions: one round per instance every watch-interval (see StreamWatch)
    java.time.Duration watchEvery = settings.consumer().watchInterval();
    this.watchTimer = ctx.getSystem().scheduler().scheduleWithFixedDelay(watchEvery, watchEvery,
        () -> handles.values().forEach(h -> h.watch().round()), ctx.getExecutionContext());
    this.publisher = new Publisher(settings, metrics, ingress, channel -> self.tell(new ChannelSeen(channel)));
    this.runtime = new RouterRuntime(settings, metrics, Map.copyOf(handles), publisher, ingress, ctx.getSelf());
    ctx.getLog().info("router node '{}' started: {} redis instance(s) {}, ingress queue {} messages",
        settings.nodeId(), handles.size(), settings.redisInstances().values().stream()
            .map(i -> i.name() + "=" + i.redactedUri()).toList(),
        settings.ingress().queueSize());
  }

  private static java.time.Duration connectWait(RouterSettings settings) {
    return settings.redisInstances().values().stream().map(RedisInstanceSettings::connectTimeout)
        .max(java.time.Duration::compareTo).orElse(java.time.Duration.ofSeconds(5));
  }

  private RedisHandle handle(String instance) {
    RedisHandle h = handles.get(instance);
    if (h == null) throw new RedisUnavailableException("no redis instance named '" + instance + "' is configured");
    return h;
  }

  @Override
  public Receive<RouterCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(RouterCommand.Publish.class, this::onPublish)
        .onMessage(RouterCommand.Subscribe.class, this::onSubscribe)
        .onMessage(RouterCommand.Unsubscribe.class, this::onUnsubscribe)
        .onMessage(RouterCommand.ReadDeadLetters.class, this::onReadDeadLetters)
        .onMessage(SubscriptionStopped.class, s -> {
          subscriptions.remove(s.key(), s.ref());
          return this;
        })
        .onMessage(SubscriberTerminated.class, this::onSubscriberTerminated)
        .onMessage(Reattach.class, this::onReattach)
        .onMessage(ChannelIdle.class, this::onChannelIdle)
        .onMessage(ChannelSeen.class, c -> {
          ensureJanitor(c.channel(), settings.policyFor(c.channel()));
          return this;
        })
        .onMessage(GetRuntime.class, g -> {
          g.replyTo().tell(runtime);
          return this;
        })
        .onSignal(PostStop.class, s -> onStop())
        .build();
  }

  // ---- publish ----------------------------------------------------------------------------------------------------

  private Behavior<RouterCommand> onPublish(RouterCommand.Publish p) {
    PublishReply rejection;
    try {
      rejection = publisher.submit(p.request(), p.replyTo()::tell);
    } catch (RuntimeException e) {
      // never let one request stop the router: answer it and go on
      getContext().getLog().warn("publish to '{}' failed: {}", p.request().channel(), e.toString());
      rejection = new PublishReply.Rejected(p.request().messageId(), PublishReply.RejectReason.UNAVAILABLE,
          "the router could not take the message (" + e + "): retry later", null, null);
    }
    if (rejection != null) {
      p.replyTo().tell(rejection);
    }
    return this;
  }

  // ---- subscribe --------------------------------------------------------------------------------------------------

  private List<FieldError> checkNames(String channel, String subscription) {
    List<FieldError> errors = new ArrayList<>(2);
    FieldError c = Validation.checkName("channel", channel);
    if (c != null) errors.add(c);
    FieldError s = Validation.checkName("subscription", subscription);
    if (s != null) errors.add(s);
    return errors;
  }

  private Behavior<RouterCommand> onSubscribe(RouterCommand.Subscribe s) {
    List<FieldError> errors = checkNames(s.channel(), s.subscription());
    if (!errors.isEmpty()) {
      s.replyTo().tell(new SubscribeReply.SubscribeFailed(s.channel(), s.subscription(),
          errors.stream().map(FieldError::message).reduce((a, b) -> a + "; " + b).orElse("invalid"), errors));
      return this;
    }
    ChannelPolicy policy = settings.policyFor(s.channel());
    SubscriptionKey key = new SubscriptionKey(s.channel(), s.subscription());
    if (policy.mode() == ChannelMode.BROADCAST) {
      BroadcastSubscription b = broadcasts.computeIfAbsent(key, k -> new BroadcastSubscription(k.channel(),
          k.subscription(), handle(policy.redisInstance()), getContext().getSystem().ignoreRef(), metrics));
      if (!b.has(s.subscriber())) {
        // the subscriber holds at most its window of broadcast deliveries unanswered; more are dropped, counted
        int window = Math.max(s.prefetch(), policy.broadcastWindow());
        b.add(s.subscriber(), getContext().spawnAnonymous(BroadcastGate.create(s.subscriber(), key.channel(),
            key.subscription(), window, policy.ackTimeout(), metrics)).narrow());
      }
      addMember(key, s.subscriber());
      // answered once Redis confirmed the SUBSCRIBE: a message published after the reply is not missed
      SubscribeReply ok = new SubscribeReply.Subscribed(s.channel(), s.subscription(), ChannelMode.BROADCAST);
      b.subscribed().thenRun(() -> s.replyTo().tell(ok));
      return this;
    }
    ensureJanitor(s.channel(), policy);
    ActorRef<SubscriptionActor.Command> sub = subscriptions.computeIfAbsent(key, k -> {
      ActorRef<SubscriptionActor.Command> ref = getContext().spawnAnonymous(SubscriptionActor.create(k.channel(),
          k.subscription(), policy, settings.consumer(), settings.nodeId(), handle(policy.redisInstance()), wakeups,
          metrics, restarted -> self.tell(new Reattach(k, restarted))));
      getContext().watchWith(ref, new SubscriptionStopped(k, ref));
      return ref;
    });
    addMember(key, s.subscriber());
    prefetchOf.put(s.subscriber(), s.prefetch());
    sub.tell(new SubscriptionActor.AddSubscriber(s.subscriber(), s.replyTo(), s.prefetch()));
    return this;
  }

  /**
   * An empty channel that no subscription on this node uses costs nothing: its janitor stops and its per-channel
   * counters go; the next publish or subscribe starts them again.
   */
  private Behavior<RouterCommand> onChannelIdle(ChannelIdle c) {
    for (SubscriptionKey k : subscriptions.keySet()) {
      if (k.channel().equals(c.channel())) return this;
    }
    ActorRef<Object> janitor = janitors.remove(c.channel());
    if (janitor == null) return this;
    getContext().stop(janitor);
    metrics.janitorStopped();
    publisher.forget(c.channel());
    metrics.forgetChannel(c.channel());
    handle(settings.policyFor(c.channel()).redisInstance()).forgetGroupPositions(RedisKeys.stream(c.channel()));
    getContext().getLog().debug("channel '{}' is empty and unused on this node: its janitor stopped", c.channel());
    return this;
  }

  private Behavior<RouterCommand> onReattach(Reattach r) {
    if (!r.ref().equals(subscriptions.get(r.key()))) return this; // stopped meanwhile
    ActorRef<SubscribeReply> ignore = getContext().getSystem().ignoreRef();
    for (ActorRef<Delivery> member : members.getOrDefault(r.key(), Set.of())) {
      r.ref().tell(new SubscriptionActor.AddSubscriber(member, ignore,
          prefetchOf.getOrDefault(member, RouterCommand.Subscribe.DEFAULT_PREFETCH)));
    }
    return this;
  }

  /** The router keeps who is subscribed where, so that it alone decides when a subscription ends (no races). */
  private void addMember(SubscriptionKey key, ActorRef<Delivery> subscriber) {
    members.computeIfAbsent(key, k -> new HashSet<>()).add(subscriber);
    if (watchedSubscribers.add(subscriber)) {
      getContext().watchWith(subscriber, new SubscriberTerminated(subscriber));
    }
  }

  /** Removes a member; when it was the last of the key, ends the subscription on this node. */
  private void removeMember(SubscriptionKey key, ActorRef<Delivery> subscriber) {
    Set<ActorRef<Delivery>> set = members.get(key);
    if (set == null || !set.remove(subscriber)) return;
    if (!set.isEmpty()) return;
    members.remove(key);
    ActorRef<SubscriptionActor.Command> sub = subscriptions.remove(key);
    if (sub != null) {
      sub.tell(SubscriptionActor.Stop.INSTANCE);
    }
    BroadcastSubscription b = broadcasts.remove(key);
    if (b != null) {
      b.close();
      b.gates().forEach(g -> getContext().stop(g));
    }
  }

  private Behavior<RouterCommand> onSubscriberTerminated(SubscriberTerminated t) {
    watchedSubscribers.remove(t.subscriber());
    prefetchOf.remove(t.subscriber());
    for (SubscriptionKey key : new ArrayList<>(members.keySet())) {
      BroadcastSubscription b = broadcasts.get(key);
      if (b != null) stopGate(b.remove(t.subscriber()));
      removeMember(key, t.subscriber());
    }
    return this;
  }

  private Behavior<RouterCommand> onUnsubscribe(RouterCommand.Unsubscribe u) {
    SubscriptionKey key = new SubscriptionKey(u.channel(), u.subscription());
    ActorRef<SubscriptionActor.Command> sub = subscriptions.get(key);
    if (sub != null) {
      sub.tell(new SubscriptionActor.RemoveSubscriber(u.subscriber(), u.replyTo()));
      removeMember(key, u.subscriber()); // stops the subscription after the removal when it was the last one
      return this;
    }
    BroadcastSubscription b = broadcasts.get(key);
    if (b != null) {
      stopGate(b.remove(u.subscriber()));
    }
    removeMember(key, u.subscriber());
    u.replyTo().tell(new SubscribeReply.Unsubscribed(u.channel(), u.subscription()));
    return this;
  }

  private void stopGate(ActorRef<Delivery> gate) {
    if (gate != null) getContext().stop(gate);
  }

  private void ensureJanitor(String channel, ChannelPolicy policy) {
    publisher.known(channel);
    if (!janitors.containsKey(channel)) {
      janitors.put(channel, getContext().spawnAnonymous(ChannelJanitor.create(channel, policy, settings.consumer(),
          handle(policy.redisInstance()), wakeups, metrics, () -> self.tell(new ChannelIdle(channel)))));
      metrics.janitorStarted();
    }
  }

  // ---- dead letters -----------------------------------------------------------------------------------------------

  private Behavior<RouterCommand> onReadDeadLetters(RouterCommand.ReadDeadLetters r) {
    FieldError bad = Validation.checkName("channel", r.channel());
    if (bad != null) {
      r.replyTo().tell(new DeadLetterPage(r.channel(), List.of(), null, bad.message()));
      return this;
    }
    int count = Math.max(1, Math.min(1000, r.count()));
    Range<String> range = r.afterId() == null || r.afterId().isEmpty() || r.afterId().equals("-")
        ? Range.create("-", "+")
        : Range.from(Range.Boundary.excluding(r.afterId()), Range.Boundary.unbounded());
    try {
      RedisHandle h = handle(settings.policyFor(r.channel()).redisInstance());
      h.commands().xrange(RedisKeys.deadLetters(r.channel()), range, Limit.from(count)).whenComplete((msgs, err) -> {
        if (err != null) {
          r.replyTo().tell(new DeadLetterPage(r.channel(), List.of(), null, "reading dead letters failed: " + err));
          return;
        }
        List<DeadLetter> items = new ArrayList<>(msgs.size());
        for (StreamMessage<String, byte[]> m : msgs) {
          items.add(toDeadLetter(m));
        }
        String next = msgs.size() < count || msgs.isEmpty() ? null : msgs.get(msgs.size() - 1).getId();
        r.replyTo().tell(new DeadLetterPage(r.channel(), items, next, null));
      });
    } catch (RedisUnavailableException e) {
      r.replyTo().tell(new DeadLetterPage(r.channel(), List.of(), null, e.getMessage()));
    }
    return this;
  }

  /** Decodes one entry of a dead-letter stream. */
  public static DeadLetter toDeadLetter(StreamMessage<String, byte[]> m) {
    Map<String, byte[]> b = m.getBody();
    Envelope e = null;
    byte[] raw = b.get(RedisKeys.FIELD_ENVELOPE);
    if (raw != null && raw.length > 0) {
      try {
        e = EnvelopeCodec.decode(raw);
      } catch (IllegalArgumentException ignored) {
        e = null;
      }
    }
    return new DeadLetter(m.getId(), e, str(b.get("sub")), DeadLetter.Reason.of(str(b.get("reason"))),
        parseInt(str(b.get("attempts"))), str(b.get("error")),
        Instant.ofEpochMilli(parseLong(str(b.get("at")))));
  }

  private static String str(byte[] v) {
    return v == null ? "" : new String(v, StandardCharsets.UTF_8);
  }

  private static int parseInt(String s) {
    try {
      return Integer.parseInt(s);
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  private static long parseLong(String s) {
    try {
      return Long.parseLong(s);
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  // ---- lifecycle --------------------------------------------------------------------------------------------------

  private Behavior<RouterCommand> onStop() {
    watchTimer.cancel();
    ingress.complete();
    broadcasts.values().forEach(BroadcastSubscription::close);
    // the connection actors (children) stopped before us and are closing their clients: release the shared
    // event loops only after them, so that no late Netty task meets a terminated executor
    java.util.concurrent.CompletableFuture.allOf(handles.values().stream().map(RedisHandle::closed)
        .toArray(java.util.concurrent.CompletableFuture[]::new))
        .orTimeout(5, java.util.concurrent.TimeUnit.SECONDS)
        .whenComplete((v, e) -> resources.shutdown(100, 2000, java.util.concurrent.TimeUnit.MILLISECONDS));
    getContext().getLog().info("router node '{}' stopped", settings.nodeId());
    return this;
  }

  /** For the embedded API's owners (HTTP, metrics): the ingress depth and capacity. */
  int ingressDepth() {
    return ingress.depth();
  }
}
