package io.redisrouter.protocol;

import java.time.Instant;

/**
 * A message that could not be delivered, as stored in its channel's dead-letter stream.
 *
 * @param deadLetterId the entry id in the dead-letter stream
 * @param envelope     the message
 * @param subscription the subscription that gave up on it
 * @param reason       {@code expired}, {@code max-attempts} or {@code rejected}
 * @param attempts     delivery attempts made
 * @param lastError    the last error seen, or a sentence saying why
 * @param at           when it was dead-lettered
 */
public record DeadLetter(String deadLetterId, Envelope envelope, String subscription, String reason, int attempts,
                         String lastError, Instant at) {

  public static final String EXPIRED = "expired";
  public static final String MAX_ATTEMPTS = "max-attempts";
  public static final String REJECTED = "rejected";
}
