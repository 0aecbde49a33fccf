package io.redisrouter.router.audit;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The loss audit of one subscription on one node: for each producer id, which of its sequence numbers this
 * subscription's consumer settled (acknowledged by a subscriber, or dead-lettered), so that "did B get everything A
 * sent?" has an answer. Thread safe (one short lock per numbered message; messages without a producer id never get
 * here). What each counter means:
 *
 * <ul>
 *   <li>{@code received}: numbered messages acknowledged by a subscriber (each settlement once, repeats included).
 *   <li>{@code deadLettered}: numbered messages dead-lettered (expired, rejected, out of attempts): accounted for,
 *       not gaps.
 *   <li>{@code gaps}: sequence numbers between the lowest and the highest settled one that have not been settled
 *       (yet): messages reordered by retries fill them later, so this number can go down. Only the last
 *       {@code window} sequence numbers below the highest are tracked (a bitset of {@code window} bits per producer).
 *   <li>{@code missing}: sequence numbers that left the window unsettled (the highest moved more than {@code window}
 *       past them): given up on, counted once, never taken back.
 *   <li>{@code duplicates}: a sequence number settled again by a first delivery attempt: a second stream entry with
 *       the same producer id and sequence, i.e. the publisher sent it twice (with another message id, or with the
 *       same id after the dedup window).
 *   <li>{@code redeliveries}: a sequence number settled again by a later attempt (2 or more) of a delivery: the
 *       router delivered the same entry again (an ack that came too late or was lost: at-least-once).
 *   <li>{@code late}: a sequence number settled below the window, whether a late fill (already counted missing) or a
 *       repeat: too old to tell.
 * </ul>
 *
 * <p>The first sequence number settled for a producer is where its audit starts (a subscription created after the
 * producer started does not count what came before it as gaps); an earlier one settled later (reordering) moves the
 * start down, and the numbers between become gaps. At most {@code maxProducers} producers are tracked; when one more
 * comes, the one settled least recently is dropped ({@code producersEvicted}) with its open gaps.
 */
public final class SequenceAudit {
  /** At most this many gap ranges are listed per producer (the count of gaps is always complete). */
  public static final int MAX_RANGES = 100;

  private final int window;
  private final int maxProducers;
  private final Map<String, Producer> producers;
  private long openGaps;
  private long missing;
  private long duplicates;
  private long redeliveries;
  private long late;
  private long received;
  private long deadLettered;
  private long evicted;

  /**
   * @param window       sequence numbers tracked below each producer's highest (64 or more)
   * @param maxProducers producers tracked at most (the least recently settled one is dropped for a new one)
   */
  public SequenceAudit(int window, int maxProducers) {
    if (window < 64) throw new IllegalArgumentException("window " + window + " is below 64");
    if (maxProducers < 1) throw new IllegalArgumentException("maxProducers " + maxProducers + " is below 1");
    this.window = window;
    this.maxProducers = maxProducers;
    this.producers = new LinkedHashMap<>(16, 0.75f, true);
  }

  /** One producer's state: its window is the ring {@code bits}, slot {@code seq mod window}. */
  private static final class Producer {
    final String id;
    final long[] bits;
    long lowest;
    long highest;
    long openGaps;
    long missing;
    long duplicates;
    long redeliveries;
    long late;
    long received;
    long deadLettered;

    Producer(String id, int window, long first) {
      this.id = id;
      this.bits = new long[(window + 63) / 64];
      this.lowest = first;
      this.highest = first;
    }
  }

  /**
   * Counts that this subscription settled sequence number {@code sequence} of {@code producer}: acknowledged, or
   * ({@code deadLettered}) dead-lettered, by delivery attempt {@code attempt} (1 for the first).
   */
  public synchronized void settled(String producer, long sequence, int attempt, boolean deadLettered) {
    if (producer == null || sequence < 0) return;
    Producer p = producers.get(producer);
    if (p == null) {
      if (producers.size() >= maxProducers) {
        Iterator<Producer> eldest = producers.values().iterator();
        Producer gone = eldest.next();
        eldest.remove();
        openGaps -= gone.openGaps;
        evicted++;
      }
      p = new Producer(producer, window, sequence);
      producers.put(producer, p);
      mark(p, sequence);
      count(p, deadLettered);
      return;
    }
    if (sequence > p.highest) {
      advance(p, sequence);
      mark(p, sequence);
      count(p, deadLettered);
      return;
    }
    long windowStart = p.highest - window + 1;
    if (sequence < windowStart) {
      p.late++;
      late++;
      count(p, deadLettered);
      return;
    }
    if (sequence < p.lowest) {
      // earlier than anything settled so far (reordered at the start): the audit starts here now
      long newGaps = p.lowest - sequence - 1;
      p.openGaps += newGaps;
      openGaps += newGaps;
      p.lowest = sequence;
      mark(p, sequence);
      count(p, deadLettered);
      return;
    }
    if (isMarked(p, sequence)) {
      if (attempt > 1) {
        p.redeliveries++;
        redeliveries++;
      } else {
        p.duplicates++;
        duplicates++;
      }
      count(p, deadLettered);
      return;
    }
    mark(p, sequence); // a late fill of a gap
    p.openGaps--;
    openGaps--;
    count(p, deadLettered);
  }

  private void count(Producer p, boolean dead) {
    if (dead) {
      p.deadLettered++;
      deadLettered++;
    } else {
      p.received++;
      received++;
    }
  }

  /** Moves {@code p}'s highest to {@code to}: the numbers skipped are gaps, those leaving the window missing. */
  private void advance(Producer p, long to) {
    long from = p.highest;
    long skipped = to - from - 1;
    // skipped numbers below the new window (a jump of more than the window): missing at once
    long neverIn = Math.max(0, to - window - from);
    // numbers of the old window that are not in the new one: unsettled ones fall out; every slot is cleared for reuse
    long leaveFrom = from - window + 1;
    long leaveTo = Math.min(from, to - window);
    long fellOut = 0;
    for (long s = leaveFrom; s <= leaveTo; s++) {
      if (s >= p.lowest && !isMarked(p, s)) fellOut++;
      clear(p, s);
    }
    long open = skipped - neverIn - fellOut;
    p.openGaps += open;
    openGaps += open;
    p.missing += neverIn + fellOut;
    missing += neverIn + fellOut;
    p.highest = to;
  }

  private void mark(Producer p, long s) {
    int slot = (int) (s % window);
    p.bits[slot >>> 6] |= 1L << slot;
  }

  private void clear(Producer p, long s) {
    if (s < 0) return;
    int slot = (int) (s % window);
    p.bits[slot >>> 6] &= ~(1L << slot);
  }

  private boolean isMarked(Producer p, long s) {
    int slot = (int) (s % window);
    return (p.bits[slot >>> 6] & (1L << slot)) != 0;
  }

  /** One producer as the audit shows it; {@code gapRanges}: up to {@link #MAX_RANGES} {from, to} pairs, oldest first. */
  public record ProducerReport(String producerId, long lowestSequence, long highestSequence, long received,
      long deadLettered, long gaps, List<long[]> gapRanges, boolean gapRangesTruncated, long missing, long duplicates,
      long redeliveries, long late) {}

  /** The totals over the tracked producers (and those dropped), and up to {@code limit} producers by id. */
  public record Report(int window, int maxProducers, int producers, long producersEvicted, long received,
      long deadLettered, long gaps, long missing, long duplicates, long redeliveries, long late,
      List<ProducerReport> producerList) {}

  /** The totals only (for metrics): no producer listed. */
  public synchronized Report totals() {
    return new Report(window, maxProducers, producers.size(), evicted, received, deadLettered, openGaps, missing,
        duplicates, redeliveries, late, List.of());
  }

  /** The totals and the first {@code limit} producers in id order (with their gap ranges). */
  public synchronized Report report(int limit) {
    List<Producer> sorted = new ArrayList<>(producers.values());
    sorted.sort((a, b) -> a.id.compareTo(b.id));
    List<ProducerReport> list = new ArrayList<>(Math.min(limit, sorted.size()));
    for (Producer p : sorted) {
      if (list.size() >= limit) break;
      List<long[]> ranges = new ArrayList<>();
      boolean truncated = false;
      long start = Math.max(p.lowest, p.highest - window + 1);
      long open = -1;
      for (long s = start; s <= p.highest; s++) {
        boolean seen = isMarked(p, s);
        if (!seen && open < 0) open = s;
        if (seen && open >= 0) {
          if (ranges.size() == MAX_RANGES) {
            truncated = true;
            break;
          }
          ranges.add(new long[]{open, s - 1});
          open = -1;
        }
      }
      list.add(new ProducerReport(p.id, p.lowest, p.highest, p.received, p.deadLettered, p.openGaps, ranges,
          truncated, p.missing, p.duplicates, p.redeliveries, p.late));
    }
    return new Report(window, maxProducers, producers.size(), evicted, received, deadLettered, openGaps, missing,
        duplicates, redeliveries, late, list);
  }
}
