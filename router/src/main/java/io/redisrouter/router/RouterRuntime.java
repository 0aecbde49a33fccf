package io.redisrouter.router;

import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.publish.PublishIngress;
import io.redisrouter.router.publish.Publisher;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisUnavailableException;
import org.apache.pekko.actor.typed.ActorRef;

import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * What the HTTP layer and the admin API need of a running router, handed out by {@link RedisRouter.GetRuntime}:
 * a thread-safe publish path straight into the ingress (no actor hop), the Redis handles (for admin reads), the
 * settings and the counters. Everything here is safe to call from any thread and never blocks.
 */
public final class RouterRuntime {
  private final RouterSettings settings;
  private final RouterMetrics metrics;
  private final Map<String, RedisHandle> handles;
  private final Publisher publisher;
  private final PublishIngress ingress;
  private final ActorRef<RouterCommand> router;

  RouterRuntime(RouterSettings settings, RouterMetrics metrics, Map<String, RedisHandle> handles,
      Publisher publisher, PublishIngress ingress,
      ActorRef<RouterCommand> router) {
    this.settings = settings;
    this.metrics = metrics;
    this.handles = handles;
    this.publisher = publisher;
    this.ingress = ingress;
    this.router = router;
  }

  /** Publishes one message; the stage completes with the reply (never exceptionally). */
  public CompletionStage<PublishReply> publish(PublishRequest request) {
    Objects.requireNonNull(request, "request");
    CompletableFuture<PublishReply> f = new CompletableFuture<>();
    PublishReply immediate = publisher.submit(request, f::complete);
    if (immediate != null) f.complete(immediate);
    return f;
  }

  public RouterSettings settings() {
    return settings;
  }

  public RouterMetrics metrics() {
    return metrics;
  }

  /** The router actor, for subscribe and the other commands. */
  public ActorRef<RouterCommand> router() {
    return router;
  }

  public Map<String, RedisHandle> handles() {
    return handles;
  }

  /** The handle of the instance that carries {@code channel}. */
  public RedisHandle handleFor(String channel) {
    String instance = settings.policyFor(channel).redisInstance();
    RedisHandle h = handles.get(instance);
    if (h == null) throw new RedisUnavailableException("no redis instance named '" + instance + "' is configured");
    return h;
  }

  /**
   * Runs {@code f} on the command connection of the instance that carries {@code channel}; an unknown instance or
   * a missing connection is a failed stage (see {@link io.redisrouter.router.redis.RedisFailures}), never a throw.
   */
  public <T> CompletionStage<T> onCommands(String channel,
      java.util.function.Function<io.lettuce.core.api.async.RedisAsyncCommands<String, byte[]>, CompletionStage<T>> f) {
    try {
      return io.redisrouter.router.redis.RedisFailures.on(handleFor(channel), f);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** Whether every configured Redis instance is connected now. */
  public boolean allRedisUp() {
    return handles.values().stream().allMatch(RedisHandle::isUp);
  }

  /**
   * Stops taking publishes (new ones are answered {@code shutting-down}) and completes once every accepted one
   * has been written and answered. Part of graceful shutdown.
   */
  public CompletionStage<org.apache.pekko.Done> drainPublishes() {
    return ingress.complete();
  }

  /** Whether the publish ingress runs (false once its stream ended); {@code /health/ready} is 503 without it. */
  public boolean ingressRunning() {
    return ingress.isRunning();
  }

  /** Why the publish ingress stopped, or null while it runs. */
  public String ingressStoppedReason() {
    return ingress.stoppedReason();
  }

  /** Until-received broadcasts waiting for a receiver now. */
  public int untilReceivedWaiting() {
    return ingress.untilReceivedWaiting();
  }

  public int ingressDepth() {
    return ingress.depth();
  }

  public int ingressCapacity() {
    return ingress.capacity();
  }
}
