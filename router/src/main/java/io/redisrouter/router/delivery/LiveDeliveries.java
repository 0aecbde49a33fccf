package io.redisrouter.router.delivery;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The delivery attempts of one subscription that are going on, and when each reached its subscriber. Written by the
 * subscription actor (start, end) and by the subscribers' gates (handed over), read by both and by the delivery
 * actors: an attempt's ack timeout runs from when the subscriber got the delivery, not from when it was queued for
 * it, so time spent waiting for a slow subscriber never burns an attempt.
 */
final class LiveDeliveries {
  /**
   * {@link #handedAt} of an attempt still waiting in its gate. Not -1: {@link System#nanoTime()} may be negative, and
   * an orphaned attempt's "long ago" (see {@link #orphan}) is negative on any machine up for less than decades.
   */
  static final long NOT_HANDED = Long.MIN_VALUE;

  /** An attempt: which gate has it, and when it handed it over ({@link #NOT_HANDED}: not yet). */
  private static final class Attempt {
    final Object gate;
    volatile long handedAt = NOT_HANDED;
    /** The subscriber really got it (an orphaned attempt gets a handedAt without this). */
    volatile boolean reached;

    Attempt(Object gate) {
      this.gate = gate;
    }
  }

  private final ConcurrentHashMap<String, Attempt> attempts = new ConcurrentHashMap<>();
  /** How many current attempts each gate has (waiting in it or with its subscriber). */
  private final ConcurrentHashMap<Object, AtomicInteger> perGate = new ConcurrentHashMap<>();

  /**
   * Attempt {@code deliveryId} goes to the subscriber behind {@code gate}. Returns how many current attempts that
   * gate has now, this one included.
   */
  int start(String deliveryId, Object gate) {
    Attempt previous = attempts.put(deliveryId, new Attempt(gate));
    if (previous != null) release(previous.gate);
    return perGate.computeIfAbsent(gate, g -> new AtomicInteger()).incrementAndGet();
  }

  void end(String deliveryId) {
    Attempt a = attempts.remove(deliveryId);
    if (a != null) release(a.gate);
  }

  private void release(Object gate) {
    AtomicInteger n = perGate.get(gate);
    if (n != null && n.decrementAndGet() <= 0) perGate.remove(gate, n);
  }

  void clear() {
    attempts.clear();
    perGate.clear();
    closedGates.clear();
  }

  /**
   * Gates whose subscriber left: they hand nothing more over (what waits in them went to the other subscribers),
   * but still pass on the answers the subscriber sent before it left, then stop (see {@link SubscriberGate.Drain}).
   */
  private final java.util.Set<Object> closedGates = ConcurrentHashMap.newKeySet();

  void close(Object gate) {
    closedGates.add(gate);
  }

  boolean isClosed(Object gate) {
    return closedGates.contains(gate);
  }

  void forgetGate(Object gate) {
    closedGates.remove(gate);
  }

  /** How many current attempts the gate has (waiting in it or with its subscriber). */
  int assigned(Object gate) {
    AtomicInteger n = perGate.get(gate);
    return n == null ? 0 : n.get();
  }

  /** The gate attempt {@code deliveryId} went to, or null when it is not current. */
  Object gateOf(String deliveryId) {
    Attempt a = attempts.get(deliveryId);
    return a == null ? null : a.gate;
  }

  /** Whether attempt {@code deliveryId} is current and reached its subscriber (its gate handed it over). */
  boolean isHandedOver(String deliveryId) {
    Attempt a = attempts.get(deliveryId);
    return a != null && a.reached;
  }

  boolean isCurrent(String deliveryId) {
    return attempts.containsKey(deliveryId);
  }

  /** The gate handed the delivery to its subscriber now. */
  void handedOver(String deliveryId) {
    Attempt a = attempts.get(deliveryId);
    if (a != null && a.handedAt == NOT_HANDED) {
      a.handedAt = System.nanoTime();
      a.reached = true;
    }
  }

  /**
   * When the subscriber got delivery {@code deliveryId} ({@link System#nanoTime()}, compare by difference), or
   * {@link #NOT_HANDED} while it waits in the gate (or is no longer current).
   */
  long handedAt(String deliveryId) {
    Attempt a = attempts.get(deliveryId);
    return a == null ? NOT_HANDED : a.handedAt;
  }

  /**
   * The subscriber behind {@code gate} left: what waited in its gate or was with it will get no answer; those
   * attempts count as handed over long ago, so that their ack timeout has passed at its next check.
   */
  void orphan(Object gate) {
    long longAgo = System.nanoTime() - Long.MAX_VALUE / 4;
    attempts.values().forEach(a -> {
      if (a.gate == gate) a.handedAt = longAgo;
    });
  }
}
