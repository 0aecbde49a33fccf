package io.redisrouter.router.consume;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.EnvelopeCodec;

import java.io.IOException;
import java.time.Instant;

/**
 * One delivery as JSON, the same shape for pull, server-sent events and webhooks: {@code deliveryId} (quote it in the
 * ack or nack), {@code subscription}, {@code attempt}, {@code ackDeadline}, and the message ({@code messageId},
 * {@code channel}, {@code partitionKey}, {@code contentType}, {@code headers}, {@code publishedAt}, {@code deadline},
 * {@code payloadSize}, {@code payload} for JSON and text content, {@code payloadBase64} always).
 */
public final class DeliveryJson {
  private DeliveryJson() {}

  public static ObjectNode toJson(Delivery d, Instant ackDeadline) {
    ObjectNode n = EnvelopeCodec.mapper().createObjectNode();
    n.put("deliveryId", d.deliveryId());
    n.put("subscription", d.subscription());
    n.put("attempt", d.envelope().attempt());
    if (ackDeadline != null) n.put("ackDeadline", ackDeadline.toString());
    n.setAll(EnvelopeJson.of(d.envelope(), true));
    return n;
  }

  public static byte[] toBytes(Delivery d, Instant ackDeadline) {
    try {
      return EnvelopeCodec.mapper().writeValueAsBytes(toJson(d, ackDeadline));
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode delivery " + d.deliveryId(), e);
    }
  }
}
