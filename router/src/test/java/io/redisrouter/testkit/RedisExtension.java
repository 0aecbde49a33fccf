package io.redisrouter.testkit;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.function.Supplier;

/**
 * One {@code redis-server} per test class on a free port, for tests that start their routers themselves (crashes,
 * several nodes, shutdown): started before the first test, closed after the last.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final RedisExtension redis = RedisExtension.create();
 * ... RouterTestSupport.settings(redis.server(), "") ...
 * }</pre>
 */
public final class RedisExtension implements BeforeAllCallback, AfterAllCallback {
  private final Supplier<RedisServer> factory;
  private String kitName;
  private RedisServer server;
  private ActorTestKit kit;

  private RedisExtension(Supplier<RedisServer> factory) {
    this.factory = factory;
  }

  /** A plain server (no persistence). */
  public static RedisExtension create() {
    return new RedisExtension(RedisServer::start);
  }

  /** A server built by {@code factory}, e.g. {@code () -> RedisServer.builder().arg("--requirepass", p).start()}. */
  public static RedisExtension of(Supplier<RedisServer> factory) {
    return new RedisExtension(factory);
  }

  /** Also an {@link ActorTestKit} (actor system {@code name}) for the class, shut down before Redis closes. */
  public RedisExtension withKit(String name) {
    this.kitName = name;
    return this;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    server = factory.get();
    if (kitName != null) kit = ActorTestKit.create(kitName);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    try {
      if (kit != null) kit.shutdownTestKit();
    } finally {
      if (server != null) server.close();
    }
  }

  /** The class's test kit ({@link #withKit}). */
  public ActorTestKit kit() {
    if (kit == null) throw new IllegalStateException("no test kit: register the extension withKit(name)");
    return kit;
  }

  /** The class's server (started). */
  public RedisServer server() {
    if (server == null) throw new IllegalStateException("the Redis of this class is not started yet");
    return server;
  }
}
