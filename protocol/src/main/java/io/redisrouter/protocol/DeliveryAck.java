package io.redisrouter.protocol;

/** A subscriber's answer to a {@link Delivery}. */
public sealed interface DeliveryAck {

  String deliveryId();

  /** Processed: the router acknowledges the message in Redis (XACK). */
  record Ack(String deliveryId) implements DeliveryAck {}

  /**
   * Not processed. Retried with backoff until the deadline or the attempt limit, unless {@code doNotRetry}, in
   * which case it goes straight to the dead-letter stream with reason {@code rejected}.
   */
  record Nack(String deliveryId, String error, boolean doNotRetry) implements DeliveryAck {}
}
