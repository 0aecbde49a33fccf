package io.redisrouter.router.consume;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.EnvelopeCodec;

import java.io.IOException;
import java.time.Instant;

/**
 * One delivery as the HTTP API shows it, the same shape for pull, server-sent events and webhooks:
 * {@code deliveryId} (quote it in the ack or nack), {@code subscription}, {@code attempt}, {@code ackDeadline} (pull
 * and events), and the message's fields ({@link MessageView}, with its payload) beside them.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record DeliveryView(String deliveryId, String subscription, int attempt, String ackDeadline,
    @JsonUnwrapped MessageView message) {

  public static DeliveryView of(Delivery d, Instant ackDeadline) {
    return new DeliveryView(d.deliveryId(), d.subscription(), d.envelope().attempt(),
        ackDeadline == null ? null : ackDeadline.toString(), MessageView.of(d.envelope(), true));
  }

  public static byte[] toBytes(Delivery d, Instant ackDeadline) {
    try {
      return EnvelopeCodec.mapper().writeValueAsBytes(of(d, ackDeadline));
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode delivery " + d.deliveryId(), e);
    }
  }

  /** A webhook batch: the deliveries' JSON (without ackDeadline) in an array, in the order given. */
  public static byte[] toBytes(java.util.List<Delivery> batch) {
    java.util.List<DeliveryView> views = new java.util.ArrayList<>(batch.size());
    for (Delivery d : batch) views.add(of(d, null));
    try {
      return EnvelopeCodec.mapper().writeValueAsBytes(views);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode a batch of " + batch.size() + " deliveries", e);
    }
  }
}
