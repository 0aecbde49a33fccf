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
 */
public record PublishRequest(
    String channel,
    String messageId,
    String partitionKey,
    byte[] payload,
    String contentType,
    Map<String, String> headers,
    Duration timeToLive,
    Instant deadline) {

  public PublishRequest {
    headers = headers == null ? Map.of() : headers;
  }

  /** A request with only a channel and a payload; every other field takes its default. */
  public static PublishRequest of(String channel, byte[] payload) {
    return new PublishRequest(channel, null, null, payload, null, null, null, null);
  }

  public PublishRequest withMessageId(String id) {
    return new PublishRequest(channel, id, partitionKey, payload, contentType, headers, timeToLive, deadline);
  }

  public PublishRequest withPartitionKey(String key) {
    return new PublishRequest(channel, messageId, key, payload, contentType, headers, timeToLive, deadline);
  }

  public PublishRequest withContentType(String type) {
    return new PublishRequest(channel, messageId, partitionKey, payload, type, headers, timeToLive, deadline);
  }

  public PublishRequest withHeaders(Map<String, String> h) {
    return new PublishRequest(channel, messageId, partitionKey, payload, contentType, h, timeToLive, deadline);
  }

  public PublishRequest withTimeToLive(Duration ttl) {
    return new PublishRequest(channel, messageId, partitionKey, payload, contentType, headers, ttl, deadline);
  }

  public PublishRequest withDeadline(Instant d) {
    return new PublishRequest(channel, messageId, partitionKey, payload, contentType, headers, timeToLive, d);
  }

  @Override
  public boolean equals(Object o) {
    if (this == o) return true;
    if (!(o instanceof PublishRequest r)) return false;
    return Objects.equals(channel, r.channel) && Objects.equals(messageId, r.messageId)
        && Objects.equals(partitionKey, r.partitionKey) && Arrays.equals(payload, r.payload)
        && Objects.equals(contentType, r.contentType) && Objects.equals(headers, r.headers)
        && Objects.equals(timeToLive, r.timeToLive) && Objects.equals(deadline, r.deadline);
  }

  @Override
  public int hashCode() {
    return 31 * Objects.hash(channel, messageId, partitionKey, contentType, headers, timeToLive, deadline)
        + Arrays.hashCode(payload);
  }

  @Override
  public String toString() {
    return "PublishRequest[channel=" + channel + ", messageId=" + messageId + ", payload="
        + (payload == null ? "null" : payload.length + " bytes") + ", ttl=" + timeToLive + ", deadline=" + deadline
        + "]";
  }
}
