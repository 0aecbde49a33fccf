package io.redisrouter.protocol;

import java.time.Instant;

/**
 * A message that could not be delivered, as stored in its channel's dead-letter stream.
 *
 * @param deadLetterId the entry id in the dead-letter stream
 * @param envelope     the message
 * @param subscription the subscription that gave up on it
 * @param reason       {@code expired}, {@code max-attempts}, {@code rejected} (the subscriber refused it) or
 *                     {@code corrupt} (the stream entry holds no decodable envelope: written by something else than
 *                     the router, or damaged; its raw bytes are kept as they were)
 * @param attempts     delivery attempts made
 * @param lastError    the last error seen, or a sentence saying why
 * @param at           when it was dead-lettered
 */
public record DeadLetter(String deadLetterId, Envelope envelope, String subscription, String reason, int attempts,
                         String lastError, Instant at) {

  public static final String EXPIRED = "expired";
  public static final String MAX_ATTEMPTS = "max-attempts";
  public static final String REJECTED = "rejected";
  /**
   * The stream entry could not be decoded into an envelope (no envelope field, or bytes that are not one); the
   * dead letter keeps the raw bytes, and delivery goes on with the next entries.
   */
  public static final String CORRUPT = "corrupt";
}
