package io.redisrouter.router.consume;

import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.redis.GroupInfo;
import io.redisrouter.router.redis.GroupLag;
import io.redisrouter.router.redis.RedisKeys;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * HTTP subscriptions as definitions (no HTTP here): create (stored in Redis with its consumer group, then served by
 * this node at once), list, show with its group's statistics, and delete (this node stops consuming it first, then
 * its group goes).
 */
public final class SubscriptionAdmin {
  private static final Logger log = LoggerFactory.getLogger(SubscriptionAdmin.class);

  /** Longest wait, when deleting a subscription, for this node to stop consuming it. */
  static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(15);

  private final RouterRuntime runtime;
  private final SubscriptionStore store;
  private final ActorRef<HttpConsumers.Command> consumers;
  private final Scheduler scheduler;

  public SubscriptionAdmin(RouterRuntime runtime, SubscriptionStore store, ActorRef<HttpConsumers.Command> consumers,
      Scheduler scheduler) {
    this.runtime = runtime;
    this.store = store;
    this.consumers = consumers;
    this.scheduler = scheduler;
  }

  /** The statistics of a subscription's consumer group; {@code lag} null (with {@code lagUnknown}) when unknown. */
  public record GroupStats(long consumers, long pending, String lastDeliveredId, Long lag,
      @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL) String lagUnknown) {}

  /** Why there are no statistics. */
  public record NoStats(String error) {}

  /** The field errors of a channel a subscription cannot read: a broadcast one, or one on an unknown instance. */
  public List<FieldError> checkChannel(String channel) {
    List<FieldError> errors = new ArrayList<>(1);
    FieldError bad = Validation.checkName("channel", channel);
    if (bad != null) {
      errors.add(bad);
      return errors;
    }
    ChannelPolicy policy = runtime.settings().policyFor(channel);
    if (policy.mode() != ChannelMode.RELIABLE) {
      errors.add(new FieldError("channel", "broadcast-channel", "channel '" + channel + "' is a broadcast"
          + " channel (at-most-once, no consumer groups): subscribe to a reliable channel"));
    } else if (!runtime.handles().containsKey(policy.redisInstance())) {
      errors.add(new FieldError("channel", "unknown-instance", "channel '" + channel + "' uses redis instance '"
          + policy.redisInstance() + "', which is not configured"));
    }
    return errors;
  }

  /** Stores {@code s} (and its group); a new one is served by this node at once. */
  public CompletionStage<SubscriptionStore.CreateResult> create(HttpSubscription s) {
    return store.create(s).thenApply(r -> {
      if (r.result() == SubscriptionStore.Created.CREATED) {
        consumers.tell(new HttpConsumers.Upsert(r.subscription()));
        log.info("subscription '{}' on channel '{}' created ({})", s.name(), s.channel(),
            s.isPush() ? "webhook" : "pull");
      }
      return r;
    });
  }

  public CompletionStage<List<HttpSubscription>> list() {
    return store.list();
  }

  /**
   * The subscription with the statistics of its group ({@link GroupStats}, or {@link NoStats} when the stream or
   * group is not there yet, or an empty object when the group is unknown), or empty when there is none.
   */
  public CompletionStage<Optional<HttpSubscription.View>> show(String name) {
    return store.get(name).thenCompose(found -> {
      if (found.isEmpty()) return CompletableFuture.completedFuture(Optional.<HttpSubscription.View>empty());
      HttpSubscription s = found.get();
      HttpSubscription.View view = s.publicView();
      String stream = RedisKeys.stream(s.channel());
      return runtime.onCommands(s.channel(), cmd -> cmd.xinfoGroups(stream).toCompletableFuture()
          .handle((groups, err) -> {
            if (err != null) {
              return CompletableFuture.completedFuture(view.withStats(new NoStats("the channel has no stream or"
                  + " this subscription has no consumer group yet")));
            }
            GroupInfo info = GroupInfo.find(GroupInfo.parse(groups), name);
            if (info == null) return CompletableFuture.completedFuture(view.withStats(Map.of()));
            // Redis 6.2 reports no lag: counted by the router there (GroupLag)
            return GroupLag.of(cmd, stream, info).thenApply(lag -> view.withStats(new GroupStats(info.consumers(),
                info.pending(), info.lastDeliveredId(), lag.value(), lag.value() == null ? lag.unknown() : null)));
          }).thenCompose(x -> x)).thenApply(Optional::of);
    });
  }

  /** Deletes the definition, then (once this node let go of it) its consumer group; false when there was none. */
  public CompletionStage<Boolean> remove(String name) {
    return store.removeDefinition(name).thenCompose(deleted -> {
      if (deleted.isEmpty()) return CompletableFuture.completedFuture(false);
      // this node's consumer of the group lets go of it first: while it still reads, it creates a destroyed group
      // again (at the end of the stream), and that group would hold the channel's retention back for good
      CompletionStage<Done> left = Stages.plain(AskPattern.<HttpConsumers.Command, Done>ask(consumers,
          replyTo -> new HttpConsumers.Removed(name, replyTo), LEAVE_TIMEOUT, scheduler))
          .exceptionally(t -> Done.getInstance()); // destroy it anyway
      return left.thenCompose(d -> store.destroyGroup(deleted.get())).thenApply(v -> {
        runtime.metrics().audits().forget(deleted.get().channel(), name); // one made again starts afresh
        log.info("subscription '{}' deleted (its consumer group and pending entries with it)", name);
        return true;
      });
    });
  }
}
