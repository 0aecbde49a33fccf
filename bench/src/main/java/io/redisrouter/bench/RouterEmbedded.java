package io.redisrouter.bench;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * Our router, embedded: one node, a reliable channel (Redis Stream, consumer group), publishes through the router's
 * thread-safe publish path, one subscriber actor that acks every delivery. With {@code broadcast}, the channel is a
 * broadcast channel instead (PUBLISH fan-out, at-most-once). With {@code restart}, the subscriber actor is stopped
 * midway (what it was sent and did not ack is never acked) and a new one subscribes 500 ms later: the router
 * delivers the unacked messages again after the ack timeout.
 */
final class RouterEmbedded implements Scenario {
  private final boolean broadcast;
  private final boolean restart;
  private ActorSystem<Void> system;
  private RouterRuntime runtime;
  private String channel;
  private Tracker tracker;
  private ActorRef<Delivery> subscriber;
  private java.util.concurrent.atomic.AtomicBoolean crash;
  /** Deliveries the crashed subscriber took with it unacked (the crash happened: at least one). */
  private final java.util.concurrent.atomic.AtomicInteger lostWithCrash = new java.util.concurrent.atomic.AtomicInteger();
  /** Deliveries after the first attempt (what the crash left was delivered again). */
  private final java.util.concurrent.atomic.AtomicInteger redelivered = new java.util.concurrent.atomic.AtomicInteger();

  int lostWithCrash() {
    return lostWithCrash.get();
  }

  int redelivered() {
    return redelivered.get();
  }

  /** Redis connections of the router: 1 (the default, RESP3) or 3 (commands, publish, pub/sub apart). */
  private final int connections;

  RouterEmbedded(boolean broadcast, boolean restart) {
    this(broadcast, restart, 1);
  }

  RouterEmbedded(boolean broadcast, boolean restart, int connections) {
    this.broadcast = broadcast;
    this.restart = restart;
    this.connections = connections;
  }

  static Config config(BenchRedis redis, String extra) {
    return ConfigFactory.parseString(extra + "\n"
        + "redis-router.redis.instances.default.uri = \"" + redis.uri() + "\"\n"
        + "redis-router.channels.defaults.max-in-flight = 1024\n"
        + "redis-router.channels.defaults.ack-timeout = 2s\n"
        + "redis-router.consumer.claim-interval = 500ms\n"
        + "redis-router.ingress.queue-size = 20000\n"
        + "pekko.loglevel = WARNING\n")
        .withFallback(ConfigFactory.load()).resolve();
  }

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) throws Exception {
    this.channel = key;
    this.tracker = tracker;
    Config config = config(redis, (broadcast
        ? "redis-router.channels.overrides.\"" + key + "\".mode = broadcast\n"
        : "")
        + "redis-router.redis.instances.default.connections-per-instance = " + connections);
    RouterSettings settings = RouterSettings.load(config);
    system = ActorSystem.create(Behaviors.empty(), "bench-router", config);
    ActorRef<RouterCommand> router = system.systemActorOf(RedisRouter.create(settings), "router",
        org.apache.pekko.actor.typed.Props.empty());
    runtime = AskPattern.<RouterCommand, RouterRuntime>ask(router, RedisRouter.GetRuntime::new,
        Duration.ofSeconds(10), system.scheduler()).toCompletableFuture().get(15, TimeUnit.SECONDS);
    subscribe("s1");
  }

  private void subscribe(String name) throws Exception {
    java.util.concurrent.atomic.AtomicBoolean crashed = new java.util.concurrent.atomic.AtomicBoolean();
    crash = crashed;
    Behavior<Delivery> behavior = Behaviors.receiveMessage(d -> {
      if (crashed.get()) {
        lostWithCrash.incrementAndGet();
        return Behaviors.stopped(); // the process died: this and what is queued is never acked
      }
      if (d.envelope().attempt() > 1) redelivered.incrementAndGet();
      tracker.delivered(d.envelope().payload());
      d.replyTo().tell(d.ack()); // reliable: the ack; broadcast: paces the fan-out (broadcast-window)
      return Behaviors.same();
    });
    subscriber = system.systemActorOf(behavior, "subscriber-" + name, org.apache.pekko.actor.typed.Props.empty());
    SubscribeReply r = AskPattern.<RouterCommand, SubscribeReply>ask(runtime.router(),
        replyTo -> new RouterCommand.Subscribe(channel, "bench", subscriber, replyTo), Duration.ofSeconds(10),
        system.scheduler()).toCompletableFuture().get(15, TimeUnit.SECONDS);
    if (!(r instanceof SubscribeReply.Subscribed)) throw new IllegalStateException("subscribe failed: " + r);
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    return runtime.publish(PublishRequest.of(channel, payload)).thenApply(r -> {
      if (r instanceof PublishReply.Accepted) return r;
      throw new IllegalStateException(r.toString());
    });
  }

  @Override
  public int window() {
    return 4096;
  }

  @Override
  public void midway() throws Exception {
    if (!restart) return;
    crash.set(true); // the subscriber stops at its next message, leaving its mailbox unprocessed
    CompletableFuture.runAsync(() -> {
      try {
        Thread.sleep(500); // the subscriber process is down for 500 ms
        subscribe("s2");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
  }

  @Override
  public void close() throws Exception {
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }
}
