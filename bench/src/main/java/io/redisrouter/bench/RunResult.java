package io.redisrouter.bench;

import org.HdrHistogram.Histogram;

/** The figures of one run. */
record RunResult(int messages, double seconds, Histogram latencyMicros, int maxConnections, long peakHeapBytes,
    int delivered, long duplicates, long republished, boolean timedOut) {

  double rate() {
    return seconds <= 0 ? 0 : delivered / seconds;
  }

  long lost() {
    return messages - delivered;
  }

  double p(double percentile) {
    return latencyMicros.getTotalCount() == 0
        ? Double.NaN
        : latencyMicros.getValueAtPercentile(percentile) / 1000.0;
  }
}
