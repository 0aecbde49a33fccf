package io.redisrouter.router;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class LatencyHistogramTest {
  @Test
  void eachObservationLandsInTheFirstBucketWhoseBoundIsAtLeastIt() {
    LatencyHistogram h = new LatencyHistogram();
    h.observe(0.001); // on a bound: that bucket (le = 0.001)
    h.observe(0.0011); // just above: the next one
    h.observe(-3); // another node's clock ahead: counted as 0
    h.observe(7200); // beyond the last finite bound (1 h): +Inf
    double[] bounds = h.upperBounds();
    long[] counts = h.counts();
    assertEquals(bounds.length, counts.length);
    assertEquals(Double.POSITIVE_INFINITY, bounds[bounds.length - 1]);
    long[] expected = new long[counts.length];
    expected[0] = 2; // 0.001 and the negative one
    expected[1] = 1; // 0.0011 <= 0.0025
    expected[counts.length - 1] = 1;
    assertArrayEquals(expected, counts);
    assertEquals(0.001 + 0.0011 + 7200, h.sum(), 1e-9);
  }
}
