package io.redisrouter.testkit;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Thread-safe bookkeeping of a fault test, like a message queue checker: what the publisher sent, what was
 * acknowledged to it, what subscribers received (with duplicates) and what went to the dead-letter stream.
 *
 * <ul>
 *   <li>lost = acknowledged ids neither delivered nor dead-lettered (must be 0);</li>
 *   <li>duplicated = total deliveries beyond the first one per id;</li>
 *   <li>unexpected = delivered ids that were never sent.</li>
 * </ul>
 */
public final class MessageChecker {

  private static final Logger log = LoggerFactory.getLogger(MessageChecker.class);

  private final Set<String> sent = ConcurrentHashMap.newKeySet();
  private final Set<String> acked = ConcurrentHashMap.newKeySet();
  private final Set<String> deadLettered = ConcurrentHashMap.newKeySet();
  private final Map<String, AtomicInteger> delivered = new ConcurrentHashMap<>();

  /** The publisher is about to send / has sent {@code id}. */
  public void sent(String id) {
    sent.add(id);
  }

  /** The publisher got "accepted" for {@code id}: from now on it must not be lost. */
  public void acked(String id) {
    acked.add(id);
  }

  /** A subscriber received {@code id}; every call counts, so redeliveries show up as duplicates. */
  public void delivered(String id) {
    delivered.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
  }

  /** {@code id} ended in the dead-letter stream (accounted for, not lost). */
  public void deadLettered(String id) {
    deadLettered.add(id);
  }

  /** How many times {@code id} was delivered. */
  public int deliveryCount(String id) {
    AtomicInteger n = delivered.get(id);
    return n == null ? 0 : n.get();
  }

  /** Acknowledged ids neither delivered nor dead-lettered (sorted, for failure messages). */
  public Set<String> lostIds() {
    Set<String> out = new TreeSet<>();
    for (String id : acked) {
      if (!delivered.containsKey(id) && !deadLettered.contains(id)) {
        out.add(id);
      }
    }
    return out;
  }

  /** Ids delivered more than once (sorted). */
  public Set<String> duplicatedIds() {
    Set<String> out = new TreeSet<>();
    delivered.forEach((id, n) -> {
      if (n.get() > 1) {
        out.add(id);
      }
    });
    return out;
  }

  /** Delivered ids that were never sent (sorted). */
  public Set<String> unexpectedIds() {
    Set<String> out = new TreeSet<>();
    for (String id : delivered.keySet()) {
      if (!sent.contains(id)) {
        out.add(id);
      }
    }
    return out;
  }

  /** A snapshot; concurrent updates during the call may or may not be included. */
  public Report report() {
    long duplicated = 0;
    for (AtomicInteger n : delivered.values()) {
      duplicated += Math.max(0, n.get() - 1);
    }
    return new Report(
        sent.size(),
        acked.size(),
        delivered.size(),
        lostIds().size(),
        duplicated,
        unexpectedIds().size(),
        deadLettered.size());
  }

  /** Logs the report at INFO as {@code testName: sent=... acked=... ...}. */
  public void logReport(String testName) {
    log.info("{}: {}", testName, report());
  }

  /**
   * Counts of one checker snapshot. {@code delivered} and {@code deadLettered} count distinct ids;
   * {@code duplicated} counts deliveries beyond the first per id.
   */
  public record Report(long sent, long acked, long delivered, long lost, long duplicated, long unexpected,
      long deadLettered) {
    @Override
    public String toString() {
      return "sent=" + sent + " acked=" + acked + " delivered=" + delivered + " lost=" + lost
          + " duplicated=" + duplicated + " unexpected=" + unexpected + " deadLettered=" + deadLettered;
    }
  }
}
