package io.redisrouter.router;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The sliding-window rate of {@link RateCounter}, on a fake clock. */
class RateCounterTest {

  @Test
  void rateIsPerSecondOverTheWindowAndForgetsOldSeconds() {
    AtomicLong now = new AtomicLong(1_000_000_000_500L);
    RateCounter c = new RateCounter(now::get);
    assertEquals(0.0, c.perSecond());
    c.add(10);
    // younger than a second: counted over one second, never more
    assertEquals(10.0, c.perSecond(), 1e-9);
    now.addAndGet(9_500); // 9.5 s after creation, 10 s later on the clock
    c.add(10);
    assertEquals(20 / 9.5, c.perSecond(), 1e-9); // over the time since creation
    now.addAndGet(50_000); // 59.5 s after creation: both seconds still in the window
    assertEquals(20 / 59.5, c.perSecond(), 1e-9);
    now.addAndGet(5_000); // the first second left the window: 10 events over the last 60 s
    assertEquals(10 / 60.0, c.perSecond(), 1e-9);
    now.addAndGet(120_000); // everything left
    assertEquals(0.0, c.perSecond());
    assertEquals(20, c.total());
  }

  @Test
  void aSlotReusedAfterTheWindowStartsFromZero() {
    AtomicLong now = new AtomicLong(5_000L);
    RateCounter c = new RateCounter(now::get);
    c.add(7);
    now.addAndGet(61_000); // same slot, a later second
    c.add(3);
    assertEquals(3 / 60.0, c.perSecond(), 0.001);
    assertEquals(10, c.total());
  }
}
