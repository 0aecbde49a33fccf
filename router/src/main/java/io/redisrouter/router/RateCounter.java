package io.redisrouter.router;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * A counter that also knows its recent rate: the total since the router started, and the events per second over the
 * last {@value #WINDOW_SECONDS} seconds (a sliding window of one-second buckets; shorter while the counter is younger
 * than the window). Lock free and exact: each bucket packs its second and its count in one long, updated by CAS.
 */
public final class RateCounter {
  /** Length of the sliding window of {@link #perSecond()}. */
  public static final int WINDOW_SECONDS = 60;

  private static final int SLOTS = WINDOW_SECONDS + 1; // the current, partial second and the 60 before it
  private static final long COUNT_MASK = 0xffff_ffffL;

  private final LongAdder total = new LongAdder();
  /** Per slot: (second since {@link #baseSecond}) << 32 | count in that second. */
  private final AtomicLongArray slots = new AtomicLongArray(SLOTS);
  private final LongSupplier clockMillis;
  private final long createdMillis;
  private final long baseSecond;

  public RateCounter() {
    this(System::currentTimeMillis);
  }

  /** For tests: a counter on the given clock (epoch milliseconds). */
  RateCounter(LongSupplier clockMillis) {
    this.clockMillis = clockMillis;
    this.createdMillis = clockMillis.getAsLong();
    this.baseSecond = Math.floorDiv(createdMillis, 1000L) - 1; // second 0 is never a live one: empty slots read 0
  }

  public void increment() {
    add(1);
  }

  public void add(long n) {
    if (n <= 0) return;
    total.add(n);
    long second = Math.floorDiv(clockMillis.getAsLong(), 1000L) - baseSecond;
    int i = (int) (second % SLOTS);
    while (true) {
      long cur = slots.get(i);
      long next = (cur >>> 32) == second
          ? cur + Math.min(n, COUNT_MASK - (cur & COUNT_MASK))
          : (second << 32) | Math.min(n, COUNT_MASK);
      if (slots.compareAndSet(i, cur, next)) return;
    }
  }

  /** Everything counted since the counter was created. */
  public long total() {
    return total.sum();
  }

  /** Events per second over the last {@value #WINDOW_SECONDS} seconds (or since creation, when more recent). */
  public double perSecond() {
    long now = clockMillis.getAsLong();
    long second = Math.floorDiv(now, 1000L) - baseSecond;
    long oldest = second - WINDOW_SECONDS;
    long sum = 0;
    for (int i = 0; i < SLOTS; i++) {
      long v = slots.get(i);
      long s = v >>> 32;
      if (s >= oldest && s <= second) sum += v & COUNT_MASK;
    }
    long from = Math.max((oldest + baseSecond) * 1000L, createdMillis);
    long spanMillis = Math.max(1000L, now - from); // at least a second: no huge rates right after start
    return sum * 1000.0 / spanMillis;
  }
}
