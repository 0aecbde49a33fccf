package io.redisrouter.protocol;

import org.apache.pekko.actor.typed.ActorRef;

import java.util.Objects;

/**
 * One delivery attempt of a message to a subscriber. Reliable deliveries must be answered with
 * {@link DeliveryAck.Ack} or {@link DeliveryAck.Nack} to {@link #replyTo()} within the channel's ack timeout,
 * quoting {@link #deliveryId()}; an answer to an older attempt is ignored. Broadcast deliveries are never retried,
 * but answering them paces them too: a subscriber holds at most its channel's {@code broadcast-window} of them
 * unanswered (an answer, the deadline or the ack timeout frees a place), and a message beyond is dropped and counted.
 *
 * @param envelope     the message, with {@link Envelope#attempt()} set to this attempt
 * @param subscription the subscription this delivery belongs to
 * @param deliveryId   identifies this attempt; quote it in the ack or nack
 * @param ackRequired  false for broadcast channels (at-most-once: nothing is retried; an answer only paces them)
 * @param replyTo      where the ack or nack goes
 */
public record Delivery(Envelope envelope, String subscription, String deliveryId, boolean ackRequired,
    ActorRef<DeliveryAck> replyTo) {
  public Delivery {
    Objects.requireNonNull(envelope, "envelope");
    Objects.requireNonNull(deliveryId, "deliveryId");
    Objects.requireNonNull(replyTo, "replyTo");
  }

  /** The acknowledgement for this delivery. */
  public DeliveryAck.Ack ack() {
    return new DeliveryAck.Ack(deliveryId);
  }

  /** A negative acknowledgement: retried with backoff unless {@code doNotRetry}. */
  public DeliveryAck.Nack nack(String error, boolean doNotRetry) {
    return new DeliveryAck.Nack(deliveryId, error, doNotRetry);
  }
}
