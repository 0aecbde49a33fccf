package io.redisrouter.router;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Shared set-up of the router tests: settings that point at a test Redis, with short timings. */
public final class RouterTestSupport {
  private RouterTestSupport() {}

  /**
   * Redis connections one router node holds per instance in this run: 1 by default, 3 when the run sets
   * {@code ROUTER_REDIS_CONNECTIONS_PER_INSTANCE=3} (the configuration's environment override; CI runs the suite in
   * both modes).
   */
  public static int connectionsPerInstance() {
    String v = System.getenv("ROUTER_REDIS_CONNECTIONS_PER_INSTANCE");
    return v == null || v.isBlank() ? 1 : Integer.parseInt(v.trim());
  }

  /**
   * Settings for a router on {@code redis}. {@code extra} is HOCON relative to {@code redis-router}, applied over
   * the test timings of {@code router-test.conf} (50 ms poll, 500 ms claim interval, short backoff).
   */
  public static RouterSettings settings(RedisServer redis, String extra) {
    Config c = ConfigFactory.parseString("redis-router {\n" + extra + "\n}\n")
        .withFallback(ConfigFactory.parseString(
            "redis-router.redis.instances.default.uri = \"" + redis.uri() + "\"\n"))
        .withFallback(testConfig())
        .withFallback(ConfigFactory.defaultReference())
        .resolve();
    return RouterSettings.load(c);
  }

  /** The test timings every router of the tests starts with: {@code router-test.conf} on the test classpath. */
  public static Config testConfig() {
    Config c = ConfigFactory.parseResources(RouterTestSupport.class.getClassLoader(), "router-test.conf");
    if (c.isEmpty()) throw new IllegalStateException("router-test.conf is not on the test classpath");
    return c;
  }

  public static byte[] payload(String id, int size) {
    byte[] b = new byte[size];
    byte[] idb = id.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(idb, 0, b, 0, Math.min(idb.length, size));
    for (int i = idb.length; i < size; i++) b[i] = (byte) ('a' + i % 26);
    return b;
  }

  public static PublishReply publish(ActorTestKit kit, ActorRef<RouterCommand> router, PublishRequest r) {
    TestProbe<PublishReply> probe = kit.createTestProbe();
    router.tell(new RouterCommand.Publish(r, probe.getRef()));
    return probe.receiveMessage(Duration.ofSeconds(10));
  }

  public static CompletionStage<PublishReply> publishAsync(ActorTestKit kit, ActorRef<RouterCommand> router,
      PublishRequest r) {
    return AskPattern.ask(router, (ActorRef<PublishReply> replyTo) -> new RouterCommand.Publish(r, replyTo),
        Duration.ofSeconds(30), kit.system().scheduler());
  }

  public static SubscribeReply subscribe(ActorTestKit kit, ActorRef<RouterCommand> router, String channel,
      String subscription, ActorRef<Delivery> subscriber) {
    return subscribe(kit, router, channel, subscription, subscriber, RouterCommand.Subscribe.DEFAULT_PREFETCH);
  }

  /** {@link #subscribe} for a subscriber that holds up to {@code prefetch} deliveries unanswered. */
  public static SubscribeReply subscribe(ActorTestKit kit, ActorRef<RouterCommand> router, String channel,
      String subscription, ActorRef<Delivery> subscriber, int prefetch) {
    TestProbe<SubscribeReply> probe = kit.createTestProbe();
    router.tell(new RouterCommand.Subscribe(channel, subscription, subscriber, probe.getRef(), prefetch));
    return probe.receiveMessage(Duration.ofSeconds(10));
  }

  /** Waits (at most {@code max}) until {@code checker} counts no message lost; the failure names the first ten. */
  public static void awaitNoneLost(TestProbe<?> probe, MessageChecker checker, Duration max) {
    probe.awaitAssert(max, () -> {
      MessageChecker.Report r = checker.report();
      assertEquals(0, r.lost(), () -> r + " first lost: " + checker.lostIds().stream().limit(10).toList());
      return null;
    });
  }

  /** Waits (at most {@code max}) until Redis holds no pending entry of {@code group} on {@code channel}'s stream. */
  public static void awaitNothingPending(TestProbe<?> probe, RedisServer redis, String channel, String group,
      Duration max) {
    probe.awaitAssert(max, () -> {
      List<Object> pending = redis.callList("XPENDING", RedisKeys.stream(channel), group);
      assertEquals(0L, pending.get(0), "pending entries: " + pending);
      return null;
    });
  }

  /** A subscriber that acks every delivery and calls {@code onDelivery} with it first. */
  public static Behavior<Delivery> acking(java.util.function.Consumer<Delivery> onDelivery) {
    return Behaviors.receiveMessage(d -> {
      onDelivery.accept(d);
      d.replyTo().tell(d.ack());
      return Behaviors.same();
    });
  }
}
