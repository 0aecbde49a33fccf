package io.redisrouter.router;

import java.util.LinkedHashMap;
import java.util.Map;
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
  public final LongAdder deadLettered = new LongAdder();
  public final LongAdder expired = new LongAdder();
  public final LongAdder broadcastDelivered = new LongAdder();
  public final LongAdder broadcastExpired = new LongAdder();

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
    return m;
  }

  @Override
  public String toString() {
    return snapshot().toString();
  }
}
