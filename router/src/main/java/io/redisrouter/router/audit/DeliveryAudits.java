package io.redisrouter.router.audit;

import java.util.Collections;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@link SequenceAudit}s of this node, one per subscription (channel and consumer group) that settled a numbered
 * message here; created on first use, kept across restarts of the subscription's actor, dropped when the
 * subscription is deleted. Thread safe.
 */
public final class DeliveryAudits {
  /** The defaults of {@code redis-router.audit.window} and {@code max-producers}. */
  public static final int DEFAULT_WINDOW = 10_000;
  public static final int DEFAULT_MAX_PRODUCERS = 1_000;

  /** A subscription: its channel and its consumer group's name. */
  public record Key(String channel, String subscription) {}

  private final Map<Key, SequenceAudit> audits = new ConcurrentHashMap<>();
  private volatile int window = DEFAULT_WINDOW;
  private volatile int maxProducers = DEFAULT_MAX_PRODUCERS;

  /** Sets the size of the audits created from now on. */
  public void configure(int window, int maxProducers) {
    new SequenceAudit(window, maxProducers); // checks both
    this.window = window;
    this.maxProducers = maxProducers;
  }

  /** The audit of a subscription, created on first use. */
  public SequenceAudit of(String channel, String subscription) {
    Key k = new Key(channel, subscription);
    SequenceAudit a = audits.get(k);
    return a != null ? a : audits.computeIfAbsent(k, x -> new SequenceAudit(window, maxProducers));
  }

  /** The audit of a subscription, or null when it settled no numbered message on this node. */
  public SequenceAudit find(String channel, String subscription) {
    return audits.get(new Key(channel, subscription));
  }

  /** Drops a subscription's audit (it was deleted: one made again with its name starts afresh). */
  public void forget(String channel, String subscription) {
    audits.remove(new Key(channel, subscription));
  }

  /** Every audit of this node (a live, unmodifiable view). */
  public Map<Key, SequenceAudit> all() {
    return Collections.unmodifiableMap(audits);
  }
}
