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
public record DeadLetter(String deadLetterId, Envelope envelope, String subscription, Reason reason, int attempts,
    String lastError, Instant at) {

  /** Why a message was dead-lettered; {@link #code()} is what Redis stores and the HTTP API shows. */
  public enum Reason {
    /** Its deadline passed before a subscriber acked it. */
    EXPIRED("expired"),
    /** It was attempted {@code max-attempts} times without an ack. */
    MAX_ATTEMPTS("max-attempts"),
    /** A subscriber refused it (a nack with do-not-retry, a webhook's 4xx). */
    REJECTED("rejected"),
    /**
     * The stream entry could not be decoded into an envelope (no envelope field, or bytes that are not one); the
     * dead letter keeps the raw bytes, and delivery goes on with the next entries.
     */
    CORRUPT("corrupt");

    private final String code;

    Reason(String code) {
      this.code = code;
    }

    public String code() {
      return code;
    }

    /** The reason a stored code names, or null for a code this version does not know. */
    public static Reason of(String code) {
      for (Reason r : values()) {
        if (r.code.equals(code)) return r;
      }
      return null;
    }
  }

  public static final Reason EXPIRED = Reason.EXPIRED;
  public static final Reason MAX_ATTEMPTS = Reason.MAX_ATTEMPTS;
  public static final Reason REJECTED = Reason.REJECTED;
  public static final Reason CORRUPT = Reason.CORRUPT;
}
