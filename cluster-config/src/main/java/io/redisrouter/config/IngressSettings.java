package io.redisrouter.config;

/**
 * How publishes enter the router ({@code redis-router.ingress}).
 *
 * @param queueSize          publishes buffered before new ones are refused; at least 1
 * @param batchSize          publishes written to Redis in one pipeline; at least 1
 * @param maxBatchesInFlight pipelines outstanding at once; at least 1
 */
public record IngressSettings(int queueSize, int batchSize, int maxBatchesInFlight) {}
