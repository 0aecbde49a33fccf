package io.redisrouter.router.consume;

import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.internal.DeliveryIds;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.redis.RedisKeys;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Source;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Pull subscriptions served by this node (no HTTP here): find a subscription's gateway, pull deliveries, settle
 * them (acks this node did not hand out go to Redis directly, so an ack may reach any node), and streams of
 * deliveries for server-sent events, all ended by {@link #endEventStreams()} when the node stops taking requests.
 */
public final class PullService {
  /** How long after its wait a pull may take to be answered by the gateway. */
  public static final Duration PULL_ASK_MARGIN = Duration.ofSeconds(10);
  /** Deliveries buffered per event stream before the gateway holds them back. */
  static final int EVENT_BUFFER = 64;
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

  private final RouterRuntime runtime;
  private final ActorRef<HttpConsumers.Command> consumers;
  private final ActorSystem<?> system;
  private final AtomicLong streamKeys = new AtomicLong();
  private final SharedKillSwitch eventStreams = KillSwitches.shared("server-sent-events");

  public PullService(RouterRuntime runtime, ActorRef<HttpConsumers.Command> consumers, ActorSystem<?> system) {
    this.runtime = runtime;
    this.consumers = consumers;
    this.system = system;
  }

  /** What {@code name} is on this node (a pull subscription comes with its gateway, created on demand). */
  public CompletionStage<HttpConsumers.LookupResult> lookup(String name) {
    return Stages.plain(AskPattern.ask(consumers, replyTo -> new HttpConsumers.Lookup(name, replyTo), ASK_TIMEOUT,
        system.scheduler()));
  }

  /** Up to {@code max} deliveries, waiting up to {@code wait} for the first. */
  public CompletionStage<List<PullGateway.Handed>> pull(HttpConsumers.LookupResult.Pull sub, int max, Duration wait) {
    return Stages.plain(AskPattern.<PullGateway.Command, List<PullGateway.Handed>>ask(sub.gateway(),
        replyTo -> new PullGateway.Pull(max, wait, replyTo), wait.plus(PULL_ASK_MARGIN), system.scheduler()));
  }

  /**
   * Acks ({@code ack}) or nacks the deliveries; acks that this node did not hand out (another node did, or this node
   * forgot them) are acknowledged in Redis directly (XACK of the entry the delivery id names). The node that handed
   * the delivery out then finds the entry no longer pending when its ack timeout passes, and does not deliver it
   * again. Ids that are not pending stay unknown.
   */
  public CompletionStage<PullGateway.SettleResult> settle(HttpConsumers.LookupResult.Pull sub, List<String> ids,
      boolean ack, String reason, boolean doNotRetry) {
    return Stages.plain(AskPattern.<PullGateway.Command, PullGateway.SettleResult>ask(sub.gateway(),
        replyTo -> new PullGateway.Settle(ids, ack, reason, doNotRetry, replyTo), ASK_TIMEOUT, system.scheduler()))
        .thenCompose(r -> ack && !r.unknown().isEmpty()
            ? ackInRedis(sub.subscription(), r)
            : CompletableFuture.completedFuture(r));
  }

  private CompletionStage<PullGateway.SettleResult> ackInRedis(HttpSubscription sub, PullGateway.SettleResult r) {
    // ids answered here already stay unknown (a repeated answer); the others may have been handed out elsewhere
    List<String> entries = new ArrayList<>();
    for (String id : r.unknown()) {
      if (!r.answeredHere().contains(id) && DeliveryIds.isReliable(id)) entries.add(id);
    }
    if (entries.isEmpty()) return CompletableFuture.completedFuture(r);
    Map<String, CompletableFuture<Long>> acks = new HashMap<>();
    CompletionStage<Void> all = runtime.onCommands(sub.channel(), cmd -> {
      for (String id : entries) {
        acks.put(id, cmd.xack(RedisKeys.stream(sub.channel()), sub.name(), DeliveryIds.entry(id))
            .toCompletableFuture());
      }
      return CompletableFuture.allOf(acks.values().toArray(CompletableFuture[]::new));
    });
    return all.handle((v, e) -> {
      int settled = r.settled();
      List<String> unknown = new ArrayList<>();
      for (String id : r.unknown()) { // in the order given
        CompletableFuture<Long> f = acks.get(id);
        if (f != null && f.isDone() && !f.isCompletedExceptionally() && f.join() == 1L) {
          settled++;
        } else {
          unknown.add(id);
        }
      }
      return new PullGateway.SettleResult(settled, unknown, r.answeredHere());
    });
  }

  /**
   * The deliveries of a pull subscription as a stream, resuming after the event {@code resumeAfter} (null: from
   * what is there); the gateway is told when the stream ends.
   */
  public Source<PullGateway.Handed, NotUsed> events(HttpConsumers.LookupResult.Pull sub, Long resumeAfter) {
    ActorRef<PullGateway.Command> gateway = sub.gateway();
    long key = streamKeys.incrementAndGet();
    Pair<BoundedSourceQueue<PullGateway.Handed>, Source<PullGateway.Handed, NotUsed>> pre = Source.<PullGateway.Handed>queue(
        EVENT_BUFFER).preMaterialize(system);
    BoundedSourceQueue<PullGateway.Handed> queue = pre.first();
    java.util.concurrent.atomic.AtomicBoolean full = new java.util.concurrent.atomic.AtomicBoolean();
    gateway.tell(new PullGateway.Attach(key, queue, resumeAfter, full));
    return pre.second()
        // the gateway found the queue full: once it drained to half, say there is room (one message per refill,
        // not one per event; a volatile read per event otherwise)
        .map(h -> {
          if (full.get() && queue.size() <= EVENT_BUFFER / 2 && full.compareAndSet(true, false)) {
            gateway.tell(new PullGateway.StreamRoom(key));
          }
          return h;
        })
        .via(eventStreams.flow())
        .watchTermination((mat, done) -> {
          done.whenComplete((d, e) -> gateway.tell(new PullGateway.Detach(key)));
          return mat;
        });
  }

  /** Ends every event stream of this node (properly, with their last chunk): clients reconnect elsewhere. */
  public void endEventStreams() {
    eventStreams.shutdown();
  }
}
