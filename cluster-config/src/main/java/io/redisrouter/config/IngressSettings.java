package io.redisrouter.config;

/**
 * How publishes enter the router ({@code redis-router.ingress}).
 *
 * @param queueSize          publishes buffered before new ones are refused; at least 1
 * @param batchSize          publishes written to Redis in one pipeline; at least 1
 * @param maxBatchesInFlight pipelines outstanding at once; at least 1
 * @param untilReceivedMax   {@code until-received} broadcast messages waiting for a receiver at once (republished
 *                           with backoff); beyond it such publishes are refused {@code overloaded}; at least 1
 */
public record IngressSettings(int queueSize, int batchSize, int maxBatchesInFlight, int untilReceivedMax) {

  /** The default bound of until-received broadcasts waiting for a receiver. */
  public static final int DEFAULT_UNTIL_RECEIVED_MAX = 10_000;

  public IngressSettings(int queueSize, int batchSize, int maxBatchesInFlight) {
    this(queueSize, batchSize, maxBatchesInFlight, DEFAULT_UNTIL_RECEIVED_MAX);
  }
}
