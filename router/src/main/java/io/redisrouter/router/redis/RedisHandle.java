package io.redisrouter.router.redis;

import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.function.Consumer;

/**
 * The live connections of one Redis instance, as currently owned by its {@link RedisConnectionActor}. The actor
 * swaps them on every (re)connect; users ask for them per operation and get a {@link RedisUnavailableException}
 * while the instance is down, so that nothing queues up behind a dead connection.
 *
 * <p>Thread safe: the actor writes, stream stages and other actors read.
 */
public final class RedisHandle {
  private static final Logger log = LoggerFactory.getLogger(RedisHandle.class);

  /**
   * One incarnation's connections (of the connection actor) and the digests of the scripts loaded on them. With one
   * connection per instance (the default) the three are the same RESP3 connection. {@code replicaWaits} sends the
   * {@code WAIT}s that confirm the publish connection's writes on replicas (channels with {@code replica(N)}
   * durability).
   */
  public record Live(StatefulRedisConnection<String, byte[]> commands,
      StatefulRedisConnection<String, byte[]> publish,
      StatefulRedisPubSubConnection<String, byte[]> pubsub,
      Map<String, String> scriptShas,
      ReplicaWaits replicaWaits) {

    /** The connections, with the {@link ReplicaWaits} of {@code publish}. */
    public Live(StatefulRedisConnection<String, byte[]> commands, StatefulRedisConnection<String, byte[]> publish,
        StatefulRedisPubSubConnection<String, byte[]> pubsub, Map<String, String> scriptShas) {
      this(commands, publish, pubsub, scriptShas, new ReplicaWaits(publish));
    }
  }

  private final String instance;
  private volatile Live live;
  private volatile String lastError = "not connected yet";
  /** Listeners per Redis pub/sub channel (broadcast channels and doorbells). */
  private final Map<String, Set<Consumer<byte[]>>> broadcastListeners = new ConcurrentHashMap<>();
  /** Per pub/sub channel with listeners: completes once Redis confirmed a SUBSCRIBE to it. */
  private final Map<String, CompletableFuture<Void>> broadcastSubscribed = new ConcurrentHashMap<>();
  private final java.util.concurrent.ConcurrentLinkedQueue<CompletableFuture<Void>> waiters = new java.util.concurrent.ConcurrentLinkedQueue<>();
  /** Per stream and group: the last entry id this node read or claimed there. */
  private final Map<String, String> groupPositions = new ConcurrentHashMap<>();

  private final StreamWatch watch;

  public RedisHandle(String instance) {
    this(instance, () -> {});
  }

  /** {@code onWatchWakeup} is told of each idle subscription the instance's {@link StreamWatch} wakes. */
  public RedisHandle(String instance, Runnable onWatchWakeup) {
    this(instance, onWatchWakeup, () -> {});
  }

  /**
   * {@code onBroadcastResubscribe} is told of each reconnect that re-subscribed broadcast channels (their messages
   * published while the connection was down were missed).
   */
  public RedisHandle(String instance, Runnable onWatchWakeup, Runnable onBroadcastResubscribe) {
    this.instance = Objects.requireNonNull(instance, "instance");
    this.watch = new StreamWatch(this, onWatchWakeup);
    this.onBroadcastResubscribe = Objects.requireNonNull(onBroadcastResubscribe, "onBroadcastResubscribe");
  }

  private final Runnable onBroadcastResubscribe;
  /** Whether the instance was up before (a connect after that is a reconnect). */
  private volatile boolean wasUp;
  /** When the instance went down ({@link System#nanoTime()}; when this handle was made, before its first connect). */
  private volatile long downSinceNanos = System.nanoTime();

  /** The safety net of this instance's idle subscriptions (its rounds are driven by the router's timer). */
  public StreamWatch watch() {
    return watch;
  }

  /** The instance's configured name. */
  public String instance() {
    return instance;
  }

  /** The connections of the connection actor's current incarnation, opening or open. */
  private volatile List<CompletableFuture<? extends io.lettuce.core.api.StatefulConnection<String, byte[]>>> connections = List
      .of();

  /** Connections to the instance open now: those of the current incarnation that connected and are not closed. */
  public int openConnections() {
    int open = 0;
    for (var f : connections) {
      if (f.isDone() && !f.isCompletedExceptionally() && f.getNow(null) != null && f.getNow(null).isOpen()) open++;
    }
    return open;
  }

  void track(List<CompletableFuture<? extends io.lettuce.core.api.StatefulConnection<String, byte[]>>> opening) {
    this.connections = List.copyOf(opening);
  }

  /** Consumers of subscriptions running on this node, per "stream\ngroup" (never removed as idle). */
  private final Map<String, Set<String>> liveConsumers = new ConcurrentHashMap<>();

  /** A subscription on this node consumes {@code stream} in {@code group} as {@code consumer} (until unregistered). */
  public void registerConsumer(String stream, String group, String consumer) {
    liveConsumers.computeIfAbsent(stream + '\n' + group, k -> ConcurrentHashMap.newKeySet()).add(consumer);
  }

  public void unregisterConsumer(String stream, String group, String consumer) {
    liveConsumers.computeIfPresent(stream + '\n' + group, (k, set) -> {
      set.remove(consumer);
      return set.isEmpty() ? null : set;
    });
  }

  /** The consumers of {@code group} on {@code stream} that subscriptions on this node use now. */
  public List<String> liveConsumers(String stream, String group) {
    Set<String> set = liveConsumers.get(stream + '\n' + group);
    return set == null ? List.of() : List.copyOf(set);
  }

  /** Janitor rounds that may run at once on this instance (each is a few commands in sequence). */
  public static final int JANITOR_ROUNDS_AT_ONCE = 512;
  private final java.util.concurrent.Semaphore janitorRounds = new java.util.concurrent.Semaphore(
      JANITOR_ROUNDS_AT_ONCE);

  /**
   * The permits of the channels' janitor rounds on this instance: thousands of channels never put thousands of
   * rounds on the connection at once (its command queue is bounded by {@code request-queue-size}).
   */
  public java.util.concurrent.Semaphore janitorRounds() {
    return janitorRounds;
  }

  /** The eviction policy last reported for this instance ("?" when it could not be read), or null. */
  private volatile String reportedEvictionPolicy;

  /**
   * Records the eviction policy found at a connect; true when it differs from the one reported last (then it is
   * reported: once per instance and policy, not on every reconnect). Called by the connection actor only.
   */
  boolean reportEvictionPolicy(String policy) {
    if (policy.equals(reportedEvictionPolicy)) return false;
    reportedEvictionPolicy = policy;
    return true;
  }

  /** Why the server refused RESP3 (then this node uses 3 connections to it), or null. */
  private volatile String resp3Refused;

  public String resp3Refused() {
    return resp3Refused;
  }

  void refuseResp3(String reason) {
    this.resp3Refused = reason;
  }

  public boolean isUp() {
    return live != null;
  }

  /** How long the instance has been down; zero while it is up. */
  public Duration downFor() {
    return live != null ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - downSinceNanos);
  }

  /** Why the instance is down, when it is. */
  public String lastError() {
    return lastError;
  }

  /** Async commands on the shared, multiplexed command connection (auto-flushed; the only one by default). */
  public RedisAsyncCommands<String, byte[]> commands() {
    return current().commands().async();
  }

  /**
   * The connections of now, read once: a caller that uses several of them (the publish connection and the script
   * digests loaded with it) gets one incarnation's, even if the connections drop meanwhile. Every connection is
   * auto-flushed; a batch of publishes goes out as one write through a {@link CommandBatch}.
   *
   * @throws RedisUnavailableException when not connected
   */
  public Live connected() {
    return current();
  }

  private Live current() {
    Live l = live;
    if (l == null) {
      throw new RedisUnavailableException("redis instance '" + instance + "' is not connected: " + lastError);
    }
    return l;
  }

  /**
   * Runs one of the {@link Scripts} by its SHA on {@code commands}, falling back to EVAL on the auto-flushed command
   * connection when the server lost its script cache (a restart or SCRIPT FLUSH).
   */
  public <T> CompletionStage<T> evalScript(RedisAsyncCommands<String, byte[]> commands, String script,
      ScriptOutputType type, String[] keys, byte[]... args) {
    return evalScript(current(), commands, script, type, keys, args);
  }

  /** {@link #evalScript(RedisAsyncCommands, String, ScriptOutputType, String[], byte[]...)} with {@code live}'s digests. */
  public <T> CompletionStage<T> evalScript(Live live, RedisAsyncCommands<String, byte[]> commands, String script,
      ScriptOutputType type, String[] keys, byte[]... args) {
    String sha = live.scriptShas().get(script);
    if (sha == null) {
      return commands.<T>eval(script, type, keys, args);
    }
    RedisFuture<T> f = commands.evalsha(sha, type, keys, args);
    return f.handle((v, e) -> {
      if (e == null) return CompletableFuture.completedFuture(v);
      Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null
          ? e.getCause()
          : e;
      if (cause instanceof RedisNoScriptException) {
        return commands().<T>eval(script, type, keys, args).toCompletableFuture();
      }
      return CompletableFuture.<T>failedFuture(cause);
    }).thenCompose(x -> x);
  }

  // ---- consumer group positions -----------------------------------------------------------------------------------

  /**
   * Records that this node read or claimed entry {@code id} of {@code stream} in consumer group {@code group}: the
   * position a group that Redis lost (a restart without persistence, an AOF {@code everysec} loss, a failover) is
   * created again at, so that nothing after it is skipped. Keeps the highest id; kept across incarnations of the
   * subscription on this node (one small entry per group this node consumed, until {@link #forgetGroupPosition}).
   */
  public void recordGroupPosition(String stream, String group, String id) {
    groupPositions.merge(stream + '\n' + group, id, (a, b) -> StreamIds.compare(a, b) >= 0 ? a : b);
  }

  /**
   * Moves the position back to just before {@code id} when that is lower (the group Redis lost is created there):
   * entries this node still holds in flight are read again into the new group, so that their acks, renewals and
   * retries work on it; entries after them that were acknowledged already are delivered again (at-least-once).
   */
  public void lowerGroupPosition(String stream, String group, String id) {
    String before = StreamIds.before(id);
    groupPositions.merge(stream + '\n' + group, before, (a, b) -> StreamIds.compare(a, b) <= 0 ? a : b);
  }

  /** The last entry id of {@code stream} this node read or claimed in {@code group}, or {@code null}. */
  public String groupPosition(String stream, String group) {
    return groupPositions.get(stream + '\n' + group);
  }

  /** Forgets the position of a group that was deleted on purpose (a deleted subscription). */
  public void forgetGroupPosition(String stream, String group) {
    groupPositions.remove(stream + '\n' + group);
  }

  /**
   * Forgets the positions of every group of {@code stream} (its channel is empty and unused on this node: what
   * they point at is consumed and trimmed away), so that a node that sees many channels come and go keeps no entry
   * per channel it ever consumed.
   */
  public void forgetGroupPositions(String stream) {
    String prefix = stream + '\n';
    groupPositions.keySet().removeIf(k -> k.startsWith(prefix));
  }

  // ---- pub/sub: broadcast channels and doorbells -------------------------------------------------------------

  /**
   * Registers a listener for a broadcast channel; subscribes on Redis when it is the first one. The returned stage
   * completes once Redis confirmed the SUBSCRIBE (at once when it already had): only from then on is every message
   * published on the channel seen.
   */
  public CompletionStage<Void> addBroadcastListener(String channel, Consumer<byte[]> listener) {
    return addListener(RedisKeys.broadcast(channel), listener);
  }

  /** Removes a listener; unsubscribes on Redis when it was the last one. */
  public void removeBroadcastListener(String channel, Consumer<byte[]> listener) {
    removeListener(RedisKeys.broadcast(channel), listener);
  }

  /**
   * Registers a listener for the doorbell of a reliable channel ({@link RedisKeys#doorbell}): the publish ingress of
   * every node rings it after it wrote entries there, so that subscriptions on other nodes read at once instead of
   * waiting for their poll. The listener also runs after every reconnect (a doorbell may have been missed).
   */
  public void addDoorbellListener(String channel, Consumer<byte[]> listener) {
    addListener(RedisKeys.doorbell(channel), listener);
  }

  public void removeDoorbellListener(String channel, Consumer<byte[]> listener) {
    removeListener(RedisKeys.doorbell(channel), listener);
  }

  private CompletionStage<Void> addListener(String redisChannel, Consumer<byte[]> listener) {
    CompletableFuture<Void> subscribed = broadcastSubscribed.computeIfAbsent(redisChannel,
        k -> new CompletableFuture<>());
    boolean[] first = {false};
    broadcastListeners.compute(redisChannel, (k, set) -> {
      if (set == null) {
        set = new CopyOnWriteArraySet<>();
        first[0] = true;
      }
      set.add(listener);
      return set;
    });
    if (first[0]) subscribe(redisChannel, subscribed, 1);
    return subscribed;
  }

  /**
   * SUBSCRIBE to {@code redisChannel} while it has listeners; a failure (a full command queue under a burst, a
   * connection closing) is retried after a second, and every channel is subscribed again after a reconnect.
   */
  private void subscribe(String redisChannel, CompletableFuture<Void> subscribed, int attempt) {
    Live l = live;
    if (l == null || !broadcastListeners.containsKey(redisChannel) || subscribed.isDone()) return;
    l.pubsub().async().subscribe(redisChannel).whenComplete((v, e) -> {
      if (e == null) {
        subscribed.complete(null);
        return;
      }
      if (attempt == 1 || attempt % 60 == 0) {
        log.warn("SUBSCRIBE to '{}' on '{}' failed: {} (retried every second, and on reconnect)", redisChannel,
            instance, e.toString());
      }
      CompletableFuture.delayedExecutor(1, java.util.concurrent.TimeUnit.SECONDS)
          .execute(() -> subscribe(redisChannel, subscribed, attempt + 1));
    });
  }

  private void removeListener(String redisChannel, Consumer<byte[]> listener) {
    boolean[] last = {false};
    broadcastListeners.computeIfPresent(redisChannel, (k, set) -> {
      set.remove(listener);
      if (set.isEmpty()) {
        last[0] = true;
        broadcastSubscribed.remove(redisChannel);
        return null;
      }
      return set;
    });
    Live l = live;
    if (last[0] && l != null) {
      l.pubsub().async().unsubscribe(redisChannel);
    }
  }

  /** Called from the pub/sub connection's listener (a Netty thread): hands the message to every local listener. */
  void onBroadcast(String redisChannel, byte[] message) {
    Set<Consumer<byte[]>> set = broadcastListeners.get(redisChannel);
    if (set == null) return;
    for (Consumer<byte[]> l : set) {
      try {
        l.accept(message);
      } catch (RuntimeException e) {
        log.warn("listener of '{}' failed: {}", redisChannel, e.toString());
      }
    }
  }

  // ---- lifecycle, called by the connection actor ------------------------------------------------------------------

  /**
   * Completes when the instance is up, or exceptionally with {@link RedisUnavailableException} after
   * {@code timeout}. Never blocks.
   */
  public CompletionStage<Void> awaitUp(Duration timeout) {
    if (live != null) return CompletableFuture.completedFuture(null);
    CompletableFuture<Void> f = new CompletableFuture<>();
    waiters.add(f);
    if (live != null) f.complete(null);
    return f.orTimeout(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)
        .exceptionallyCompose(e -> {
          waiters.remove(f);
          return CompletableFuture.failedFuture(
              new RedisUnavailableException("redis instance '" + instance + "' is not connected: " + lastError));
        });
  }

  void up(Live l) {
    this.live = l;
    CompletableFuture<Void> w;
    while ((w = waiters.poll()) != null) w.complete(null);
    List<String> channels = List.copyOf(broadcastListeners.keySet());
    boolean reconnect = wasUp;
    long downForMs = reconnect ? (System.nanoTime() - downSinceNanos) / 1_000_000 : 0;
    String why = lastError;
    wasUp = true;
    if (!channels.isEmpty()) resubscribe(l, channels, 1, reconnect, downForMs, why);
    // doorbells rung while the connection was down were missed: every subscription listening reads once now
    broadcastListeners.forEach((redisChannel, set) -> {
      if (RedisKeys.isDoorbell(redisChannel)) onBroadcast(redisChannel, RECONNECTED);
    });
  }

  /**
   * SUBSCRIBEs the pub/sub channels that have listeners on a new connection, retried every second while it fails
   * (a full command queue) and the connection is the current one. After a reconnect with broadcast channels among
   * them, the gap is reported: counted ({@code redis_router_broadcast_resubscribes}) and one WARN naming the
   * instance, the channels, how long the connection was down and the server's {@code client-output-buffer-limit}
   * for pub/sub clients (Redis closes a connection whose output buffer passes it, the usual cause), when the
   * router's user may read it.
   */
  private void resubscribe(Live l, List<String> channels, int attempt, boolean reconnect, long downForMs,
      String why) {
    if (live != l) return; // a newer connection subscribes on its own
    List<String> still = channels.stream().filter(broadcastListeners::containsKey).toList();
    if (still.isEmpty()) return;
    l.pubsub().async().subscribe(still.toArray(String[]::new)).whenComplete((v, e) -> {
      if (e != null) {
        if (attempt == 1 || attempt % 60 == 0) {
          log.warn("re-SUBSCRIBE of {} pub/sub channels on '{}' failed: {} (retried every second)", still.size(),
              instance, e.toString());
        }
        CompletableFuture.delayedExecutor(1, java.util.concurrent.TimeUnit.SECONDS)
            .execute(() -> resubscribe(l, channels, attempt + 1, reconnect, downForMs, why));
        return;
      }
      for (String c : still) {
        CompletableFuture<Void> f = broadcastSubscribed.get(c);
        if (f != null) f.complete(null);
      }
      List<String> broadcasts = still.stream().filter(c -> !RedisKeys.isDoorbell(c))
          .map(c -> c.substring(RedisKeys.broadcast("").length())).toList();
      if (reconnect && !broadcasts.isEmpty()) reportBroadcastGap(l, broadcasts, downForMs, why);
    });
  }

  private void reportBroadcastGap(Live l, List<String> broadcasts, long downForMs, String why) {
    onBroadcastResubscribe.run();
    String names = broadcasts.size() <= 10
        ? String.join(", ", broadcasts)
        : String.join(", ", broadcasts.subList(0, 10)) + " and " + (broadcasts.size() - 10) + " more";
    CompletionStage<String> limit;
    try {
      limit = l.commands().async().configGet("client-output-buffer-limit")
          .thenApply(m -> pubsubLimit(m.get("client-output-buffer-limit")));
    } catch (RuntimeException e) {
      limit = CompletableFuture.failedFuture(e);
    }
    limit.whenComplete((pubsub, e) -> log.warn("redis instance '{}': the pub/sub connection was down for {} ms ({});"
        + " broadcast messages published meanwhile on {} channel(s) [{}] were missed by this node's subscribers"
        + " (broadcast is at-most-once); re-subscribed now. A connection closed by the server under a broadcast flood"
        + " is Redis's client-output-buffer-limit for pub/sub clients ({}; its log says 'overcoming of output buffer"
        + " limits'): raise it, or use a reliable channel for what must not be missed", instance, downForMs, why,
        broadcasts.size(), names, e != null || pubsub == null
            ? "not readable here: " + (e == null ? "no value" : RedisFailures.describe(e))
                + "; Redis's default is 'pubsub 32mb 8mb 60'"
            : "now 'pubsub " + pubsub + "'"));
  }

  /** The pub/sub part ("hard soft seconds") of a {@code client-output-buffer-limit} value, or null. */
  static String pubsubLimit(String value) {
    if (value == null) return null;
    String[] t = value.trim().split("\\s+");
    for (int i = 0; i + 3 < t.length; i++) {
      if (t[i].equals("pubsub")) return t[i + 1] + " " + t[i + 2] + " " + t[i + 3];
    }
    return null;
  }

  /** The doorbell "message" a listener gets after a reconnect. */
  public static final byte[] RECONNECTED = new byte[0];

  void down(String reason) {
    this.lastError = reason;
    if (live != null) downSinceNanos = System.nanoTime();
    this.live = null;
  }

  Live live() {
    return live;
  }

  private volatile CompletableFuture<Void> closed = CompletableFuture.completedFuture(null);

  /** Completes when the last Lettuce client of this instance has shut down (to release shared resources after it). */
  public CompletableFuture<Void> closed() {
    return closed;
  }

  void closing(CompletableFuture<Void> shutdown) {
    this.closed = shutdown;
  }
}
