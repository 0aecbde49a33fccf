package io.redisrouter.router.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.redisrouter.config.RedisInstanceSettings;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.net.SocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Owns the connections of one Redis instance: a multiplexed command connection, a publish connection that the
 * ingress flushes per batch, and a pub/sub connection (3 in all, whatever the load). Lettuce's own reconnect and
 * replay are off: when a connection drops, this actor fails and its supervisor restarts it with backoff, which
 * opens fresh connections. Until then every user gets a {@link RedisUnavailableException} at once.
 */
public final class RedisConnectionActor extends AbstractBehavior<RedisConnectionActor.Command> {

  /** Messages of the connection actor (all internal). */
  public interface Command {}

  private record Connected(RedisHandle.Live live) implements Command {}

  private record ConnectFailed(Throwable cause) implements Command {}

  private record ConnectionLost(String which) implements Command {}

  private record ServerVersion(String version, Throwable error) implements Command {}

  /** Thrown to make the supervisor restart the actor. */
  static final class ConnectionFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ConnectionFailure(String message) {
      super(message, null, false, false);
    }
  }

  /** Codec of every connection: string keys, byte values. */
  public static final RedisCodec<String, byte[]> CODEC = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

  public static final Duration RECONNECT_MIN_BACKOFF = Duration.ofMillis(100);
  public static final Duration RECONNECT_MAX_BACKOFF = Duration.ofSeconds(5);

  /**
   * The supervised behavior: restarted with backoff (100 ms to 5 s, 20% jitter) whenever it fails, without limit.
   */
  public static Behavior<Command> create(RedisInstanceSettings settings, String nodeId, ClientResources resources,
                                         RedisHandle handle) {
    return Behaviors.supervise(
            Behaviors.<Command>setup(ctx -> new RedisConnectionActor(ctx, settings, nodeId, resources, handle)))
        .onFailure(Exception.class,
            SupervisorStrategy.restartWithBackoff(RECONNECT_MIN_BACKOFF, RECONNECT_MAX_BACKOFF, 0.2)
                .withResetBackoffAfter(Duration.ofSeconds(30))
                .withLoggingEnabled(false));
  }

  private final RedisInstanceSettings settings;
  private final RedisHandle handle;
  private final RedisClient client;
  private final List<CompletableFuture<? extends StatefulConnection<String, byte[]>>> opening;
  private RedisHandle.Live live;

  private RedisConnectionActor(ActorContext<Command> ctx, RedisInstanceSettings settings, String nodeId,
                               ClientResources resources, RedisHandle handle) {
    super(ctx);
    this.settings = settings;
    this.handle = handle;
    this.client = RedisClient.create(resources);
    client.setOptions(ClientOptions.builder()
        .autoReconnect(false)
        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
        .requestQueueSize(settings.requestQueueSize())
        .timeoutOptions(TimeoutOptions.enabled(settings.commandTimeout()))
        .socketOptions(SocketOptions.builder()
            .connectTimeout(settings.connectTimeout())
            .keepAlive(true)
            .tcpNoDelay(true)
            .build())
        .build());
    var self = ctx.getSelf();
    client.addListener(new RedisConnectionStateListener() {
      @Override
      public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress socketAddress) {}

      @Override
      public void onRedisDisconnected(RedisChannelHandler<?, ?> connection) {
        self.tell(new ConnectionLost(connection.getClass().getSimpleName()));
      }
    });

    CompletableFuture<StatefulRedisConnection<String, byte[]>> cmd =
        client.connectAsync(CODEC, uri(nodeId, "cmd")).toCompletableFuture();
    CompletableFuture<StatefulRedisConnection<String, byte[]>> pub =
        client.connectAsync(CODEC, uri(nodeId, "pub")).toCompletableFuture();
    CompletableFuture<StatefulRedisPubSubConnection<String, byte[]>> sub =
        client.connectPubSubAsync(CODEC, uri(nodeId, "sub")).toCompletableFuture();
    this.opening = List.of(cmd, pub, sub);

    CompletionStage<RedisHandle.Live> all = CompletableFuture.allOf(cmd, pub, sub).thenCompose(v -> {
      StatefulRedisConnection<String, byte[]> c = cmd.join(); // all completed: join does not block here
      StatefulRedisConnection<String, byte[]> p = pub.join();
      StatefulRedisPubSubConnection<String, byte[]> s = sub.join();
      p.setAutoFlushCommands(false);
      s.addListener(new RedisPubSubAdapter<>() {
        @Override
        public void message(String channel, byte[] message) {
          handle.onBroadcast(channel, message);
        }
      });
      CompletableFuture<String> dedup = c.async().scriptLoad(Scripts.DEDUP_XADD).toCompletableFuture();
      CompletableFuture<String> dead = c.async().scriptLoad(Scripts.DEAD_LETTER).toCompletableFuture();
      return CompletableFuture.allOf(dedup, dead).thenApply(x -> {
        Map<String, String> shas = new HashMap<>();
        shas.put(Scripts.DEDUP_XADD, dedup.join());
        shas.put(Scripts.DEAD_LETTER, dead.join());
        return new RedisHandle.Live(c, p, s, Map.copyOf(shas));
      });
    });
    ctx.pipeToSelf(all, (l, e) -> e == null ? new Connected(l) : new ConnectFailed(e));
  }

  private RedisURI uri(String nodeId, String role) {
    return redisUri(settings, "rr:" + nodeId + ":" + role);
  }

  /**
   * The Lettuce URI of an instance: its {@code uri}, the {@code password} (when set) for AUTH, TLS when
   * {@code tls} is on or the URI is {@code rediss://}, the command timeout and the client name.
   */
  static RedisURI redisUri(RedisInstanceSettings settings, String clientName) {
    RedisURI uri = RedisURI.create(settings.uri());
    if (settings.password() != null && !settings.password().isEmpty()) {
      uri.setAuthentication(settings.password().toCharArray());
    }
    if (settings.tls()) {
      uri.setSsl(true);
    }
    uri.setTimeout(settings.commandTimeout());
    uri.setClientName(clientName);
    return uri;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Connected.class, this::onConnected)
        .onMessage(ConnectFailed.class, this::onConnectFailed)
        .onMessage(ConnectionLost.class, this::onConnectionLost)
        .onMessage(ServerVersion.class, this::onServerVersion)
        .onSignal(PreRestart.class, s -> closeAll())
        .onSignal(PostStop.class, s -> closeAll())
        .build();
  }

  private Behavior<Command> onConnected(Connected c) {
    this.live = c.live();
    handle.up(live);
    getContext().getLog().info("redis instance '{}' connected at {} (3 connections: commands, publish, pub/sub)",
        settings.name(), settings.redactedUri());
    getContext().pipeToSelf(live.commands().async().info("server"),
        (info, err) -> new ServerVersion(err == null ? versionOf(info) : null, err));
    return this;
  }

  private Behavior<Command> onServerVersion(ServerVersion v) {
    if (v.error() != null || v.version() == null) {
      getContext().getLog().info("redis instance '{}': server version unknown (INFO server: {})", settings.name(),
          v.error() == null ? "no redis_version field" : describe(v.error()));
      return this;
    }
    int major = 0;
    try {
      major = Integer.parseInt(v.version().split("\\.")[0]);
    } catch (NumberFormatException e) {
      // leave 0: reported as without the 7.0 statistics
    }
    getContext().getLog().info("redis instance '{}' runs Redis {}{}", settings.name(), v.version(), major >= 7
        ? "; WAITAOF and XADD IDMP are not used (durability is the server's appendfsync, dedup is the router's script)"
        : ": doing without XINFO GROUPS lag and entries-read (the router counts the lag itself, entries-read is"
            + " reported unknown)");
    return this;
  }

  /** The {@code redis_version} of an INFO reply, or null. */
  static String versionOf(String info) {
    for (String line : info.split("\r?\n")) {
      if (line.startsWith("redis_version:")) return line.substring("redis_version:".length()).trim();
    }
    return null;
  }

  private Behavior<Command> onConnectFailed(ConnectFailed f) {
    String reason = describe(f.cause());
    handle.down("connect failed: " + reason);
    getContext().getLog().warn("redis instance '{}' at {}: connect failed ({}); retrying with backoff",
        settings.name(), settings.redactedUri(), reason);
    throw new ConnectionFailure("connect to redis instance '" + settings.name() + "' failed: " + reason);
  }

  private Behavior<Command> onConnectionLost(ConnectionLost l) {
    if (live == null) {
      return this; // a connection of a failed attempt closing: the ConnectFailed restarts us
    }
    handle.down("connection lost");
    getContext().getLog().warn("redis instance '{}' at {}: connection lost; reconnecting with backoff",
        settings.name(), settings.redactedUri());
    throw new ConnectionFailure("connection to redis instance '" + settings.name() + "' lost");
  }

  private Behavior<Command> closeAll() {
    if (live != null && handle.live() == live) {
      handle.down("connection actor restarting");
    }
    // closes every connection this client opened, including ones of an attempt still in progress
    handle.closing(client.shutdownAsync(0, 2, java.util.concurrent.TimeUnit.SECONDS)
        .exceptionally(e -> null));
    return this;
  }

  /**
   * The failure as one line: the exception and, when it has one, its root cause (Lettuce wraps the server's answer,
   * e.g. {@code WRONGPASS}, in a generic "Unable to connect"), plus a hint for authentication failures. Redis'
   * error replies and Lettuce's messages name the host and port, never the password.
   */
  static String describe(Throwable t) {
    Throwable c = t;
    while ((c instanceof java.util.concurrent.CompletionException || c instanceof java.util.concurrent.ExecutionException)
        && c.getCause() != null) {
      c = c.getCause();
    }
    String m = c.getMessage();
    StringBuilder b = new StringBuilder(c.getClass().getSimpleName()).append(m == null ? "" : ": " + m);
    Throwable root = c;
    for (int i = 0; i < 10 && root.getCause() != null && root.getCause() != root; i++) root = root.getCause();
    if (root != c) {
      b.append(", caused by ").append(root.getClass().getSimpleName())
          .append(root.getMessage() == null ? "" : ": " + root.getMessage());
    }
    String text = b.toString();
    if (text.contains("WRONGPASS") || text.contains("NOAUTH") || text.contains("invalid password")
        || text.contains("AUTH failed")) {
      b.append(" (authentication failed: check the instance's password, ROUTER_REDIS_PASSWORD or the uri's user-info)");
    }
    return b.toString();
  }
}
