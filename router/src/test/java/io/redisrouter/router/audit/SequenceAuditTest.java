package io.redisrouter.router.audit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The loss audit's counting: gaps as ranges, late fills that close them, producer duplicates told apart from
 * redeliveries, gaps that leave the window counted missing once, the producer cap, and a random reordering checked
 * against a plain set of what was settled.
 */
class SequenceAuditTest {

  private static SequenceAudit.ProducerReport only(SequenceAudit a) {
    List<SequenceAudit.ProducerReport> l = a.report(10).producerList();
    assertEquals(1, l.size(), () -> "producers: " + l);
    return l.get(0);
  }

  @Test
  void gapsAreListedAsRangesAndLateFillsCloseThem() {
    SequenceAudit a = new SequenceAudit(1024, 10);
    for (long s = 1; s <= 100; s++) {
      if (s == 10 || (s >= 20 && s <= 22) || s == 50) continue;
      a.settled("A", s, 1, false);
    }
    SequenceAudit.ProducerReport p = only(a);
    assertEquals(1, p.lowestSequence());
    assertEquals(100, p.highestSequence());
    assertEquals(95, p.received());
    assertEquals(5, p.gaps());
    assertEquals(3, p.gapRanges().size());
    assertArrayEquals(new long[]{10, 10}, p.gapRanges().get(0));
    assertArrayEquals(new long[]{20, 22}, p.gapRanges().get(1));
    assertArrayEquals(new long[]{50, 50}, p.gapRanges().get(2));
    assertEquals(5, a.totals().gaps());

    a.settled("A", 21, 2, false); // reordered by a retry: fills the gap, not a repeat
    a.settled("A", 50, 1, true); // dead-lettered: accounted, not a gap
    p = only(a);
    assertEquals(3, p.gaps());
    assertEquals(0, p.duplicates() + p.redeliveries());
    assertEquals(1, p.deadLettered());
    assertEquals(List.of("10-10", "20-20", "22-22"), p.gapRanges().stream().map(r -> r[0] + "-" + r[1]).toList());
  }

  @Test
  void aRepeatOfAFirstAttemptIsADuplicateOfALaterOneARedelivery() {
    SequenceAudit a = new SequenceAudit(1024, 10);
    for (long s = 0; s < 10; s++) a.settled("A", s, 1, false);
    a.settled("A", 3, 1, false); // another stream entry with the same number: the publisher sent it twice
    a.settled("A", 4, 1, false);
    a.settled("A", 5, 2, false); // the same entry delivered again after a late ack
    SequenceAudit.ProducerReport p = only(a);
    assertEquals(2, p.duplicates());
    assertEquals(1, p.redeliveries());
    assertEquals(0, p.gaps());
    assertEquals(13, p.received());
  }

  @Test
  void anEarlierFirstSequenceMovesTheStartDown() {
    SequenceAudit a = new SequenceAudit(1024, 10);
    a.settled("A", 5, 1, false);
    a.settled("A", 6, 1, false);
    assertEquals(0, only(a).gaps(), "the audit starts at the first number settled");
    a.settled("A", 2, 1, false); // reordered: 3 and 4 are gaps now
    assertEquals(2, only(a).gaps());
    assertEquals(2, only(a).lowestSequence());
    a.settled("A", 3, 1, false);
    a.settled("A", 4, 1, false);
    assertEquals(0, only(a).gaps());
  }

  @Test
  void gapsThatLeaveTheWindowAreMissingOnceAndOlderArrivalsLate() {
    SequenceAudit a = new SequenceAudit(64, 10);
    a.settled("A", 0, 1, false);
    a.settled("A", 2, 1, false); // 1 is a gap
    for (long s = 3; s <= 65; s++) a.settled("A", s, 1, false);
    SequenceAudit.ProducerReport p = only(a);
    assertEquals(0, p.gaps(), "1 left the window [2, 65]");
    assertEquals(1, p.missing());
    a.settled("A", 1, 1, false); // too old to tell a late fill from a repeat
    p = only(a);
    assertEquals(1, p.late());
    assertEquals(1, p.missing(), "missing is never taken back");
    // a jump of more than the window: everything skipped below the new window is missing at once
    a.settled("A", 1000, 1, false);
    p = only(a);
    assertEquals(63, p.gaps(), "936..999 less the window: 937..999 are open");
    assertEquals(1 + (1000 - 65 - 1) - 63, p.missing());
    assertEquals(p.gaps(), a.totals().gaps());
    assertEquals(p.missing(), a.totals().missing());
  }

  @Test
  void aWindowThatIsNoMultipleOf64CountsTheSame() {
    SequenceAudit a = new SequenceAudit(100, 10);
    a.settled("A", 0, 1, false);
    a.settled("A", 2, 1, false); // 1 is a gap
    for (long s = 3; s <= 100; s++) a.settled("A", s, 1, false);
    assertEquals(1, only(a).gaps(), "window [1, 100] still holds 1");
    a.settled("A", 101, 1, false);
    assertEquals(0, only(a).gaps());
    assertEquals(1, only(a).missing());
    a.settled("A", 50, 1, false);
    assertEquals(1, only(a).duplicates(), "50 is in the window and was settled");
    assertEquals(100, a.totals().window());
  }

  @Test
  void theProducerCapDropsTheLeastRecentlySettled() {
    SequenceAudit a = new SequenceAudit(64, 3);
    a.settled("A", 1, 1, false);
    a.settled("A", 3, 1, false); // one gap
    a.settled("B", 1, 1, false);
    a.settled("C", 1, 1, false);
    a.settled("B", 2, 1, false);
    a.settled("C", 2, 1, false);
    a.settled("D", 1, 1, false); // A is the least recently settled: dropped with its gap
    SequenceAudit.Report r = a.report(10);
    assertEquals(3, r.producers());
    assertEquals(1, r.producersEvicted());
    assertEquals(List.of("B", "C", "D"), r.producerList().stream().map(SequenceAudit.ProducerReport::producerId)
        .toList());
    assertEquals(0, r.gaps());
    assertEquals(2, a.report(2).producerList().size(), "the list is limited, the totals are not");
  }

  @Test
  void aRandomReorderingAgreesWithASetOfWhatWasSettled() {
    Random random = new Random(42);
    SequenceAudit a = new SequenceAudit(4000, 10); // not a multiple of 64
    TreeSet<Long> settled = new TreeSet<>();
    int n = 3000;
    long[] order = new long[n];
    for (int i = 0; i < n; i++) order[i] = i + 1;
    for (int i = 0; i < n; i++) { // local reordering: swaps within 50 places
      int j = Math.min(n - 1, i + random.nextInt(50));
      long t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    int dropped = 0;
    for (long s : order) {
      if (random.nextInt(100) < 3) {
        dropped++;
        continue;
      }
      a.settled("A", s, 1, false);
      settled.add(s);
    }
    long lowest = settled.first();
    long highest = settled.last();
    long expectedGaps = (highest - lowest + 1) - settled.size();
    SequenceAudit.ProducerReport p = only(a);
    assertTrue(dropped > 0);
    assertEquals(expectedGaps, p.gaps());
    assertEquals(settled.size(), p.received());
    assertEquals(0, p.missing() + p.duplicates() + p.late());
    long listed = p.gapRanges().stream().mapToLong(r -> r[1] - r[0] + 1).sum();
    assertEquals(p.gapRangesTruncated() ? listed <= expectedGaps : true, true);
    if (!p.gapRangesTruncated()) assertEquals(expectedGaps, listed);
    for (long[] r : p.gapRanges()) {
      for (long s = r[0]; s <= r[1]; s++) assertFalse(settled.contains(s), "listed gap " + s + " was settled");
    }
  }
}
