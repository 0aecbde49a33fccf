package io.redisrouter.router;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of what the router did, since it started; thread safe and cheap to update (one {@link LongAdder} each, the
 * way Caffeine's {@code ConcurrentStatsCounter} keeps its statistics). Code that does something says so through an
 * intent method ({@link #recordAcked()}, {@link #inFlightAdded(long)}, ...); code that reads takes one
 * {@link #snapshot()}. The counters themselves are not reachable from outside.
 */
public final class RouterMetrics {
  /** Publishes Redis stored. */
  private final LongAdder publishAccepted = new LongAdder();
  /** Publishes answered as duplicates of a stored message. */
  private final LongAdder publishDuplicates = new LongAdder();
  /** Publishes refused (invalid, overloaded, unavailable, shutting down). */
  private final LongAdder publishRejected = new LongAdder();
  /** Publishes refused because the Redis instance was full (maxmemory under noeviction); also in publishRejected. */
  private final LongAdder publishRedisFull = new LongAdder();
  /** Publishes whose deadline passed before Redis stored them. */
  private final LongAdder publishExpired = new LongAdder();
  /** Deliveries to subscribers (every attempt). */
  private final LongAdder delivered = new LongAdder();
  /** Deliveries acknowledged. */
  private final LongAdder acked = new LongAdder();
  /** Deliveries answered with a nack. */
  private final LongAdder nacked = new LongAdder();
  /** Deliveries scheduled again after a nack, an ack timeout or a failed webhook call. */
  private final LongAdder retried = new LongAdder();
  /** Attempts whose ack timeout passed. */
  private final LongAdder ackTimeouts = new LongAdder();
  /** Entries claimed from another consumer (XAUTOCLAIM) for redelivery. */
  private final LongAdder claimed = new LongAdder();
  /** Entries this node stopped handling because another consumer had taken them over (a lease not renewed in time). */
  private final LongAdder leasesLost = new LongAdder();
  /** Exceptions recovered from: subscription actors restarted, publishes answered unavailable after a failed write. */
  private final LongAdder failuresRecovered = new LongAdder();
  /** Messages moved to a dead-letter stream (any reason). */
  private final LongAdder deadLettered = new LongAdder();
  /** Deliveries an embedded subscriber's gate handed over (what reached the subscriber's mailbox). */
  private final LongAdder handedToSubscribers = new LongAdder();
  /** Deliveries a subscriber's gate dropped before handing them over: expired, or their attempt had ended. */
  private final LongAdder deliveriesSkipped = new LongAdder();
  /** Messages dead-lettered because their deadline passed before delivery. */
  private final LongAdder expired = new LongAdder();
  /** Broadcast messages handed to local subscribers. */
  private final LongAdder broadcastDelivered = new LongAdder();
  /** Broadcast messages dropped because their deadline had passed. */
  private final LongAdder broadcastExpired = new LongAdder();
  /** Broadcast messages dropped because the subscriber held its whole {@code broadcast-window} unanswered. */
  private final LongAdder broadcastDropped = new LongAdder();
  /**
   * Reconnects of a pub/sub connection that carried broadcast subscriptions (re-subscribed then): broadcasts
   * published while it was down were missed by this node's broadcast subscribers.
   */
  private final LongAdder broadcastResubscribes = new LongAdder();
  /** Idle subscriptions the stream watch woke: their stream had entries that no publish wake-up or doorbell announced (written by something else than a router, or a doorbell lost). */
  private final LongAdder watchWakeups = new LongAdder();
  /** Messages held by delivery actors on this node now (delivered and awaiting the ack, or waiting for a retry). */
  private final LongAdder inFlight = new LongAdder();
  /** Channel janitors running on this node (one per reliable channel in use here; idle ones stop). */
  private final AtomicInteger channelJanitors = new AtomicInteger();

  /** Every counter at one moment (each read once; counters updated meanwhile may be a little apart). */
  public record Snapshot(long publishAccepted, long publishDuplicates, long publishRejected, long publishExpired,
      long delivered, long acked, long nacked, long retried, long ackTimeouts, long claimed, long leasesLost,
      long failuresRecovered, long deadLettered, long handedToSubscribers, long deliveriesSkipped, long expired,
      long broadcastDelivered, long broadcastExpired, long broadcastDropped, long watchWakeups, long inFlight,
      int channelJanitors, long publishRedisFull, long broadcastResubscribes) {
    /** By Prometheus-style name, for logs. */
    public Map<String, Long> asMap() {
      Map<String, Long> m = new LinkedHashMap<>();
      m.put("publish_accepted", publishAccepted);
      m.put("publish_duplicates", publishDuplicates);
      m.put("publish_rejected", publishRejected);
      m.put("publish_redis_full", publishRedisFull);
      m.put("publish_expired", publishExpired);
      m.put("delivered", delivered);
      m.put("acked", acked);
      m.put("nacked", nacked);
      m.put("retried", retried);
      m.put("ack_timeouts", ackTimeouts);
      m.put("claimed", claimed);
      m.put("leases_lost", leasesLost);
      m.put("failures_recovered", failuresRecovered);
      m.put("dead_lettered", deadLettered);
      m.put("handed_to_subscribers", handedToSubscribers);
      m.put("deliveries_skipped", deliveriesSkipped);
      m.put("expired", expired);
      m.put("broadcast_delivered", broadcastDelivered);
      m.put("broadcast_expired", broadcastExpired);
      m.put("broadcast_dropped", broadcastDropped);
      m.put("broadcast_resubscribes", broadcastResubscribes);
      m.put("watch_wakeups", watchWakeups);
      m.put("in_flight", inFlight);
      m.put("channel_janitors", (long) channelJanitors);
      return m;
    }
  }

  /** Reads every counter once. */
  public Snapshot snapshot() {
    return new Snapshot(publishAccepted.sum(), publishDuplicates.sum(), publishRejected.sum(), publishExpired.sum(),
        delivered.sum(), acked.sum(), nacked.sum(), retried.sum(), ackTimeouts.sum(), claimed.sum(), leasesLost.sum(),
        failuresRecovered.sum(), deadLettered.sum(), handedToSubscribers.sum(), deliveriesSkipped.sum(), expired.sum(),
        broadcastDelivered.sum(), broadcastExpired.sum(), broadcastDropped.sum(), watchWakeups.sum(), inFlight.sum(),
        channelJanitors.get(), publishRedisFull.sum(), broadcastResubscribes.sum());
  }

  public void recordPublishAccepted() {
    publishAccepted.increment();
  }

  public void recordPublishDuplicate() {
    publishDuplicates.increment();
  }

  public void recordPublishRejected() {
    publishRejected.increment();
  }

  /** A publish refused because its Redis instance was full (also counts as rejected). */
  public void recordPublishRedisFull() {
    publishRejected.increment();
    publishRedisFull.increment();
  }

  public void recordPublishExpired() {
    publishExpired.increment();
  }

  public void recordDelivered() {
    delivered.increment();
  }

  public void recordAcked() {
    acked.increment();
  }

  public void recordNacked() {
    nacked.increment();
  }

  public void recordRetried() {
    retried.increment();
  }

  public void recordAckTimeout() {
    ackTimeouts.increment();
  }

  public void recordClaimed() {
    claimed.increment();
  }

  public void recordClaimed(long n) {
    claimed.add(n);
  }

  public void recordLeasesLost() {
    leasesLost.increment();
  }

  public void recordLeasesLost(long n) {
    leasesLost.add(n);
  }

  public void recordFailureRecovered() {
    failuresRecovered.increment();
  }

  public void recordDeadLettered() {
    deadLettered.increment();
  }

  public void recordHandedToSubscriber() {
    handedToSubscribers.increment();
  }

  public void recordDeliverySkipped() {
    deliveriesSkipped.increment();
  }

  public void recordExpired() {
    expired.increment();
  }

  public void recordBroadcastDelivered() {
    broadcastDelivered.increment();
  }

  public void recordBroadcastExpired() {
    broadcastExpired.increment();
  }

  public void recordBroadcastDropped() {
    broadcastDropped.increment();
  }

  public void recordBroadcastResubscribe() {
    broadcastResubscribes.increment();
  }

  public void recordWatchWakeup() {
    watchWakeups.increment();
  }

  /** {@code n} messages are now held by a delivery actor of this node. */
  public void inFlightAdded(long n) {
    inFlight.add(n);
  }

  /** {@code n} messages are no longer held (answered, dead-lettered, lost, or their subscription stopped). */
  public void inFlightRemoved(long n) {
    inFlight.add(-n);
  }

  public void janitorStarted() {
    channelJanitors.incrementAndGet();
  }

  public void janitorStopped() {
    channelJanitors.decrementAndGet();
  }

  /** {@link #stateRestored} {@code what}: a consumer group Redis had lost, created again. */
  public static final String RESTORED_GROUP = "consumer-group";
  /** {@link #stateRestored} {@code what}: an HTTP subscription definition Redis had lost, written back. */
  public static final String RESTORED_SUBSCRIPTION = "subscription-definition";

  /** What the router restored after Redis lost it, per Redis instance and kind of state. */
  public record Restored(String instance, String what) {}

  private final Map<Restored, LongAdder> restored = new ConcurrentHashMap<>();
  private final Map<String, RateCounter> publishedByChannel = new ConcurrentHashMap<>();
  private final Map<String, RateCounter> ackedByChannel = new ConcurrentHashMap<>();
  private final io.redisrouter.router.audit.DeliveryAudits audits = new io.redisrouter.router.audit.DeliveryAudits();

  /** The loss audits of the subscriptions on this node (numbered messages: producer id and sequence). */
  public io.redisrouter.router.audit.DeliveryAudits audits() {
    return audits;
  }

  /** Seconds from the publish (the router accepted it) to the subscriber's ack; exposed at /metrics. */
  private final LatencyHistogram publishToAck = new LatencyHistogram();

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

  /** The publish-to-ack latency histogram (exposed by the service's metrics endpoint). */
  public LatencyHistogram publishToAck() {
    return publishToAck;
  }

  @Override
  public String toString() {
    return snapshot().asMap().toString();
  }
}
