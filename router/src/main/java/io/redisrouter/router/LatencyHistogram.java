package io.redisrouter.router;

import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * A latency histogram with fixed buckets (seconds, 1 ms to 1 h, then +Inf), safe to record into from any thread
 * without a lock. The core keeps it free of any metrics library; the service's {@code /metrics} endpoint exposes it
 * as a Prometheus classic histogram.
 */
public final class LatencyHistogram {
  private static final double[] UPPER_BOUNDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
      30, 60, 300, 900, 3600, Double.POSITIVE_INFINITY};

  private final LongAdder[] counts = new LongAdder[UPPER_BOUNDS.length];
  private final DoubleAdder sum = new DoubleAdder();

  LatencyHistogram() {
    for (int i = 0; i < counts.length; i++) counts[i] = new LongAdder();
  }

  /** Records one observation of {@code seconds} (a negative value counts as 0). */
  public void observe(double seconds) {
    double s = seconds < 0 || Double.isNaN(seconds) ? 0 : seconds;
    int i = 0;
    while (s > UPPER_BOUNDS[i]) i++; // the last bound is +Inf: always found
    counts[i].increment();
    sum.add(s);
  }

  /** The buckets' upper bounds in seconds, ascending, the last one +Inf (a copy). */
  public double[] upperBounds() {
    return UPPER_BOUNDS.clone();
  }

  /** How many observations fell in each bucket (not cumulative), in the order of {@link #upperBounds()}. */
  public long[] counts() {
    long[] c = new long[counts.length];
    for (int i = 0; i < c.length; i++) c[i] = counts[i].sum();
    return c;
  }

  /** The sum of all observations, in seconds. */
  public double sum() {
    return sum.sum();
  }
}
