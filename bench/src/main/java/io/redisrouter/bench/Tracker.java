package io.redisrouter.bench;

import org.HdrHistogram.Histogram;

import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.concurrent.CompletableFuture;

/**
 * What a consumer received: each payload starts with its sequence number and the nanoTime it was meant to be sent
 * at; the tracker counts distinct and duplicate deliveries and records the latency from the intended send time
 * (so a stalled producer does not hide queueing: no coordinated omission). Thread-safe.
 */
final class Tracker {
  private final int expected;
  private final BitSet seen;
  private final Histogram latencyMicros = new Histogram(3_600_000_000L, 3);
  private final CompletableFuture<Long> complete = new CompletableFuture<>();
  private int distinct;
  private long duplicates;
  private long lastDeliveryNanos;

  Tracker(int expected) {
    this.expected = expected;
    this.seen = new BitSet(expected);
  }

  static byte[] payload(int size, long seq, long intendedNanos) {
    byte[] b = new byte[Math.max(size, 16)];
    ByteBuffer.wrap(b).putLong(seq).putLong(intendedNanos);
    for (int i = 16; i < b.length; i++) b[i] = (byte) ('a' + (i % 26));
    return b;
  }

  static long seqOf(byte[] payload) {
    return ByteBuffer.wrap(payload).getLong(0);
  }

  /** Records one delivery of {@code payload}. */
  void delivered(byte[] payload) {
    long now = System.nanoTime();
    ByteBuffer bb = ByteBuffer.wrap(payload);
    int seq = (int) bb.getLong(0);
    long intended = bb.getLong(8);
    synchronized (this) {
      if (seq < 0 || seq >= expected) return;
      if (seen.get(seq)) {
        duplicates++;
        return;
      }
      seen.set(seq);
      distinct++;
      latencyMicros.recordValue(Math.max(0, Math.min((now - intended) / 1000, 3_600_000_000L)));
      lastDeliveryNanos = now;
      if (distinct == expected) complete.complete(now);
    }
  }

  CompletableFuture<Long> complete() {
    return complete;
  }

  synchronized int distinct() {
    return distinct;
  }

  synchronized long duplicates() {
    return duplicates;
  }

  synchronized long lastDeliveryNanos() {
    return lastDeliveryNanos;
  }

  synchronized Histogram latency() {
    return latencyMicros.copy();
  }

  int expected() {
    return expected;
  }
}
