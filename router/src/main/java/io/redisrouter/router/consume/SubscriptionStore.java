package io.redisrouter.router.consume;

import io.lettuce.core.RedisBusyException;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * Where HTTP subscriptions live: the hash {@value RedisKeys#SUBSCRIPTIONS} on the Redis instance of each
 * subscription's channel, so that they survive router restarts and every router node sees the same set. Every call
 * is non-blocking; a Redis that cannot be reached fails the stage with
 * {@link io.redisrouter.router.redis.RedisUnavailableException}.
 */
public final class SubscriptionStore {
  private static final Logger log = LoggerFactory.getLogger(SubscriptionStore.class);

  /** What {@link #create} did. */
  public enum Created { CREATED, ALREADY_EXISTS, CONFLICT, GROUP_EXISTS }

  /** The outcome of {@link #create}: the stored definition (the existing one on ALREADY_EXISTS / CONFLICT). */
  public record CreateResult(Created result, HttpSubscription subscription) {}

  private final RouterRuntime runtime;

  public SubscriptionStore(RouterRuntime runtime) {
    this.runtime = Objects.requireNonNull(runtime, "runtime");
  }

  /** Every stored subscription, on every instance, sorted by name; unreadable entries are skipped with a warning. */
  public CompletionStage<List<HttpSubscription>> list() {
    List<CompletableFuture<Map<String, byte[]>>> all = new ArrayList<>();
    for (RedisHandle h : runtime.handles().values()) {
      all.add(call(h, cmd -> cmd.hgetall(RedisKeys.SUBSCRIPTIONS)));
    }
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenApply(v -> {
      List<HttpSubscription> out = new ArrayList<>();
      for (CompletableFuture<Map<String, byte[]>> f : all) {
        f.join().forEach((name, bytes) -> {
          try {
            out.add(HttpSubscription.decode(bytes));
          } catch (IllegalArgumentException e) {
            log.warn("subscription '{}' in {} is unreadable and ignored: {}", name, RedisKeys.SUBSCRIPTIONS,
                e.getMessage());
          }
        });
      }
      out.sort(Comparator.comparing(HttpSubscription::name));
      return out;
    });
  }

  /** The subscription named {@code name}, if any. */
  public CompletionStage<Optional<HttpSubscription>> get(String name) {
    // one HGET per instance, not a read of every subscription
    List<CompletableFuture<byte[]>> all = new ArrayList<>();
    for (RedisHandle h : runtime.handles().values()) {
      all.add(call(h, cmd -> cmd.hget(RedisKeys.SUBSCRIPTIONS, name)));
    }
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenApply(v -> {
      for (CompletableFuture<byte[]> f : all) {
        byte[] bytes = f.join(); // completed: allOf finished
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
   * Deletes the stored definition (no node starts serving the subscription any more); completes with the deleted
   * definition, or empty when there was no such subscription. The consumer group is left to
   * {@link #destroyGroup}: destroy it only once this node no longer consumes it, or its consumer creates it again.
   */
  public CompletionStage<Optional<HttpSubscription>> removeDefinition(String name) {
    return get(name).thenCompose(existing -> {
      if (existing.isEmpty()) return CompletableFuture.completedFuture(existing);
      RedisHandle h = runtime.handleFor(existing.get().channel());
      return call(h, cmd -> cmd.hdel(RedisKeys.SUBSCRIPTIONS, name)).thenApply(n -> existing);
    });
  }

  /**
   * Destroys the subscription's consumer group (its pending entries go with it; the channel's stream and the other
   * subscriptions are untouched). A stream or group that is not there is not an error.
   */
  public CompletionStage<Void> destroyGroup(HttpSubscription s) {
    RedisHandle h = runtime.handleFor(s.channel());
    return call(h, cmd -> cmd.xgroupDestroy(RedisKeys.stream(s.channel()), s.name()))
        .exceptionally(e -> false) // no stream or group left: nothing to destroy
        .thenApply(x -> (Void) null);
  }

  private static <T> CompletableFuture<T> call(RedisHandle h,
                                               java.util.function.Function<RedisAsyncCommands<String, byte[]>,
                                                   CompletionStage<T>> f) {
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
