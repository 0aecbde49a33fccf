package io.redisrouter.router.consume;

import io.lettuce.core.RedisBusyException;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.async.RedisAsyncCommands;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.redis.ConsumerGroups;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * Where HTTP subscriptions live: the hash {@value RedisKeys#SUBSCRIPTIONS} on the Redis instance of each
 * subscription's channel, so that they survive router restarts and every router node sees the same set. Deleting one
 * leaves a tombstone in {@value RedisKeys#SUBSCRIPTION_TOMBSTONES} (kept for {@code tombstoneRetention}): a definition
 * that is missing without a tombstone was lost by Redis, and the nodes that know it write it back ({@link #restore}).
 * Every call is non-blocking; a Redis that cannot be reached fails the stage with
 * {@link io.redisrouter.router.redis.RedisUnavailableException}.
 */
public final class SubscriptionStore {
  private static final Logger log = LoggerFactory.getLogger(SubscriptionStore.class);

  /** What {@link #create} did. */
  public enum Created { CREATED, ALREADY_EXISTS, CONFLICT, GROUP_EXISTS }

  /** The outcome of {@link #create}: the stored definition (the existing one on ALREADY_EXISTS / CONFLICT). */
  public record CreateResult(Created result, HttpSubscription subscription) {}

  /**
   * A deleted subscription: {@code createdAt} of the definition that was deleted (a definition created later under
   * the same name is another one), and when it was deleted.
   */
  public record Tombstone(Instant createdAt, Instant deletedAt) {
    /** Whether this deletion covers {@code s} (it was created no later than the deleted definition). */
    public boolean covers(HttpSubscription s) {
      return !createdAt.isBefore(s.createdAt());
    }
  }

  /** What {@link #load} read: the stored definitions (sorted by name) and the tombstones by name. */
  public record Snapshot(List<HttpSubscription> definitions, Map<String, Tombstone> tombstones) {}

  /**
   * What {@link #restore} did for one subscription: whether it wrote the definition back (it was still missing) and
   * what became of its consumer group.
   */
  public record Restored(HttpSubscription subscription, String instance, boolean definitionWritten,
      ConsumerGroups.Ensured group) {}

  /** Default of {@code redis-router.http.subscription-tombstone-retention}. */
  public static final Duration DEFAULT_TOMBSTONE_RETENTION = Duration.ofDays(7);

  private final RouterRuntime runtime;
  private final Duration tombstoneRetention;

  public SubscriptionStore(RouterRuntime runtime) {
    this(runtime, DEFAULT_TOMBSTONE_RETENTION);
  }

  public SubscriptionStore(RouterRuntime runtime, Duration tombstoneRetention) {
    this.runtime = Objects.requireNonNull(runtime, "runtime");
    this.tombstoneRetention = Objects.requireNonNull(tombstoneRetention, "tombstoneRetention");
  }

  /** Every stored subscription, on every instance, sorted by name; unreadable entries are skipped with a warning. */
  public CompletionStage<List<HttpSubscription>> list() {
    return load().thenApply(Snapshot::definitions);
  }

  /**
   * Every stored subscription and every tombstone, on every instance. The definitions are read before the tombstones
   * (on each instance's one command connection, so in that order): a deletion writes its tombstone before it removes
   * the definition, so a definition missing here while its tombstone is missing too was not deleted. Tombstones
   * older than the retention are removed on the way.
   */
  public CompletionStage<Snapshot> load() {
    List<CompletableFuture<Map<String, byte[]>>> defs = new ArrayList<>();
    List<CompletableFuture<Map<String, byte[]>>> tombs = new ArrayList<>();
    List<RedisHandle> handles = List.copyOf(runtime.handles().values());
    for (RedisHandle h : handles) {
      defs.add(call(h, cmd -> cmd.hgetall(RedisKeys.SUBSCRIPTIONS)));
      tombs.add(call(h, cmd -> cmd.hgetall(RedisKeys.SUBSCRIPTION_TOMBSTONES)));
    }
    return Stages.all(defs).thenCombine(Stages.all(tombs), (defsRead, tombsRead) -> {
      List<HttpSubscription> out = new ArrayList<>();
      for (Map<String, byte[]> stored : defsRead) {
        stored.forEach((name, bytes) -> {
          try {
            out.add(HttpSubscription.decode(bytes));
          } catch (IllegalArgumentException e) {
            log.warn("subscription '{}' in {} is unreadable and ignored: {}", name, RedisKeys.SUBSCRIPTIONS,
                e.getMessage());
          }
        });
      }
      out.sort(Comparator.comparing(HttpSubscription::name));
      Map<String, Tombstone> tombstones = new HashMap<>();
      Instant expired = Instant.now().minus(tombstoneRetention);
      for (int i = 0; i < handles.size(); i++) {
        RedisHandle h = handles.get(i);
        tombsRead.get(i).forEach((name, bytes) -> {
          Tombstone t = decodeTombstone(name, bytes);
          if (t == null) return;
          if (t.deletedAt().isBefore(expired)) {
            call(h, cmd -> cmd.hdel(RedisKeys.SUBSCRIPTION_TOMBSTONES, name)); // pruned; a failure retries next time
            return;
          }
          tombstones.merge(name, t, (a, b) -> a.createdAt().isAfter(b.createdAt()) ? a : b);
        });
      }
      return new Snapshot(out, tombstones);
    });
  }

  /**
   * Writes back definitions that Redis lost (HSETNX: one that exists, or was written back by another node meanwhile,
   * is left as it is) and makes sure their consumer groups exist, created where this node last read them (else at the
   * end of the stream). Completes with what was done for each.
   */
  public CompletionStage<List<Restored>> restore(List<HttpSubscription> lost) {
    List<CompletableFuture<Restored>> all = new ArrayList<>();
    for (HttpSubscription s : lost) {
      RedisHandle h;
      try {
        h = runtime.handleFor(s.channel());
      } catch (RuntimeException e) {
        all.add(CompletableFuture.failedFuture(e));
        continue;
      }
      all.add(call(h, cmd -> cmd.hsetnx(RedisKeys.SUBSCRIPTIONS, s.name(), s.encode()))
          .thenCompose(written -> ConsumerGroups.ensure(h, RedisKeys.stream(s.channel()), s.name())
              .thenApply(g -> new Restored(s, h.instance(), written, g)))
          .toCompletableFuture());
    }
    return Stages.all(all);
  }

  /** The subscription named {@code name}, if any. */
  public CompletionStage<Optional<HttpSubscription>> get(String name) {
    // one HGET per instance, not a read of every subscription
    List<CompletableFuture<byte[]>> all = new ArrayList<>();
    for (RedisHandle h : runtime.handles().values()) {
      all.add(call(h, cmd -> cmd.hget(RedisKeys.SUBSCRIPTIONS, name)));
    }
    return Stages.all(all).thenApply(found -> {
      for (byte[] bytes : found) {
        if (bytes == null) continue;
        try {
          return Optional.of(HttpSubscription.decode(bytes));
        } catch (IllegalArgumentException e) {
          log.warn("subscription '{}' in {} is unreadable and ignored: {}", name, RedisKeys.SUBSCRIPTIONS,
              e.getMessage());
        }
      }
      return Optional.<HttpSubscription>empty();
    });
  }

  /**
   * Whether {@code s} was deleted: a tombstone covers it. A definition that is missing without one was lost by Redis
   * (it is written back), not deleted.
   */
  public CompletionStage<Boolean> deleted(HttpSubscription s) {
    List<CompletableFuture<byte[]>> all = new ArrayList<>();
    for (RedisHandle h : runtime.handles().values()) {
      all.add(call(h, cmd -> cmd.hget(RedisKeys.SUBSCRIPTION_TOMBSTONES, s.name())));
    }
    return Stages.all(all).thenApply(found -> {
      for (byte[] bytes : found) {
        Tombstone t = bytes == null ? null : decodeTombstone(s.name(), bytes);
        if (t != null && t.covers(s)) return true;
      }
      return false;
    });
  }

  /**
   * Stores a new subscription and creates its consumer group at the end of the stream (it receives what is published
   * from now on). Creating the same definition again is {@code ALREADY_EXISTS}; another one under the same name is
   * {@code CONFLICT}; neither changes anything. When the channel already has a consumer group of that name that
   * is not an HTTP subscription (an embedded subscriber's, or one left behind), nothing is stored and the result is
   * {@code GROUP_EXISTS}: sharing that group would split its messages, and deleting the subscription would destroy it.
   */
  public CompletionStage<CreateResult> create(HttpSubscription s) {
    return get(s.name()).thenCompose(existing -> {
      if (existing.isPresent()) {
        return CompletableFuture.completedFuture(new CreateResult(
            existing.get().sameDefinition(s) ? Created.ALREADY_EXISTS : Created.CONFLICT, existing.get()));
      }
      RedisHandle h = runtime.handleFor(s.channel());
      return call(h, cmd -> cmd.hsetnx(RedisKeys.SUBSCRIPTIONS, s.name(), s.encode())).thenCompose(added -> {
        if (!added) { // created concurrently by another request or node
          return get(s.name()).thenApply(e -> e.map(x -> new CreateResult(
              x.sameDefinition(s) ? Created.ALREADY_EXISTS : Created.CONFLICT, x))
              .orElseThrow(() -> new IllegalStateException("subscription '" + s.name() + "' vanished")));
        }
        // a tombstone of an earlier subscription of that name is obsolete now (it covers only older definitions)
        call(h, cmd -> cmd.hdel(RedisKeys.SUBSCRIPTION_TOMBSTONES, s.name()));
        return createGroup(s).handle((ok, err) -> {
          if (err == null) return CompletableFuture.completedFuture(new CreateResult(Created.CREATED, s));
          if (unwrap(err) instanceof RedisBusyException) { // the group is someone else's: take ours back
            return call(h, cmd -> cmd.hdel(RedisKeys.SUBSCRIPTIONS, s.name()))
                .thenApply(x -> new CreateResult(Created.GROUP_EXISTS, s));
          }
          // the group could not be made: take the definition back so that a retry starts clean
          return call(h, cmd -> cmd.hdel(RedisKeys.SUBSCRIPTIONS, s.name())).handle((x, e2) -> {
            throw err instanceof CompletionException ce ? ce : new CompletionException(err);
          });
        }).thenCompose(f -> f.thenApply(r -> (CreateResult) r));
      });
    });
  }

  /** Creates the subscription's consumer group; fails with RedisBusyException when it exists. */
  private CompletionStage<String> createGroup(HttpSubscription s) {
    RedisHandle h = runtime.handleFor(s.channel());
    return call(h, cmd -> cmd.xgroupCreate(XReadArgs.StreamOffset.latest(RedisKeys.stream(s.channel())), s.name(),
        XGroupCreateArgs.Builder.mkstream(true)));
  }

  /**
   * Deletes the stored definition (no node starts serving the subscription any more) and leaves its tombstone, so
   * that the other nodes tell the deletion from a loss; completes with the deleted definition, or empty when there
   * was no such subscription. The consumer group is left to {@link #destroyGroup}: destroy it only once this node no
   * longer consumes it, or its consumer creates it again.
   */
  public CompletionStage<Optional<HttpSubscription>> removeDefinition(String name) {
    return get(name).thenCompose(existing -> {
      if (existing.isEmpty()) return CompletableFuture.completedFuture(existing);
      RedisHandle h = runtime.handleFor(existing.get().channel());
      byte[] tombstone = encodeTombstone(new Tombstone(existing.get().createdAt(), Instant.now()));
      // the tombstone first, then the definition (same connection, so in that order): see load()
      CompletableFuture<Boolean> marked = call(h, cmd -> cmd.hset(RedisKeys.SUBSCRIPTION_TOMBSTONES, name, tombstone));
      CompletableFuture<Long> removed = call(h, cmd -> cmd.hdel(RedisKeys.SUBSCRIPTIONS, name));
      return marked.thenCombine(removed, (a, b) -> existing);
    });
  }

  /**
   * Destroys the subscription's consumer group (its pending entries go with it; the channel's stream and the other
   * subscriptions are untouched). A stream or group that is not there is not an error.
   */
  public CompletionStage<Void> destroyGroup(HttpSubscription s) {
    RedisHandle h = runtime.handleFor(s.channel());
    h.forgetGroupPosition(RedisKeys.stream(s.channel()), s.name()); // deleted on purpose: nothing to restore
    return call(h, cmd -> cmd.xgroupDestroy(RedisKeys.stream(s.channel()), s.name()))
        .exceptionally(e -> false) // no stream or group left: nothing to destroy
        .thenApply(x -> (Void) null);
  }

  private static byte[] encodeTombstone(Tombstone t) {
    ObjectNode n = EnvelopeCodec.mapper().createObjectNode();
    n.put("createdAt", t.createdAt().toString());
    n.put("deletedAt", t.deletedAt().toString());
    try {
      return EnvelopeCodec.mapper().writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode a tombstone", e);
    }
  }

  private static Tombstone decodeTombstone(String name, byte[] bytes) {
    try {
      JsonNode n = EnvelopeCodec.mapper().readTree(bytes);
      return new Tombstone(Instant.parse(n.get("createdAt").asText()), Instant.parse(n.get("deletedAt").asText()));
    } catch (IOException | RuntimeException e) {
      log.warn("tombstone of subscription '{}' in {} is unreadable and ignored: {}", name,
          RedisKeys.SUBSCRIPTION_TOMBSTONES, e.toString());
      return null;
    }
  }

  private static <T> CompletableFuture<T> call(RedisHandle h,
      java.util.function.Function<RedisAsyncCommands<String, byte[]>, CompletionStage<T>> f) {
    try {
      return f.apply(h.commands()).toCompletableFuture();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  public static Throwable unwrap(Throwable t) {
    Throwable c = t;
    while (c instanceof CompletionException && c.getCause() != null) c = c.getCause();
    return c;
  }
}
