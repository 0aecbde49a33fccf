package io.redisrouter.router;

import io.prometheus.metrics.core.metrics.Histogram;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/** Counters of what the router did, since it started. Thread safe and cheap to update. */
public final class RouterMetrics {
  public final LongAdder publishAccepted = new LongAdder();
  public final LongAdder publishDuplicates = new LongAdder();
  public final LongAdder publishRejected = new LongAdder();
  public final LongAdder publishExpired = new LongAdder();
  public final LongAdder delivered = new LongAdder();
  public final LongAdder acked = new LongAdder();
  public final LongAdder nacked = new LongAdder();
  public final LongAdder retried = new LongAdder();
  public final LongAdder ackTimeouts = new LongAdder();
  public final LongAdder claimed = new LongAdder();
  /** Entries this node stopped handling because another consumer had taken them over (a lease not renewed in time). */
  public final LongAdder leasesLost = new LongAdder();
  /** Exceptions recovered from: subscription actors restarted, publishes answered unavailable after a failed write. */
  public final LongAdder failuresRecovered = new LongAdder();
  public final LongAdder deadLettered = new LongAdder();
  /** Deliveries an embedded subscriber's gate handed over (what reached the subscriber's mailbox). */
  public final LongAdder handedToSubscribers = new LongAdder();
  /** Deliveries a subscriber's gate dropped before handing them over: expired, or their attempt had ended. */
  public final LongAdder deliveriesSkipped = new LongAdder();
  public final LongAdder expired = new LongAdder();
  public final LongAdder broadcastDelivered = new LongAdder();
  public final LongAdder broadcastExpired = new LongAdder();
  /** Broadcast messages dropped because the subscriber held its whole {@code broadcast-window} unanswered. */
  public final LongAdder broadcastDropped = new LongAdder();
  /**
   * Idle subscriptions the stream watch woke: their stream had entries that no publish wake-up or doorbell announced
   * (written by something else than a router, or a doorbell lost).
   */
  public final LongAdder watchWakeups = new LongAdder();
  /** Messages held by delivery actors on this node now (delivered and awaiting the ack, or waiting for a retry). */
  public final LongAdder inFlight = new LongAdder();

  /** {@link #stateRestored} {@code what}: a consumer group Redis had lost, created again. */
  public static final String RESTORED_GROUP = "consumer-group";
  /** {@link #stateRestored} {@code what}: an HTTP subscription definition Redis had lost, written back. */
  public static final String RESTORED_SUBSCRIPTION = "subscription-definition";

  /** What the router restored after Redis lost it, per Redis instance and kind of state. */
  public record Restored(String instance, String what) {}

  private final Map<Restored, LongAdder> restored = new ConcurrentHashMap<>();
  private final Map<String, RateCounter> publishedByChannel = new ConcurrentHashMap<>();
  private final Map<String, RateCounter> ackedByChannel = new ConcurrentHashMap<>();
  /** Seconds from the publish (the router accepted it) to the subscriber's ack; exposed at /metrics. */
  private final Histogram publishToAck = Histogram.builder()
      .name("redis_router_publish_to_ack_seconds")
      .help("Time from the publish (accepted by a router) to the subscriber's ack, in seconds")
      .classicOnly()
      .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
          3600)
      .build();

  /**
   * Accepted publishes of {@code channel} on this node (total and recent rate). One counter per channel seen, kept
   * while the router runs (about 1 KB each).
   */
  public RateCounter published(String channel) {
    RateCounter c = publishedByChannel.get(channel); // no lock on the hot path once the channel is known
    return c != null ? c : publishedByChannel.computeIfAbsent(channel, k -> new RateCounter());
  }

  /** Acknowledged deliveries of {@code channel} on this node, over all its subscriptions (total and recent rate). */
  public RateCounter acked(String channel) {
    RateCounter c = ackedByChannel.get(channel);
    return c != null ? c : ackedByChannel.computeIfAbsent(channel, k -> new RateCounter());
  }

  private final Map<String, String> retentionPinned = new java.util.concurrent.ConcurrentHashMap<>();
  /** Channel janitors running on this node (one per reliable channel in use here; idle ones stop). */
  public final java.util.concurrent.atomic.AtomicInteger channelJanitors = new java.util.concurrent.atomic.AtomicInteger();

  /** Channels whose retention a consumer group holds back now (channel to group; a live, unmodifiable view). */
  public Map<String, String> retentionPinned() {
    return Collections.unmodifiableMap(retentionPinned);
  }

  /** Records that {@code group} holds back {@code channel}'s retention, or ({@code group} null) that none does. */
  public void retentionPinned(String channel, String group) {
    if (group == null) retentionPinned.remove(channel);
    else
      retentionPinned.put(channel, group);
  }

  /** Drops a channel's per-channel counters (the channel went idle on this node; they start again at its next use). */
  public void forgetChannel(String channel) {
    publishedByChannel.remove(channel);
    ackedByChannel.remove(channel);
    retentionPinned.remove(channel);
  }

  /** Channels that had a publish on this node, with their counters (a live, unmodifiable view). */
  public Map<String, RateCounter> publishedByChannel() {
    return Collections.unmodifiableMap(publishedByChannel);
  }

  /** Channels that had an ack on this node, with their counters (a live, unmodifiable view). */
  public Map<String, RateCounter> ackedByChannel() {
    return Collections.unmodifiableMap(ackedByChannel);
  }

  /** Counts {@code n} pieces of state of kind {@code what} that Redis instance {@code instance} lost and the router restored. */
  public void stateRestored(String instance, String what, long n) {
    restored.computeIfAbsent(new Restored(instance, what), k -> new LongAdder()).add(n);
  }

  /** The restore counters so far (a live, unmodifiable view). */
  public Map<Restored, LongAdder> stateRestored() {
    return Collections.unmodifiableMap(restored);
  }

  /** Records the publish-to-ack latency of a message published at {@code publishedAt} and acknowledged now. */
  public void recordPublishToAck(Instant publishedAt) {
    long ms = System.currentTimeMillis() - publishedAt.toEpochMilli();
    publishToAck.observe(Math.max(0, ms) / 1000.0); // another node's clock may be ahead: never negative
  }

  /** The publish-to-ack latency histogram (a Prometheus collector, registered by the metrics endpoint). */
  public Histogram publishToAckHistogram() {
    return publishToAck;
  }

  /** A snapshot by name, for logs, tests and the metrics endpoint. */
  public Map<String, Long> snapshot() {
    Map<String, Long> m = new LinkedHashMap<>();
    m.put("publish_accepted", publishAccepted.sum());
    m.put("publish_duplicates", publishDuplicates.sum());
    m.put("publish_rejected", publishRejected.sum());
    m.put("publish_expired", publishExpired.sum());
    m.put("delivered", delivered.sum());
    m.put("acked", acked.sum());
    m.put("nacked", nacked.sum());
    m.put("retried", retried.sum());
    m.put("ack_timeouts", ackTimeouts.sum());
    m.put("claimed", claimed.sum());
    m.put("dead_lettered", deadLettered.sum());
    m.put("expired", expired.sum());
    m.put("broadcast_delivered", broadcastDelivered.sum());
    m.put("broadcast_expired", broadcastExpired.sum());
    m.put("broadcast_dropped", broadcastDropped.sum());
    return m;
  }

  @Override
  public String toString() {
    return snapshot().toString();
  }
}
