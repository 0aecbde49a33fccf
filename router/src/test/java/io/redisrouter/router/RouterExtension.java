package io.redisrouter.router;

import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.function.Consumer;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * One embedded router per test class, the way Lettuce's {@code LettuceExtension} gives each class its client: its own
 * {@code redis-server} on a free port, an {@link ActorTestKit}, fresh {@link RouterMetrics} and a
 * {@link RedisRouter} on the test timings of {@code router-test.conf}, started before the first test and stopped
 * after the last (test kit first, then Redis).
 *
 * <pre>{@code
 * @RegisterExtension
 * static final RouterExtension node = RouterExtension.withConfig("channels.defaults.max-attempts = 4");
 *
 * @Test
 * void something() {
 *   node.publish(PublishRequest.builder("orders", payload).build());
 * }
 * }</pre>
 */
public final class RouterExtension implements BeforeAllCallback, AfterAllCallback {
  private final String config;
  private Supplier<RedisServer> redisFactory = RedisServer::start;
  private RedisServer redis;
  private ActorTestKit kit;
  private RouterSettings settings;
  private RouterMetrics metrics;
  private ActorRef<RouterCommand> router;

  private RouterExtension(String config) {
    this.config = config;
  }

  /** A router with the test timings and nothing else. */
  public static RouterExtension create() {
    return new RouterExtension("");
  }

  /** A router whose settings are the test timings overridden by {@code config} (HOCON inside {@code redis-router}). */
  public static RouterExtension withConfig(String config) {
    return new RouterExtension(config);
  }

  /** Starts the class's Redis with {@code factory} (e.g. a builder with other arguments) instead of the default. */
  public RouterExtension redis(Supplier<RedisServer> factory) {
    this.redisFactory = factory;
    return this;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    redis = redisFactory.get();
    kit = ActorTestKit.create(context.getRequiredTestClass().getSimpleName());
    settings = RouterTestSupport.settings(redis, config);
    metrics = new RouterMetrics();
    router = kit.spawn(RedisRouter.create(settings, metrics), "router");
  }

  @Override
  public void afterAll(ExtensionContext context) {
    try {
      if (kit != null) kit.shutdownTestKit();
    } finally {
      if (redis != null) redis.close();
    }
  }

  public RedisServer redis() {
    return redis;
  }

  public ActorTestKit kit() {
    return kit;
  }

  public RouterSettings settings() {
    return settings;
  }

  public RouterMetrics metrics() {
    return metrics;
  }

  public ActorRef<RouterCommand> router() {
    return router;
  }

  /** Publishes {@code r} and waits for the reply (at most 10 s). */
  public PublishReply publish(PublishRequest r) {
    return RouterTestSupport.publish(kit, router, r);
  }

  /** Subscribes {@code subscriber} to {@code channel} as {@code subscription} and waits for the reply. */
  public SubscribeReply subscribe(String channel, String subscription, ActorRef<Delivery> subscriber) {
    return RouterTestSupport.subscribe(kit, router, channel, subscription, subscriber);
  }

  /**
   * Spawns a subscriber that acks every delivery, calling {@code onDelivery} with it first
   * ({@link RouterTestSupport#acking}), subscribes it to {@code channel} as {@code subscription} and checks it is
   * subscribed; returns it.
   */
  public ActorRef<Delivery> subscribeAcking(String channel, String subscription, Consumer<Delivery> onDelivery) {
    ActorRef<Delivery> subscriber = kit.spawn(RouterTestSupport.acking(onDelivery));
    assertInstanceOf(SubscribeReply.Subscribed.class, subscribe(channel, subscription, subscriber));
    return subscriber;
  }

  /** {@link #subscribe} for a subscriber that holds up to {@code prefetch} deliveries unanswered. */
  public SubscribeReply subscribe(String channel, String subscription, ActorRef<Delivery> subscriber, int prefetch) {
    return RouterTestSupport.subscribe(kit, router, channel, subscription, subscriber, prefetch);
  }
}
