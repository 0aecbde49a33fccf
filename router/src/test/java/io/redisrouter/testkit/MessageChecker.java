package io.redisrouter.testkit;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The checker every fault and soak test accounts with, like a queue's test checker: what the publishers attempted,
 * what the router accepted or refused (by reason), and per consumer (an embedded subscriber, a pull subscription, a
 * webhook: each a subscription of its own that must see everything) what was delivered, acked and dead-lettered (by
 * reason).
 *
 * <ul>
 *   <li>lost = accepted ids a consumer neither received nor saw dead-lettered (must be 0);</li>
 *   <li>duplicated = deliveries beyond the first one per id (reported; a test bounds it by the in-flight window);</li>
 *   <li>unexpected = delivered ids that were never attempted (must be 0);</li>
 *   <li>order violations = first deliveries of a key's messages out of their sequence, counted only for ids the
 *       publisher registered with {@link #attempted(String, String, long)} (channels that promise order per key).</li>
 * </ul>
 *
 * <p>Ids are usually {@link #id(String, long) producer-sequence}. The methods without a consumer ({@link #delivered},
 * {@link #deadLettered}, ...) record for the default consumer, for tests with one. Thread-safe.
 */
public final class MessageChecker {

  private static final Logger log = LoggerFactory.getLogger(MessageChecker.class);
  private static final String DEFAULT_CONSUMER = "consumer";

  private record Sequenced(String key, long seq) {}

  private final Set<String> attempted = ConcurrentHashMap.newKeySet();
  private final Set<String> accepted = ConcurrentHashMap.newKeySet();
  private final Map<String, String> refused = new ConcurrentHashMap<>(); // id -> last reason, while not accepted
  private final Map<String, LongAdder> refusals = new ConcurrentHashMap<>(); // reason -> refusals (every try)
  private final Map<String, Sequenced> sequenced = new ConcurrentHashMap<>();
  private final Map<String, Consumer> consumers = Collections.synchronizedMap(new java.util.LinkedHashMap<>());

  /** {@code producer-000042}: the id of a producer's message {@code seq}, sortable within a producer. */
  public static String id(String producer, long seq) {
    return producer + "-" + String.format("%06d", seq);
  }

  // ---- publish side

  /** A publisher is about to send {@code id} (a retry of it counts once). */
  public void attempted(String id) {
    attempted.add(id);
  }

  /**
   * A publisher is about to send {@code id}, message {@code seq} of {@code key} (a producer id or a partition key) on
   * a channel that promises order per key: first deliveries are checked against that order.
   */
  public void attempted(String id, String key, long seq) {
    attempted.add(id);
    sequenced.put(id, new Sequenced(key, seq));
  }

  /** Same as {@link #attempted(String)}. */
  public void sent(String id) {
    attempted(id);
  }

  /** The router answered "accepted" for {@code id}: from now on it must not be lost. */
  public void accepted(String id) {
    accepted.add(id);
    refused.remove(id);
  }

  /**
   * Same as {@link #accepted(String)}: the publisher's acknowledgement. (A subscriber's ack is
   * {@link Consumer#acked(String)}.)
   */
  public void acked(String id) {
    accepted(id);
  }

  /**
   * The router refused {@code id} with {@code reason} ({@code unavailable}, {@code overloaded}, an HTTP status...).
   * Every refusal is counted by reason; the id counts as refused at the end only if no later try was accepted.
   */
  public void refused(String id, String reason) {
    refusals.computeIfAbsent(reason, r -> new LongAdder()).increment();
    if (!accepted.contains(id)) {
      refused.put(id, reason);
    }
  }

  /** The ids accepted so far (a copy). */
  public Set<String> acceptedIds() {
    return new TreeSet<>(accepted);
  }

  // ---- consume side

  /** The consumer {@code name}, created on first use. */
  public Consumer consumer(String name) {
    synchronized (consumers) {
      return consumers.computeIfAbsent(name, Consumer::new);
    }
  }

  /** The default consumer received {@code id}; every call counts, so redeliveries show up as duplicates. */
  public void delivered(String id) {
    consumer(DEFAULT_CONSUMER).delivered(id);
  }

  /** {@code id} ended in the dead-letter stream for the default consumer (accounted for, not lost). */
  public void deadLettered(String id) {
    consumer(DEFAULT_CONSUMER).deadLettered(id, "unknown");
  }

  /** {@code id} ended in the dead-letter stream for the default consumer with {@code reason}. */
  public void deadLettered(String id, String reason) {
    consumer(DEFAULT_CONSUMER).deadLettered(id, reason);
  }

  /** How many times the default consumer received {@code id}. */
  public int deliveryCount(String id) {
    return consumer(DEFAULT_CONSUMER).deliveryCount(id);
  }

  /** Accepted ids some consumer neither received nor saw dead-lettered (sorted, for failure messages). */
  public Set<String> lostIds() {
    Set<String> out = new TreeSet<>();
    for (Consumer c : consumerList()) {
      out.addAll(c.lostIds());
    }
    return out;
  }

  /** Ids some consumer received more than once (sorted). */
  public Set<String> duplicatedIds() {
    Set<String> out = new TreeSet<>();
    for (Consumer c : consumerList()) {
      c.delivered.forEach((id, n) -> {
        if (n.get() > 1) {
          out.add(id);
        }
      });
    }
    return out;
  }

  /** Delivered ids that were never attempted (sorted). */
  public Set<String> unexpectedIds() {
    Set<String> out = new TreeSet<>();
    for (Consumer c : consumerList()) {
      for (String id : c.delivered.keySet()) {
        if (!attempted.contains(id)) {
          out.add(id);
        }
      }
    }
    return out;
  }

  /** The consumers; the default one when none was named, so that accepted and never delivered ids count as lost. */
  private List<Consumer> consumerList() {
    synchronized (consumers) {
      if (consumers.isEmpty()) {
        consumer(DEFAULT_CONSUMER);
      }
      return new ArrayList<>(consumers.values());
    }
  }

  /** A snapshot; concurrent updates during the call may or may not be included. */
  public Report report() {
    Map<String, Long> refusedBy = new TreeMap<>();
    refusals.forEach((reason, n) -> refusedBy.put(reason, n.sum()));
    List<ConsumerReport> per = new ArrayList<>();
    for (Consumer c : consumerList()) {
      per.add(c.report());
    }
    return new Report(attempted.size(), accepted.size(), refused.size(), refusedBy, per);
  }

  /** Logs the report's one line at INFO as {@code testName: attempted=... accepted=... | consumer: ...}. */
  public void logReport(String testName) {
    log.info("{}: {}", testName, report());
  }

  /**
   * Logs the one-line summary and judges it: lost = 0 and unexpected = 0 for every consumer, no order violation, and
   * at most {@code maxDuplicated} duplicates per consumer (the in-flight window the fault could have cut).
   *
   * @return the report judged
   */
  public Report assertPasses(String testName, long maxDuplicated) {
    Report r = report();
    log.info("{}: {}", testName, r);
    List<String> problems = new ArrayList<>();
    for (ConsumerReport c : r.consumers()) {
      if (c.lost() > 0) {
        problems.add(c.name() + " lost " + c.lost() + " (first: " + first(consumer(c.name()).lostIds()) + ")");
      }
      if (c.unexpected() > 0) {
        problems.add(c.name() + " got " + c.unexpected() + " never sent");
      }
      if (c.orderViolations() > 0) {
        problems.add(c.name() + " had " + c.orderViolations() + " order violations");
      }
      if (c.duplicated() > maxDuplicated) {
        problems.add(c.name() + " had " + c.duplicated() + " duplicates, more than " + maxDuplicated);
      }
    }
    if (!problems.isEmpty()) {
      throw new AssertionError(testName + ": " + String.join("; ", problems) + " -- " + r);
    }
    return r;
  }

  private static String first(Set<String> ids) {
    return ids.stream().limit(5).toList().toString();
  }

  /** One consumer's side: its own subscription, which must see every accepted message. */
  public final class Consumer {
    private final String name;
    private final Map<String, AtomicInteger> delivered = new ConcurrentHashMap<>();
    private final Set<String> acked = ConcurrentHashMap.newKeySet();
    private final Map<String, String> deadLettered = new ConcurrentHashMap<>();
    private final Map<String, Long> highestByKey = new ConcurrentHashMap<>();
    private final AtomicLong orderViolations = new AtomicLong();

    private Consumer(String name) {
      this.name = name;
    }

    public String name() {
      return name;
    }

    /** This consumer received {@code id}; every call counts, so redeliveries show up as duplicates. */
    public void delivered(String id) {
      int n = delivered.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
      Sequenced s = sequenced.get(id);
      if (n == 1 && s != null) {
        synchronized (this) {
          Long highest = highestByKey.get(s.key());
          if (highest != null && s.seq() < highest) {
            orderViolations.incrementAndGet();
          } else {
            highestByKey.put(s.key(), s.seq());
          }
        }
      }
    }

    /** This consumer acknowledged {@code id} (and the router took the ack). */
    public void acked(String id) {
      acked.add(id);
    }

    /** {@code id} ended in this consumer's dead letters with {@code reason} (accounted for, not lost). */
    public void deadLettered(String id, String reason) {
      deadLettered.put(id, reason);
    }

    public int deliveryCount(String id) {
      AtomicInteger n = delivered.get(id);
      return n == null ? 0 : n.get();
    }

    /** Whether this consumer received {@code id} or saw it dead-lettered. */
    public boolean accountedFor(String id) {
      return delivered.containsKey(id) || deadLettered.containsKey(id);
    }

    /** Accepted ids this consumer neither received nor saw dead-lettered (sorted). */
    public Set<String> lostIds() {
      Set<String> out = new TreeSet<>();
      for (String id : accepted) {
        if (!accountedFor(id)) {
          out.add(id);
        }
      }
      return out;
    }

    ConsumerReport report() {
      long duplicated = 0;
      long unexpected = 0;
      for (Map.Entry<String, AtomicInteger> e : delivered.entrySet()) {
        duplicated += Math.max(0, e.getValue().get() - 1);
        if (!attempted.contains(e.getKey())) {
          unexpected++;
        }
      }
      Map<String, Long> deadBy = new TreeMap<>();
      deadLettered.values().forEach(reason -> deadBy.merge(reason, 1L, Long::sum));
      return new ConsumerReport(name, delivered.size(), acked.size(), deadLettered.size(), deadBy,
          lostIds().size(), duplicated, unexpected, orderViolations.get());
    }
  }

  /**
   * One consumer's counts. {@code delivered}, {@code acked} and {@code deadLettered} count distinct ids;
   * {@code duplicated} counts deliveries beyond the first per id.
   */
  public record ConsumerReport(String name, long delivered, long acked, long deadLettered,
      Map<String, Long> deadLetteredByReason, long lost, long duplicated, long unexpected, long orderViolations) {
    @Override
    public String toString() {
      return name + ": delivered=" + delivered + " acked=" + acked + " dead-lettered=" + deadLettered
          + (deadLetteredByReason.isEmpty() ? "" : deadLetteredByReason.toString()) + " lost=" + lost
          + " duplicated=" + duplicated + " unexpected=" + unexpected + " order-violations=" + orderViolations;
    }
  }

  /**
   * The publish side ({@code refused} counts ids never accepted; {@code refusedByReason} every refusal) and each
   * consumer's counts; the totals sum the consumers.
   */
  public record Report(long attempted, long accepted, long refused, Map<String, Long> refusedByReason,
      List<ConsumerReport> consumers) {

    /** Same as {@link #attempted()}. */
    public long sent() {
      return attempted;
    }

    public long delivered() {
      return consumers.stream().mapToLong(ConsumerReport::delivered).sum();
    }

    /** Acks summed over the consumers (the publisher's acknowledgements are {@link #accepted()}). */
    public long ackedByConsumers() {
      return consumers.stream().mapToLong(ConsumerReport::acked).sum();
    }

    public long deadLettered() {
      return consumers.stream().mapToLong(ConsumerReport::deadLettered).sum();
    }

    public long lost() {
      return consumers.stream().mapToLong(ConsumerReport::lost).sum();
    }

    public long duplicated() {
      return consumers.stream().mapToLong(ConsumerReport::duplicated).sum();
    }

    public long unexpected() {
      return consumers.stream().mapToLong(ConsumerReport::unexpected).sum();
    }

    public long orderViolations() {
      return consumers.stream().mapToLong(ConsumerReport::orderViolations).sum();
    }

    /** The consumer {@code name}'s counts. */
    public ConsumerReport consumer(String name) {
      return consumers.stream().filter(c -> c.name().equals(name)).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("no consumer " + name + " in " + this));
    }

    @Override
    public String toString() {
      StringBuilder b = new StringBuilder("attempted=").append(attempted).append(" accepted=").append(accepted)
          .append(" refused=").append(refused);
      if (!refusedByReason.isEmpty()) {
        b.append(refusedByReason);
      }
      for (ConsumerReport c : consumers) {
        b.append(" | ").append(c);
      }
      return b.toString();
    }
  }
}
