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
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

import java.net.SocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Owns the connections of one Redis instance. By default that is one RESP3 connection ({@code HELLO 3}, Redis 6+)
 * that carries everything: reads, acks, claims, scripts, janitor and admin commands, the ingress's pipelined
 * publishes (each batch one write, see {@link CommandBatch}) and broadcast SUBSCRIBE/PUBLISH, whose messages arrive
 * as RESP3 pushes. With {@code connections-per-instance = 3}, or when the server refuses RESP3 (one WARN, then the
 * fallback), there are three: commands, publishes and pub/sub apart. Either way the count is fixed, whatever the
 * load. Lettuce's own reconnect and replay are off: when a connection drops, this actor fails and its supervisor
 * restarts it (at once, or with backoff), which opens fresh connections. Until then every user gets a
 * {@link RedisUnavailableException} at once.
 *
 * <p>Size (about 450 lines, above the ~400 of the layout rule): the connection lifecycle (connect, RESP3 or the
 * three-connection fallback, scripts, version, health ticks, loss and restart) is one state machine over the same
 * connections; its pure parts are static (version and RESP3-refusal parsing, failure descriptions) or in
 * {@link RedisUris} (URI, credentials and TLS options, tested in RedisUriTest).
 */
public final class RedisConnectionActor extends AbstractBehavior<RedisConnectionActor.Command> {

  /** Messages of the connection actor (all internal). */
  public interface Command {}

  private record Connected(RedisHandle.Live live) implements Command {}

  private record ConnectFailed(Throwable cause) implements Command {}

  private record ConnectionLost(String which) implements Command {}

  private record ServerVersion(String version, Throwable error) implements Command {}

  /** The answer to {@code INFO memory} at connect: the eviction policy check. */
  private record MemoryInfo(String info, Throwable error) implements Command {}

  private enum HealthTick implements Command {
    INSTANCE,
    /** A PING failed without an answer (a timeout, a closed connection): it stays outstanding, counted as missed. */
    NOT_ANSWERED
  }

  /** A PING on connection {@code index} was answered (any reply, error replies included, shows the server lives). */
  private record Pong(int index) implements Command {}

  /** Names of the connections, by their index in the health check: split mode, and single-connection mode. */
  private static final String[] SPLIT_ROLES = {"commands", "publish", "pub/sub"};
  private static final String[] SINGLE_ROLES = {"only"};

  /** Thrown to make the supervisor restart the actor. */
  static class ConnectionFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ConnectionFailure(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * Thrown when an open connection drops (the server closed it, {@code CLIENT KILL}, a network reset): the server was
   * reachable a moment ago, so the connections are opened again at once, without the backoff that connect failures
   * get (a connect that then fails backs off as usual).
   */
  static final class ConnectionDropped extends ConnectionFailure {
    private static final long serialVersionUID = 1L;

    ConnectionDropped(String message) {
      super(message);
    }
  }

  /** Immediate reconnects after dropped connections allowed within {@link #DROP_WINDOW}; beyond them: backoff. */
  static final int MAX_IMMEDIATE_RECONNECTS = 5;
  static final Duration DROP_WINDOW = Duration.ofSeconds(10);

  /** Codec of every connection: string keys, byte values. */
  public static final RedisCodec<String, byte[]> CODEC = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

  public static final Duration RECONNECT_MIN_BACKOFF = Duration.ofMillis(100);
  public static final Duration RECONNECT_MAX_BACKOFF = Duration.ofSeconds(5);

  /**
   * The supervised behavior: restarted at once when open connections dropped (up to
   * {@value #MAX_IMMEDIATE_RECONNECTS} times in {@link #DROP_WINDOW}), and with backoff (100 ms to 5 s, 20% jitter)
   * whenever a connect fails, a health check finds the server not answering, or the drops come faster; without limit.
   */
  public static Behavior<Command> create(RedisInstanceSettings settings, String nodeId, ClientResources resources,
      RedisHandle handle) {
    Behavior<Command> reconnectingAtOnce = Behaviors.supervise(
        Behaviors.<Command>setup(ctx -> Behaviors
            .withTimers(timers -> new RedisConnectionActor(ctx, timers, settings, nodeId, resources, handle))))
        .onFailure(ConnectionDropped.class, SupervisorStrategy.restart()
            .withLimit(MAX_IMMEDIATE_RECONNECTS, DROP_WINDOW)
            .withLoggingEnabled(false));
    return Behaviors.supervise(reconnectingAtOnce)
        .onFailure(Exception.class,
            SupervisorStrategy.restartWithBackoff(RECONNECT_MIN_BACKOFF, RECONNECT_MAX_BACKOFF, 0.2)
                .withResetBackoffAfter(Duration.ofSeconds(30))
                .withLoggingEnabled(false));
  }

  private final RedisInstanceSettings settings;
  private final RedisHandle handle;
  private final RedisClient client;
  private final List<CompletableFuture<? extends StatefulConnection<String, byte[]>>> opening;
  private final TimerScheduler<Command> timers;
  private RedisHandle.Live live;
  /** This incarnation opens one RESP3 connection (else three). */
  private final boolean single;
  private final String[] roles;
  /** Per connection (see {@link #roles}): a PING is on its way, and how many health ticks it has been unanswered. */
  private final boolean[] pingOutstanding;
  private final int[] missed;

  private RedisConnectionActor(ActorContext<Command> ctx, TimerScheduler<Command> timers,
      RedisInstanceSettings settings, String nodeId, ClientResources resources,
      RedisHandle handle) {
    super(ctx);
    this.timers = timers;
    this.settings = settings;
    this.handle = handle;
    this.single = settings.connectionsPerInstance() == 1 && handle.resp3Refused() == null;
    this.roles = single ? SINGLE_ROLES : SPLIT_ROLES;
    this.pingOutstanding = new boolean[roles.length];
    this.missed = new int[roles.length];
    this.client = RedisClient.create(resources);
    ClientOptions.Builder options = ClientOptions.builder();
    if (settings.tls()) options.sslOptions(RedisUris.sslOptions(settings));
    client.setOptions(options
        // one connection: RESP3 or nothing (HELLO 3 refused fails the connect, see onConnectFailed); split: RESP3
        // when the server has it, else RESP2
        .protocolVersion(single ? io.lettuce.core.protocol.ProtocolVersion.RESP3 : null)
        .autoReconnect(false)
        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
        .requestQueueSize(settings.requestQueueSize())
        // no CLIENT MAINT_NOTIFICATIONS after the handshake (Redis Enterprise's maintenance events): plain Redis does
        // not know it, and where the ACL user lacks +client Redis 6.2 and 7.2+ log a denial per connect
        .maintNotificationsConfig(io.lettuce.core.MaintNotificationsConfig.disabled())
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
        self.tell(new ConnectionLost(roleOf(connection)));
      }
    });

    CompletionStage<RedisHandle.Live> all;
    if (single) {
      CompletableFuture<StatefulRedisPubSubConnection<String, byte[]>> only = client
          .connectPubSubAsync(CODEC, uri(nodeId, "main")).toCompletableFuture();
      this.opening = List.of(only);
      handle.track(opening);
      all = only.thenCompose(c -> {
        listen(c);
        return loadScripts(c).thenApply(shas -> new RedisHandle.Live(c, c, c, shas));
      });
    } else {
      CompletableFuture<StatefulRedisConnection<String, byte[]>> cmd = client.connectAsync(CODEC, uri(nodeId, "cmd"))
          .toCompletableFuture();
      CompletableFuture<StatefulRedisConnection<String, byte[]>> pub = client.connectAsync(CODEC, uri(nodeId, "pub"))
          .toCompletableFuture();
      CompletableFuture<StatefulRedisPubSubConnection<String, byte[]>> sub = client
          .connectPubSubAsync(CODEC, uri(nodeId, "sub")).toCompletableFuture();
      this.opening = List.of(cmd, pub, sub);
      handle.track(opening);
      all = CompletableFuture.allOf(cmd, pub, sub).thenCompose(v -> {
        StatefulRedisConnection<String, byte[]> c = cmd.join(); // all completed: join does not block here
        StatefulRedisPubSubConnection<String, byte[]> s = sub.join();
        listen(s);
        return loadScripts(c).thenApply(shas -> new RedisHandle.Live(c, pub.join(), s, shas));
      });
    }
    ctx.pipeToSelf(all, (l, e) -> e == null ? new Connected(l) : new ConnectFailed(e));
  }

  private void listen(StatefulRedisPubSubConnection<String, byte[]> s) {
    s.addListener(new RedisPubSubAdapter<>() {
      @Override
      public void message(String channel, byte[] message) {
        handle.onBroadcast(channel, message);
      }
    });
  }

  private static CompletionStage<Map<String, String>> loadScripts(StatefulRedisConnection<String, byte[]> c) {
    List<CompletableFuture<String>> loads = Scripts.ALL.stream()
        .map(script -> c.async().scriptLoad(script).toCompletableFuture()).toList();
    return io.redisrouter.router.internal.Stages.all(loads).thenApply(shas -> {
      Map<String, String> byScript = new HashMap<>();
      for (int i = 0; i < shas.size(); i++) byScript.put(Scripts.ALL.get(i), shas.get(i));
      return Map.copyOf(byScript);
    });
  }

  /** The role of one of this incarnation's connections ("commands", "publish", "pub/sub"), for the logs. */
  private String roleOf(RedisChannelHandler<?, ?> connection) {
    List<CompletableFuture<? extends StatefulConnection<String, byte[]>>> mine = opening;
    for (int i = 0; mine != null && i < mine.size(); i++) {
      if (mine.get(i).getNow(null) == connection) return roles[i];
    }
    return "a";
  }

  private RedisURI uri(String nodeId, String role) {
    return RedisUris.redisUri(settings, "rr:" + nodeId + ":" + role);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Connected.class, this::onConnected)
        .onMessage(ConnectFailed.class, this::onConnectFailed)
        .onMessage(ConnectionLost.class, this::onConnectionLost)
        .onMessage(ServerVersion.class, this::onServerVersion)
        .onMessage(MemoryInfo.class, this::onMemoryInfo)
        .onMessageEquals(HealthTick.INSTANCE, this::onHealthTick)
        .onMessageEquals(HealthTick.NOT_ANSWERED, () -> this)
        .onMessage(Pong.class, p -> {
          pingOutstanding[p.index()] = false;
          missed[p.index()] = 0;
          return this;
        })
        .onSignal(PreRestart.class, s -> closeAll())
        .onSignal(PostStop.class, s -> closeAll())
        .build();
  }

  private Behavior<Command> onConnected(Connected c) {
    this.live = c.live();
    handle.up(live);
    getContext().getLog().info("redis instance '{}' connected at {} ({}; {})", settings.name(),
        settings.redactedUri(), single
            ? "1 connection, RESP3: commands, publishes and pub/sub"
            : "3 connections: commands, publish, pub/sub",
        RedisUris.access(settings));
    if (settings.tls() && settings.tlsVerifyPeer() == RedisInstanceSettings.TlsVerify.NONE) {
      getContext().getLog().warn("redis instance '{}': redis-router.redis.instances.{}.tls-verify-peer = none: the"
          + " connection is encrypted but the server's certificate is not checked, so anyone between the router and"
          + " Redis can pose as the server. Use full (or ca) with tls-ca-file", settings.name(), settings.name());
    }
    getContext().pipeToSelf(live.commands().async().info("server"),
        (info, err) -> new ServerVersion(err == null ? versionOf(info) : null, err));
    // INFO memory, not CONFIG GET: it needs no CONFIG rights (an ACL user of the router usually has none)
    getContext().pipeToSelf(live.commands().async().info("memory"), MemoryInfo::new);
    timers.startTimerWithFixedDelay(HealthTick.INSTANCE, settings.healthCheckInterval());
    return this;
  }

  /**
   * The health check: a PING on every connection per interval. A connection whose PING is still unanswered after
   * {@code health-check-max-missed} intervals belongs to a server that stopped, paused or vanished without closing
   * the socket (a half-open connection): the instance is reported down at once and this actor fails, so that its
   * supervisor opens fresh connections. Commands already sent fail with their command timeout.
   */
  private Behavior<Command> onHealthTick() {
    if (live == null) return this;
    for (int i = 0; i < roles.length; i++) {
      if (pingOutstanding[i]) {
        if (++missed[i] >= settings.healthCheckMaxMissed()) {
          String reason = "no answer to PING on the " + roles[i] + " connection for "
              + settings.healthCheckInterval().multipliedBy(missed[i]).toMillis() + " ms (server stopped, paused or"
              + " unreachable)";
          handle.down(reason);
          getContext().getLog().warn("redis instance '{}' at {}: {}; reporting it down and reconnecting",
              settings.name(), settings.redactedUri(), reason);
          throw new ConnectionFailure("redis instance '" + settings.name() + "': " + reason);
        }
        continue;
      }
      pingOutstanding[i] = true;
      int index = i;
      CompletionStage<String> ping;
      try {
        ping = ping(i);
      } catch (RuntimeException e) {
        ping = CompletableFuture.failedFuture(e);
      }
      getContext().pipeToSelf(ping,
          (pong, err) -> err == null || err instanceof io.lettuce.core.RedisCommandExecutionException
              || err.getCause() instanceof io.lettuce.core.RedisCommandExecutionException
                  ? new Pong(index)
                  : HealthTick.NOT_ANSWERED);
    }
    return this;
  }

  private CompletionStage<String> ping(int index) {
    return switch (index) {
      case 0 -> live.commands().async().ping();
      case 1 -> live.publish().async().ping();
      default -> live.pubsub().async().ping();
    };
  }

  private Behavior<Command> onServerVersion(ServerVersion v) {
    if (v.error() != null && String.valueOf(describeCause(v.error())).contains("NOPERM")) {
      getContext().getLog().info("redis instance '{}': server version unknown: the ACL user may not run INFO ({})."
          + " Nothing else needs it: grant +info only to see the version here", settings.name(),
          describeCause(v.error()));
      return this;
    }
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
        ? "; WAITAOF and XADD IDMP are not used (durability is the server's appendfsync and, for replica(N)"
            + " channels, WAIT; dedup is the router's script)"
        : ": doing without XINFO GROUPS lag and entries-read (the router counts the lag itself, entries-read is"
            + " reported unknown)");
    return this;
  }

  /**
   * The eviction policy check: a policy other than {@code noeviction} lets Redis delete the router's keys when it
   * reaches {@code maxmemory}. One WARN per instance and policy (not on every reconnect); an INFO line when the
   * policy cannot be read (an ACL user without {@code +info}, a proxy).
   */
  private Behavior<Command> onMemoryInfo(MemoryInfo m) {
    String policy = m.error() == null ? infoField(m.info(), "maxmemory_policy") : null;
    if (policy == null) {
      if (handle.reportEvictionPolicy("?")) {
        getContext().getLog().info("redis instance '{}': could not check its eviction policy (INFO memory: {}); it"
            + " should be maxmemory-policy noeviction (see docs/operations.md, Redis memory)", settings.name(),
            m.error() == null ? "no maxmemory_policy field" : describe(m.error()));
      }
      return this;
    }
    if (!handle.reportEvictionPolicy(policy)) return this;
    String maxMemory = infoField(m.info(), "maxmemory");
    String limit = maxMemory == null || "0".equals(maxMemory)
        ? "no maxmemory is set now (nothing is evicted until one is)"
        : "maxmemory is " + maxMemory + " bytes";
    String evictable = evictableKeys(policy);
    if (evictable == null) {
      getContext().getLog().info("redis instance '{}': maxmemory-policy noeviction, {}: when it is full, publishes are"
          + " refused with redis-full and nothing is evicted", settings.name(), limit);
      return this;
    }
    getContext().getLog().warn("redis instance '{}' at {} has maxmemory-policy {} ({}): when it reaches maxmemory,"
        + " Redis may evict {}. Set maxmemory-policy noeviction on it (CONFIG SET maxmemory-policy noeviction, and"
        + " in redis.conf): a full instance then refuses publishes with redis-full and loses nothing",
        settings.name(), settings.redactedUri(), policy, limit, evictable);
    return this;
  }

  /** Which of the router's keys an eviction policy can delete, in words; null for {@code noeviction}. */
  static String evictableKeys(String policy) {
    if ("noeviction".equals(policy)) return null;
    if (policy.startsWith("volatile-")) {
      return "the router's keys that have a time to live: the dedup markers (rr:{channel}:dedup:<messageId>), so"
          + " that a publish retried with the same message id after its marker went is stored and delivered twice"
          + " (streams, dead letters and subscription definitions have none: once no key with a time to live is"
          + " left, writes are refused as under noeviction)";
    }
    return "any of the router's keys: the channel streams (rr:{channel}:stream) with their consumer groups and"
        + " pending entries, so accepted messages are lost; the dead-letter streams (rr:{channel}:dead); the dedup"
        + " markers (rr:{channel}:dedup:<messageId>); the HTTP subscription definitions (rr:subscriptions,"
        + " rr:subscriptions:deleted)";
  }

  /** The value of {@code field} in an INFO reply, or null. */
  static String infoField(String info, String field) {
    String prefix = field + ":";
    for (String line : info.split("\r?\n")) {
      if (line.startsWith(prefix)) return line.substring(prefix.length()).trim();
    }
    return null;
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
    if (single && refusesResp3(reason)) {
      if (settings.singleConnectionRequired()) {
        handle.down("the server refused RESP3 (" + reason + "), and single-connection-required is set");
        getContext().getLog().error("redis instance '{}' at {}: the server has no RESP3 (HELLO 3 refused: {}), and"
            + " redis-router.redis.instances.{}.single-connection-required = true: not using it (readiness"
            + " stays false). Use Redis 6 or later, or allow the fallback to 3 connections (set the key to"
            + " false)", settings.name(), settings.redactedUri(), reason, settings.name());
        throw new ConnectionFailure("redis instance '" + settings.name() + "' has no RESP3");
      }
      handle.refuseResp3(reason);
      getContext().getLog().warn("redis instance '{}' at {}: the server has no RESP3 (HELLO 3 refused: {}): using 3"
          + " connections (commands, publish, pub/sub) instead of 1. Set connections-per-instance = 3 to say so,"
          + " or single-connection-required = true to refuse such a server", settings.name(),
          settings.redactedUri(), reason);
      throw new ConnectionDropped("redis instance '" + settings.name() + "' has no RESP3: reconnecting with 3");
    }
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
    getContext().getLog().warn("redis instance '{}' at {}: connection lost (the {} connection closed); reconnecting",
        settings.name(), settings.redactedUri(), l.which());
    throw new ConnectionDropped("connection to redis instance '" + settings.name() + "' lost");
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

  /** The failure's own message, without a hint: the innermost exception that is not a future's wrapper. */
  static String describeCause(Throwable t) {
    Throwable c = t;
    while ((c instanceof java.util.concurrent.CompletionException
        || c instanceof java.util.concurrent.ExecutionException) && c.getCause() != null) {
      c = c.getCause();
    }
    return c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
  }

  /** Whether {@code t} or one of its causes is a TLS failure (a handshake refused, a certificate not trusted). */
  static boolean isTls(Throwable t) {
    for (int i = 0; t != null && i < 10; i++, t = t.getCause()) {
      if (t instanceof javax.net.ssl.SSLException || t instanceof java.security.cert.CertificateException) return true;
    }
    return false;
  }

  /** Whether a connect failure is the server refusing {@code HELLO 3} (older than 6, or a proxy without RESP3). */
  static boolean refusesResp3(String reason) {
    String r = reason.toUpperCase(java.util.Locale.ROOT);
    return r.contains("HELLO") || r.contains("NOPROTO") || r.contains("RESP3");
  }

  /**
   * The failure as one line: the exception and, when it has one, its root cause (Lettuce wraps the server's answer,
   * e.g. {@code WRONGPASS}, in a generic "Unable to connect"), plus a hint for authentication failures. Redis'
   * error replies and Lettuce's messages name the host and port, never the password.
   */
  static String describe(Throwable t) {
    Throwable c = t;
    while ((c instanceof java.util.concurrent.CompletionException
        || c instanceof java.util.concurrent.ExecutionException)
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
      b.append(" (authentication failed: check the instance's username and password, ROUTER_REDIS_USERNAME and"
          + " ROUTER_REDIS_PASSWORD or the uri's user-info, and that the ACL user is on)");
    } else if (text.contains("NOPERM")) {
      b.append(" (the Redis ACL user lacks a right the router needs: grant the rights of the ACL line in README,"
          + " \"Redis security\", explained in docs/operations.md)");
    } else if (isTls(c)) {
      b.append(" (TLS failed: check that the server speaks TLS on this port, that its certificate is signed by a CA"
          + " in the instance's tls-ca-file (or the JVM's trust store) and, with tls-verify-peer = full, names the"
          + " uri's host)");
    }
    return b.toString();
  }
}
