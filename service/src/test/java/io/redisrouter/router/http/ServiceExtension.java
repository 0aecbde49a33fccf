package io.redisrouter.router.http;

import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One router service per test class, over real HTTP: its own {@code redis-server} on a free port, the service on
 * 127.0.0.1 port 0 with auth on and {@link HttpTestSupport#TOKEN}, the test timings, started before the first test
 * (and awaited ready, unless {@link #unready()}) and stopped after the last, then Redis.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final ServiceExtension node = ServiceExtension.named("publish-http")
 *     .config("redis-router.limits.max-payload-bytes = 1000");
 *
 * @Test
 * void something() {
 *   assertEquals(202, node.client().publish("orders", Message.json(Map.of("n", 1))).status());
 * }
 * }</pre>
 */
public final class ServiceExtension implements BeforeAllCallback, AfterAllCallback {
  private final String name;
  private String config = "";
  private boolean awaitReady = true;
  private Supplier<RedisServer> redisFactory = RedisServer::start;
  private RedisServer redis;
  private RouterService service;
  private RouterClient client;
  private ActorTestKit kit;

  private ServiceExtension(String name) {
    this.name = name;
  }

  /** A service whose actor system is called {@code name}. */
  public static ServiceExtension named(String name) {
    return new ServiceExtension(name);
  }

  /** HOCON at the root, over the test configuration (e.g. {@code redis-router.channels.defaults.ack-timeout = 1s}). */
  public ServiceExtension config(String hocon) {
    this.config = hocon;
    return this;
  }

  /** Does not wait for the service to be ready (for a service that cannot reach one of its Redis instances). */
  public ServiceExtension unready() {
    this.awaitReady = false;
    return this;
  }

  /** Starts the class's Redis with {@code factory} instead of the default. */
  public ServiceExtension redis(Supplier<RedisServer> factory) {
    this.redisFactory = factory;
    return this;
  }

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    redis = redisFactory.get();
    service = awaitReady
        ? HttpTestSupport.start(name, redis, config)
        : HttpTestSupport.startUnready(name, redis, config);
    client = new RouterClient(service);
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    try {
      if (service != null) service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      if (redis != null) redis.close();
    }
  }

  public RedisServer redis() {
    return redis;
  }

  public RouterService service() {
    return service;
  }

  /** The typed client of this service. */
  public RouterClient client() {
    return client;
  }

  /** A test kit on the service's actor system (probes, embedded subscribers); it stops with the service. */
  public synchronized ActorTestKit kit() {
    if (kit == null) kit = ActorTestKit.create(service.system());
    return kit;
  }
}
