package io.redisrouter.protocol;

import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * What a publisher hands to the router. The router turns it into an {@link Envelope}.
 *
 * @param channel      target channel
 * @param messageId    optional publisher-supplied id (idempotency key); duplicates within the dedup window are
 *                     accepted once. {@code null}: the router generates one
 * @param partitionKey optional, {@code null} when absent
 * @param payload      payload bytes
 * @param contentType  optional media type, {@code null} means {@code application/octet-stream}
 * @param headers      optional headers, {@code null} means none
 * @param timeToLive   optional time to live; {@code null} means the channel's default
 * @param deadline     optional absolute deadline; wins over {@code timeToLive} when both are given
 * @param producerId   optional id of the producer numbering its messages, for the loss audit of every
 *                     subscription (see {@link Validation#PRODUCER_ID_PATTERN}); given with {@code sequence} or not
 *                     at all
 * @param sequence     optional sequence number of this message within {@code producerId}'s messages: 0 or more,
 *                     one more for each message (gaps and repeats are what the audit counts)
 */
public record PublishRequest(
    String channel,
    String messageId,
    String partitionKey,
    byte[] payload,
    String contentType,
    Map<String, String> headers,
    Duration timeToLive,
    Instant deadline,
    String producerId,
    Long sequence) {

  public PublishRequest {
    headers = headers == null ? Map.of() : headers;
  }

  /** A request without producer id and sequence. */
  public PublishRequest(String channel, String messageId, String partitionKey, byte[] payload, String contentType,
      Map<String, String> headers, Duration timeToLive, Instant deadline) {
    this(channel, messageId, partitionKey, payload, contentType, headers, timeToLive, deadline, null, null);
  }

  /** A request with only a channel and a payload; every other field takes its default. */
  public static PublishRequest of(String channel, byte[] payload) {
    return new PublishRequest(channel, null, null, payload, null, null, null, null);
  }

  /**
   * This request numbered {@code seq} by producer {@code producer}: the router stores both with the message, and
   * every subscription's loss audit counts the gaps and repeats in each producer's sequence numbers.
   */
  public PublishRequest withSequence(String producer, long seq) {
    return new PublishRequest(channel, messageId, partitionKey, payload, contentType, headers, timeToLive, deadline,
        producer, seq);
  }

  public PublishRequest withMessageId(String id) {
    return new PublishRequest(channel, id, partitionKey, payload, contentType, headers, timeToLive, deadline,
        producerId, sequence);
  }

  public PublishRequest withPartitionKey(String key) {
    return new PublishRequest(channel, messageId, key, payload, contentType, headers, timeToLive, deadline, producerId,
        sequence);
  }

  public PublishRequest withContentType(String type) {
    return new PublishRequest(channel, messageId, partitionKey, payload, type, headers, timeToLive, deadline,
        producerId, sequence);
  }

  public PublishRequest withHeaders(Map<String, String> h) {
    return new PublishRequest(channel, messageId, partitionKey, payload, contentType, h, timeToLive, deadline,
        producerId, sequence);
  }

  public PublishRequest withTimeToLive(Duration ttl) {
    return new PublishRequest(channel, messageId, partitionKey, payload, contentType, headers, ttl, deadline,
        producerId, sequence);
  }

  public PublishRequest withDeadline(Instant d) {
    return new PublishRequest(channel, messageId, partitionKey, payload, contentType, headers, timeToLive, d,
        producerId, sequence);
  }

  @Override
  public boolean equals(Object o) {
    if (this == o) return true;
    if (!(o instanceof PublishRequest r)) return false;
    return Objects.equals(channel, r.channel) && Objects.equals(messageId, r.messageId)
        && Objects.equals(partitionKey, r.partitionKey) && Arrays.equals(payload, r.payload)
        && Objects.equals(contentType, r.contentType) && Objects.equals(headers, r.headers)
        && Objects.equals(timeToLive, r.timeToLive) && Objects.equals(deadline, r.deadline)
        && Objects.equals(producerId, r.producerId) && Objects.equals(sequence, r.sequence);
  }

  @Override
  public int hashCode() {
    return 31 * Objects.hash(channel, messageId, partitionKey, contentType, headers, timeToLive, deadline,
        producerId, sequence)
        + Arrays.hashCode(payload);
  }

  @Override
  public String toString() {
    return "PublishRequest[channel=" + channel + ", messageId=" + messageId + ", payload="
        + (payload == null ? "null" : payload.length + " bytes") + ", ttl=" + timeToLive + ", deadline=" + deadline
        + (producerId == null && sequence == null ? "" : ", producerId=" + producerId + ", sequence=" + sequence) + "]";
  }
}
