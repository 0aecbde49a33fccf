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
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
  /** The members' gates (each bounds what its subscriber holds unanswered), in the order they joined. */
  private final List<ActorRef<Delivery>> members = new CopyOnWriteArrayList<>();
  private final Map<ActorRef<Delivery>, ActorRef<Delivery>> gateOf = new ConcurrentHashMap<>();
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

  public boolean has(ActorRef<Delivery> member) {
    return gateOf.containsKey(member);
  }

  /** Adds a member, whose deliveries go through {@code gate} (a {@link BroadcastGate}). */
  public void add(ActorRef<Delivery> member, ActorRef<Delivery> gate) {
    if (gateOf.putIfAbsent(member, gate) == null) members.add(gate);
  }

  /** Removes a member; returns its gate (the owner stops it), or null when it was not one. */
  public ActorRef<Delivery> remove(ActorRef<Delivery> member) {
    ActorRef<Delivery> gate = gateOf.remove(member);
    if (gate != null) members.remove(gate);
    return gate;
  }

  /** The gates of the members left (stopped by the owner when it closes the subscription). */
  public List<ActorRef<Delivery>> gates() {
    return List.copyOf(members);
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
      metrics.recordBroadcastExpired();
      return;
    }
    int n = members.size();
    if (n == 0) return;
    ActorRef<Delivery> target = members.get(Math.floorMod(next.getAndIncrement(), n));
    target.tell(new Delivery(e.withAttempt(1), subscription, DeliveryIds.of(e.id(), 1), false, ignore));
  }
}
