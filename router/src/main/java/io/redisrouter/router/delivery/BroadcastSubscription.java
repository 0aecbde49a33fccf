package io.redisrouter.router.delivery;

import io.redisrouter.router.internal.DeliveryIds;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.redis.RedisHandle;
import org.apache.pekko.actor.typed.ActorRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One subscription of a broadcast channel on this node: every message PUBLISHed on the channel goes to one member
 * of each subscription (round robin among the members). At-most-once by design: a subscriber that is not connected
 * when the message is published never sees it, and nothing is acknowledged or retried. Expired messages are
 * dropped and counted, never delivered.
 */
public final class BroadcastSubscription {
  private static final Logger log = LoggerFactory.getLogger(BroadcastSubscription.class);

  private final String channel;
  private final String subscription;
  private final RedisHandle handle;
  private final ActorRef<DeliveryAck> ignore;
  private final RouterMetrics metrics;
  private final List<ActorRef<Delivery>> members = new CopyOnWriteArrayList<>();
  private final AtomicInteger next = new AtomicInteger();
  private final Consumer<byte[]> listener = this::onMessage;
  private final CompletionStage<Void> subscribed;

  public BroadcastSubscription(String channel, String subscription, RedisHandle handle, ActorRef<Void> ignoreRef,
                               RouterMetrics metrics) {
    this.channel = channel;
    this.subscription = subscription;
    this.handle = handle;
    this.ignore = ignoreRef.unsafeUpcast();
    this.metrics = metrics;
    this.subscribed = handle.addBroadcastListener(channel, listener);
  }

  /** Completes once Redis confirmed the channel's SUBSCRIBE: from then on no message published is missed. */
  public CompletionStage<Void> subscribed() {
    return subscribed;
  }

  public void add(ActorRef<Delivery> member) {
    if (!members.contains(member)) members.add(member);
  }

  /** Removes a member; returns true when it was the last one (the owner then calls {@link #close()}). */
  public boolean remove(ActorRef<Delivery> member) {
    members.remove(member);
    return members.isEmpty();
  }

  public void close() {
    handle.removeBroadcastListener(channel, listener);
  }

  private void onMessage(byte[] raw) {
    Envelope e;
    try {
      e = EnvelopeCodec.decode(raw);
    } catch (IllegalArgumentException ex) {
      log.warn("broadcast channel '{}': dropped a message that is not an envelope: {}", channel, ex.getMessage());
      return;
    }
    if (e.isExpired(Instant.now())) {
      metrics.broadcastExpired.increment();
      return;
    }
    int n = members.size();
    if (n == 0) return;
    ActorRef<Delivery> target = members.get(Math.floorMod(next.getAndIncrement(), n));
    metrics.broadcastDelivered.increment();
    target.tell(new Delivery(e.withAttempt(1), subscription, DeliveryIds.of(e.id(), 1), false, ignore));
  }
}
