package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Envelope;
import io.redisrouter.router.internal.DeliveryIds;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A subscription's bookkeeping of what it holds: overdue first attempts, delivery counts, the oldest entry. */
class HeldEntriesTest {
  private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

  private static Envelope envelope(Instant deadline) {
    return new Envelope("m", "c", null, new byte[0], null, Map.of(), NOW.minusSeconds(1), deadline, 1);
  }

  private final LiveDeliveries live = new LiveDeliveries();
  private final HeldEntries<String> held = new HeldEntries<>(live);

  private void inline(String id, Instant deadline, Object gate) {
    String deliveryId = DeliveryIds.of(id, 1);
    held.inline.put(id, new HeldEntries.Inline(envelope(deadline), deliveryId));
    live.start(deliveryId, gate);
  }

  @Test
  void overdueAreTheHandedOverPastTheAckTimeoutAndTheUnhandedPastTheirDeadline() {
    inline("1-0", NOW.plusSeconds(60), "gate");
    inline("2-0", NOW.minusSeconds(1), "gate"); // expired while waiting in the gate
    inline("3-0", NOW.plusSeconds(60), "gate"); // waiting, not expired
    live.handedOver(DeliveryIds.of("1-0", 1));
    long handed = live.handedAt(DeliveryIds.of("1-0", 1));

    HeldEntries.Overdue early = held.overdue(handed + 999, 1000, () -> NOW);
    assertTrue(early.late().isEmpty());
    assertEquals(List.of("2-0"), early.expired().stream().map(Map.Entry::getKey).toList());

    HeldEntries.Overdue late = held.overdue(handed + 1000, 1000, () -> NOW);
    assertEquals(List.of("1-0"), late.late().stream().map(Map.Entry::getKey).toList());
    assertEquals(List.of("2-0"), late.expired().stream().map(Map.Entry::getKey).toList());
  }

  @Test
  void nothingHeldIsNeverOverdueAndReadsNoClock() {
    assertTrue(held.overdue(0, 1, () -> {
      throw new AssertionError("no clock needed");
    }).isEmpty());
    assertNull(held.oldest());
  }

  @Test
  void deliveryCountIsTheAttemptOnceHandedOverOneLessInAGateAndKeptBetweenAttempts() {
    inline("5-0", NOW.plusSeconds(60), "gate");
    held.inFlight.put("4-0", "child");
    held.childAttempts.put("4-0", DeliveryIds.of("4-0", 3));
    live.start(DeliveryIds.of("4-0", 3), "gate");
    held.inFlight.put("7-1", "child between attempts");

    assertEquals(0, held.deliveryCount(DeliveryIds.of("5-0", 1))); // waits in its gate
    live.handedOver(DeliveryIds.of("4-0", 3));
    assertEquals(3, held.deliveryCount(DeliveryIds.of("4-0", 3)));
    assertEquals(-1, held.deliveryCount(null));

    String[] pairs = held.countPairs();
    assertEquals(6, pairs.length);
    Map<String, String> counts = Map.of(pairs[0], pairs[1], pairs[2], pairs[3], pairs[4], pairs[5]);
    assertEquals(Map.of("4-0", "3", "7-1", "-1", "5-0", "0"), counts);
    assertEquals("4-0", held.oldest());
    assertEquals(3, held.size());
  }

  @Test
  void endingAChildAttemptEndsItsLiveAttempt() {
    held.inFlight.put("4-0", "child");
    held.childAttempts.put("4-0", DeliveryIds.of("4-0", 2));
    live.start(DeliveryIds.of("4-0", 2), "gate");
    held.endChildAttempt("4-0");
    assertEquals(0, live.assigned("gate"));
    assertArrayEquals(new String[] {"4-0", "-1"}, held.countPairs());
  }

  @Test
  void attemptOfReadsTheSuffix() {
    assertEquals(1, HeldEntries.attemptOf("3-0"));
    assertEquals(12, HeldEntries.attemptOf(DeliveryIds.of("3-0", 12)));
  }
}
