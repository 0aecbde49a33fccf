package io.redisrouter.bench;

import java.util.concurrent.CompletionStage;

/**
 * One system under test: a producer side ({@link #publish}) and a consumer side that reports every delivery to the
 * tracker given to {@link #start}. One instance per run.
 */
interface Scenario extends AutoCloseable {

  /** Starts the consumers (they feed {@code tracker}) and whatever the publish side needs. */
  void start(BenchRedis redis, Tracker tracker, String key) throws Exception;

  /**
   * Publishes one payload; the stage completes when the system accepted it (at-least-once systems: once Redis has
   * it) and fails when it was refused (the driver publishes it again).
   */
  CompletionStage<?> publish(byte[] payload);

  /** Publishes outstanding at most (the producer's pipeline window). */
  default int window() {
    return 1024;
  }

  /** Pushes buffered publishes out (pipelines, batches); called when the window is full and at the end. */
  default void flush() {}

  /** Something happening mid-run (the subscriber restart variant); called once, at half the messages. */
  default void midway() throws Exception {}

  @Override
  void close() throws Exception;
}
