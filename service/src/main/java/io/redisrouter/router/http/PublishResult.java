package io.redisrouter.router.http;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;

import java.util.List;

/**
 * The outcome of one publish as the API shows it (the single-message body, and each entry of a batch's
 * {@code results}): {@code status} and {@code messageId}; when accepted {@code streamId}, {@code duplicate} and, for
 * until-received broadcasts, {@code receivers} and {@code attempts}; else {@code code}, {@code message}, field
 * {@code errors} and {@code retryAfterMs}. Absent fields are left out.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record PublishResult(int status, String messageId, String streamId, Boolean duplicate, Long receivers,
    Integer attempts, String code, String message, List<FieldError> errors,
    Long retryAfterMs, String deadLetterId) {

  static PublishResult of(PublishReply reply) {
    int status = statusOf(reply).intValue();
    if (reply instanceof PublishReply.Accepted a) {
      boolean counted = a.receivers() >= 0;
      return new PublishResult(status, a.messageId(), a.streamId(), a.duplicate(), counted ? a.receivers() : null,
          counted ? a.attempts() : null, null, null, null, null, null);
    }
    if (reply instanceof PublishReply.Rejected r) {
      return new PublishResult(status, r.messageId(), null, null, null, null, r.reason().code(), r.message(),
          r.errors().isEmpty() ? null : r.errors(), r.retryAfter().isZero() ? null : r.retryAfter().toMillis(),
          null);
    }
    PublishReply.Expired e = (PublishReply.Expired) reply;
    return new PublishResult(status, e.messageId(), null, null, null, e.attempts(), "expired", e.message(), null,
        null, null);
  }

  /** This result, for the dead letter {@code id} a replay published. */
  PublishResult forDeadLetter(String id) {
    return new PublishResult(status, messageId, streamId, duplicate, receivers, attempts, code, message, errors,
        retryAfterMs, id);
  }

  static StatusCode statusOf(PublishReply reply) {
    if (reply instanceof PublishReply.Accepted) return StatusCodes.ACCEPTED;
    if (reply instanceof PublishReply.Expired) return StatusCodes.GATEWAY_TIMEOUT;
    PublishReply.Rejected r = (PublishReply.Rejected) reply;
    return switch (r.reason()) {
      case OVERLOADED -> StatusCodes.TOO_MANY_REQUESTS;
      case UNAVAILABLE, NOT_REPLICATED, SHUTTING_DOWN -> StatusCodes.SERVICE_UNAVAILABLE;
      // 507: the store is full (not down): a client tells it from 503, and its 5xx retry still applies
      case REDIS_FULL -> StatusCodes.INSUFFICIENT_STORAGE;
      case INVALID -> r.errors().stream().anyMatch(e -> e.code().equals("payload-too-large"))
          ? StatusCodes.PAYLOAD_TOO_LARGE
          : StatusCodes.BAD_REQUEST;
    };
  }
}
