package io.redisrouter.protocol;

/**
 * Marks a message that may cross from one router node to another in cluster mode: such messages are serialized
 * with Jackson (CBOR, {@code pekko-serialization-jackson}), and they are the only ones that are, besides {@link Delivery}
 * and {@link DeliveryAck} (an embedded subscription's owner delivers to subscribers on other nodes). Java serialization
 * is off, so any other class sent to another node is refused (the sender logs the
 * serialization failure and drops the message). A class that implements this must be a record or a plain class
 * Jackson can read and write, with no references to local state.
 */
public interface ClusterMessage {}
