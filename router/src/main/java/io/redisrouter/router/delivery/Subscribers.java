package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.router.internal.DeliveryIds;
import org.apache.pekko.actor.typed.ActorRef;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The local subscribers of one subscription and how its deliveries are spread over them: round robin, skipping a
 * subscriber whose gate is full while another has room. A subscriber whose prefetch is below {@code max-in-flight}
 * gets a {@link SubscriberGate} in front of it; one that may hold every delivery (the router's HTTP consumers) gets
 * them straight. Bookkeeping only, used from the subscription actor alone (the gates are its children).
 */
final class Subscribers {
  private final List<ActorRef<Delivery>> members = new ArrayList<>();
  private final Map<ActorRef<Delivery>, ActorRef<Object>> gates = new HashMap<>();
  /** Each gated subscriber's prefetch. */
  private final Map<ActorRef<Delivery>, Integer> prefetches = new HashMap<>();
  /**
   * Entries just handed to a gate that has no room for them yet: their delivery count in Redis is to be lowered by
   * one (see {@link #drainWaitingMarks}), so that an entry read but never handed over does not burn an attempt
   * should this node crash. Pairs: entry id, delivery count.
   */
  private final List<String> waitingMarks = new ArrayList<>();
  private final LiveDeliveries live;
  private final int maxInFlight;
  private int next;

  Subscribers(LiveDeliveries live, int maxInFlight) {
    this.live = live;
    this.maxInFlight = maxInFlight;
  }

  boolean isEmpty() {
    return members.isEmpty();
  }

  /**
   * Adds {@code s} with its prefetch; {@code spawnGate} makes its gate (given the prefetch, at least 1) when that is
   * below {@code max-in-flight}. False when it was a subscriber already.
   */
  boolean add(ActorRef<Delivery> s, int prefetch, IntFunction<ActorRef<Object>> spawnGate) {
    if (members.contains(s)) return false;
    members.add(s);
    if (prefetch < maxInFlight) {
      int p = Math.max(1, prefetch);
      gates.put(s, spawnGate.apply(p));
      prefetches.put(s, p);
    }
    return true;
  }

  /** The gate in front of {@code s}, or null (none, or not a subscriber). */
  ActorRef<Object> gateOf(ActorRef<Delivery> s) {
    return gates.get(s);
  }

  /** Removes {@code s} (its gate is the caller's to stop); false when it was not a subscriber. */
  boolean remove(ActorRef<Delivery> s) {
    if (!members.remove(s)) return false;
    gates.remove(s);
    prefetches.remove(s);
    return true;
  }

  /** The next subscriber in turn, skipping those whose gate is full while another has room; none: an exception. */
  ActorRef<Delivery> next() {
    int n = members.size();
    for (int i = 0; i < n; i++) {
      ActorRef<Delivery> s = members.get(Math.floorMod(next++, n));
      ActorRef<Object> gate = gates.get(s);
      if (gate == null || live.assigned(gate) < prefetches.getOrDefault(s, 1)) return s;
    }
    return members.get(Math.floorMod(next++, n));
  }

  /** Hands {@code d} to the next subscriber in turn. */
  void deliver(Delivery d) {
    handTo(next(), d);
  }

  /** Through the subscriber's gate, or straight to it when it has none (it takes up to max-in-flight). */
  private void handTo(ActorRef<Delivery> target, Delivery d) {
    ActorRef<Object> gate = gates.get(target);
    if (gate == null) {
      live.start(d.deliveryId(), target);
      live.handedOver(d.deliveryId());
      target.tell(d);
    } else {
      if (live.start(d.deliveryId(), gate) > prefetches.getOrDefault(target, 1)) {
        waitingMarks.add(DeliveryIds.entry(d.deliveryId()));
        waitingMarks.add(Integer.toString(attemptOf(d.deliveryId()) - 1));
      }
      gate.tell(d);
    }
  }

  /** The pairs (entry id, delivery count) of the entries that went to wait in a gate since the last call. */
  String[] drainWaitingMarks() {
    if (waitingMarks.isEmpty()) return new String[0];
    String[] pairs = waitingMarks.toArray(new String[0]);
    waitingMarks.clear();
    return pairs;
  }

  /** The attempt number in a delivery id ({@code entry#attempt}). */
  static int attemptOf(String deliveryId) {
    int hash = deliveryId.lastIndexOf('#');
    return hash < 0 ? 1 : Integer.parseInt(deliveryId.substring(hash + 1));
  }
}
