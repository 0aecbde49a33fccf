package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Envelope;
import io.redisrouter.router.redis.StreamIds;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one consumer of a consumer group holds (a {@link SubscriptionActor} incarnation's bookkeeping, no Redis and
 * no actor in it): the first attempts made by the subscription itself ({@code inline}, oldest first), the entries a
 * delivery actor owns ({@code inFlight}, with the delivery id of that actor's last attempt), and the decisions made
 * from them: which first attempts are overdue, which delivery count Redis should hold for each entry, where a lost
 * group must be created again.
 *
 * @param <C> the delivery actor's reference (an {@code ActorRef}; any object in unit tests)
 */
final class HeldEntries<C> {
  /** A first attempt made by the subscription, waiting for its answer. */
  record Inline(Envelope envelope, String deliveryId) {}

  /** The first attempts a sweep found overdue: no answer within the ack timeout, or expired before the hand-over. */
  record Overdue(List<Map.Entry<String, Inline>> late, List<Map.Entry<String, Inline>> expired) {
    boolean isEmpty() {
      return late.isEmpty() && expired.isEmpty();
    }
  }

  private final LiveDeliveries live;
  /** First attempts made here, in the order they were sent (so the oldest is the first to time out). */
  final LinkedHashMap<String, Inline> inline = new LinkedHashMap<>();
  /** Entry id to the delivery actor that owns it. */
  final Map<String, C> inFlight = new HashMap<>();
  /** Entry id to the delivery id of the attempt its delivery actor made last. */
  final Map<String, String> childAttempts = new HashMap<>();

  HeldEntries(LiveDeliveries live) {
    this.live = live;
  }

  int size() {
    return inFlight.size() + inline.size();
  }

  boolean isEmpty() {
    return inFlight.isEmpty() && inline.isEmpty();
  }

  boolean holds(String streamId) {
    return inFlight.containsKey(streamId) || inline.containsKey(streamId);
  }

  /** The lowest entry id held, or null. */
  String oldest() {
    String oldest = null;
    for (String id : inline.keySet()) if (oldest == null || StreamIds.compare(id, oldest) < 0) oldest = id;
    for (String id : inFlight.keySet()) if (oldest == null || StreamIds.compare(id, oldest) < 0) oldest = id;
    return oldest;
  }

  /** Ends the attempt the delivery actor of {@code streamId} made last, if any. */
  void endChildAttempt(String streamId) {
    String attempt = childAttempts.remove(streamId);
    if (attempt != null) live.end(attempt);
  }

  /** Forgets everything held (the incarnation ends: what it held stays pending in Redis). */
  void clear() {
    inFlight.clear();
    inline.clear();
    live.clear();
    childAttempts.clear();
  }

  /**
   * The first attempts overdue at {@code nowNanos} ({@link System#nanoTime}): handed over at least
   * {@code ackTimeoutNanos} ago, or not handed over yet and past their deadline ({@code wallNow}, read only when
   * needed). Each is checked: the ack timeout runs from the hand-over, in no fixed order.
   */
  Overdue overdue(long nowNanos, long ackTimeoutNanos, java.util.function.Supplier<Instant> wallNow) {
    List<Map.Entry<String, Inline>> late = List.of();
    List<Map.Entry<String, Inline>> expired = List.of();
    Instant wall = null;
    for (Map.Entry<String, Inline> e : inline.entrySet()) {
      long handed = live.handedAt(e.getValue().deliveryId());
      if (handed >= 0) {
        if (nowNanos - handed >= ackTimeoutNanos) {
          if (late.isEmpty()) late = new ArrayList<>();
          late.add(e);
        }
      } else {
        if (wall == null) wall = wallNow.get();
        if (e.getValue().envelope().isExpired(wall)) {
          if (expired.isEmpty()) expired = new ArrayList<>();
          expired.add(e);
        }
      }
    }
    return new Overdue(late, expired);
  }

  /** Every entry held with the delivery count Redis should hold for it (pairs: id, count). */
  String[] countPairs() {
    String[] pairs = new String[size() * 2];
    int i = 0;
    for (String id : inFlight.keySet()) {
      pairs[i++] = id;
      pairs[i++] = Integer.toString(deliveryCount(childAttempts.get(id)));
    }
    for (Map.Entry<String, Inline> e : inline.entrySet()) {
      pairs[i++] = e.getKey();
      pairs[i++] = Integer.toString(deliveryCount(e.getValue().deliveryId()));
    }
    return pairs;
  }

  /**
   * The delivery count Redis should hold for an entry whose current attempt is {@code deliveryId}: the attempt once
   * its subscriber has it, one less while it waits in a gate, -1 (keep) between attempts.
   */
  int deliveryCount(String deliveryId) {
    if (deliveryId == null || !live.isCurrent(deliveryId)) return -1;
    int attempt = attemptOf(deliveryId);
    return live.isHandedOver(deliveryId) ? attempt : attempt - 1;
  }

  /** The attempt number in a delivery id ({@code entry#attempt}; 1 without one). */
  static int attemptOf(String deliveryId) {
    int hash = deliveryId.lastIndexOf('#');
    return hash < 0 ? 1 : Integer.parseInt(deliveryId.substring(hash + 1));
  }
}
