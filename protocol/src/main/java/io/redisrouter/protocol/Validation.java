package io.redisrouter.protocol;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** Checks of user input. Every error names the field and says how to fix it. */
public final class Validation {

  /** Channel and subscription names: 1-128 of [A-Za-z0-9._:-]; no glob characters, no spaces. */
  public static final Pattern CHANNEL_PATTERN = Pattern.compile("[A-Za-z0-9._:-]{1,128}");
  /** Message ids (idempotency keys): 1-128 printable ASCII characters without spaces. */
  public static final Pattern MESSAGE_ID_PATTERN = Pattern.compile("[\\x21-\\x7E]{1,128}");
  /** Header names: 1-64 of [A-Za-z0-9._-]. */
  public static final Pattern HEADER_NAME_PATTERN = Pattern.compile("[A-Za-z0-9._-]{1,64}");
  /** Producer ids (of the loss audit): 1-64 of [A-Za-z0-9._:-]. */
  public static final Pattern PRODUCER_ID_PATTERN = Pattern.compile("[A-Za-z0-9._:-]{1,64}");
  /** Content types: 1-255 printable ASCII characters (spaces allowed: "text/plain; charset=utf-8"). */
  public static final Pattern CONTENT_TYPE_PATTERN = Pattern.compile("[\\x20-\\x7E]{1,255}");
  /** Partition keys: 1-256 characters. */
  public static final int MAX_PARTITION_KEY_LENGTH = 256;
  /**
   * The longest time to live a message may have, and so the latest deadline (now plus this): 365 days. A message
   * that must wait longer belongs in a database, not in a router; the cap also keeps every deadline within what
   * {@link Instant} and the timers can hold.
   */
  public static final Duration MAX_TIME_TO_LIVE = Duration.ofDays(365);

  private Validation() {}

  /** The error for a bad channel name in {@code field}, or {@code null} when the name is valid. */
  public static FieldError checkName(String field, String name) {
    if (name == null || name.isEmpty()) {
      return new FieldError(field, "required", field + " is missing: give 1-128 of [A-Za-z0-9._:-]");
    }
    if (!CHANNEL_PATTERN.matcher(name).matches()) {
      String shown = name.length() > 40 ? name.substring(0, 40) + "..." : name;
      String why = name.length() > 128
          ? " (" + name.length() + " characters, at most 128)"
          : containsGlob(name) ? " (glob characters * ? [ ] are not allowed)" : "";
      return new FieldError(field, "invalid-name",
          field + " '" + shown + "' is invalid" + why + ": use 1-128 of [A-Za-z0-9._:-]");
    }
    return null;
  }

  /** Throws {@link ValidationException} when {@code name} is not a valid channel or subscription name. */
  public static String requireName(String field, String name) {
    FieldError e = checkName(field, name);
    if (e != null) throw new ValidationException(List.of(e));
    return name;
  }

  private static boolean containsGlob(String s) {
    return s.indexOf('*') >= 0 || s.indexOf('?') >= 0 || s.indexOf('[') >= 0 || s.indexOf(']') >= 0;
  }

  /**
   * All errors of a publish request; empty when it is valid.
   *
   * @param now the current time, to check that an absolute deadline is not already past
   */
  public static List<FieldError> checkPublish(PublishRequest r, Limits limits, Instant now) {
    List<FieldError> errors = new ArrayList<>(2);
    FieldError ch = checkName("channel", r.channel());
    if (ch != null) errors.add(ch);
    if (r.messageId() != null && !MESSAGE_ID_PATTERN.matcher(r.messageId()).matches()) {
      errors.add(new FieldError("messageId", "invalid-message-id",
          "messageId is invalid: use 1-128 printable ASCII characters without spaces, or leave it out"));
    }
    if (r.partitionKey() != null
        && (r.partitionKey().isEmpty() || r.partitionKey().length() > MAX_PARTITION_KEY_LENGTH)) {
      errors.add(new FieldError("partitionKey", "invalid-partition-key",
          "partitionKey must be 1-" + MAX_PARTITION_KEY_LENGTH + " characters long, or left out"));
    }
    if (r.contentType() != null
        && (r.contentType().isBlank() || !CONTENT_TYPE_PATTERN.matcher(r.contentType()).matches())) {
      errors.add(new FieldError("contentType", "invalid-content-type",
          "contentType is invalid: use a media type of 1-255 printable ASCII characters like application/json,"
              + " or leave it out"));
    }
    if (r.payload() == null) {
      errors.add(new FieldError("payload", "required", "payload is missing: send the message bytes (may be empty)"));
    } else if (r.payload().length > limits.maxPayloadBytes()) {
      errors.add(new FieldError("payload", "payload-too-large",
          "payload is " + r.payload().length + " bytes, over the limit of " + limits.maxPayloadBytes()
              + " bytes: send a smaller payload or raise redis-router.limits.max-payload-bytes"));
    }
    Map<String, String> headers = r.headers();
    if (headers.size() > limits.maxHeaders()) {
      errors.add(new FieldError("headers", "too-many-headers",
          "headers has " + headers.size() + " entries, at most " + limits.maxHeaders()
              + " are allowed: drop some or raise redis-router.limits.max-headers"));
    }
    long headerBytes = 0;
    for (Map.Entry<String, String> h : headers.entrySet()) {
      String name = h.getKey();
      if (name == null || !HEADER_NAME_PATTERN.matcher(name).matches()) {
        errors.add(new FieldError("headers", "invalid-header-name",
            "header name '" + (name != null && name.length() > 40 ? name.substring(0, 40) + "..." : name)
                + "' is invalid: use 1-64 of [A-Za-z0-9._-]"));
        continue;
      }
      if (h.getValue() == null) {
        errors.add(new FieldError("headers." + name, "invalid-header-value",
            "header '" + name + "' has no value: give a string (may be empty) or drop the header"));
        continue;
      }
      headerBytes += name.getBytes(StandardCharsets.UTF_8).length
          + h.getValue().getBytes(StandardCharsets.UTF_8).length;
    }
    if (headerBytes > limits.maxHeaderBytes()) {
      errors.add(new FieldError("headers", "headers-too-large",
          "headers take " + headerBytes + " bytes, over the limit of " + limits.maxHeaderBytes()
              + " bytes: shorten them or raise redis-router.limits.max-header-bytes"));
    }
    checkSequence(r.producerId(), r.sequence(), errors);
    Duration ttl = r.timeToLive();
    if (ttl != null && (ttl.isNegative() || ttl.isZero())) {
      errors.add(new FieldError("timeToLive", "invalid-ttl",
          "timeToLive must be positive, e.g. 30s; leave it out for the channel's default"));
    } else if (ttl != null && ttl.compareTo(MAX_TIME_TO_LIVE) > 0) {
      errors.add(new FieldError("timeToLive", "ttl-too-long",
          "timeToLive " + describe(ttl) + " is over the maximum of " + MAX_TIME_TO_LIVE.toDays()
              + " days: give at most 365d"));
    }
    if (r.deadline() != null && !r.deadline().isAfter(now)) {
      errors.add(new FieldError("deadline", "deadline-past",
          "deadline " + r.deadline() + " is already past (now " + now + "): give a future instant or a timeToLive"));
    } else if (r.deadline() != null && r.deadline().isAfter(now.plus(MAX_TIME_TO_LIVE))) {
      errors.add(new FieldError("deadline", "deadline-too-far",
          "deadline " + r.deadline() + " is more than the maximum of " + MAX_TIME_TO_LIVE.toDays()
              + " days ahead (now " + now + "): give an instant within 365 days"));
    }
    return errors;
  }

  /**
   * Adds the errors of a producer id and sequence number to {@code errors}: both or neither, the id 1-64 of
   * [A-Za-z0-9._:-], the sequence 0 or more.
   */
  public static void checkSequence(String producerId, Long sequence, List<FieldError> errors) {
    if (producerId == null && sequence == null) return;
    if (producerId == null) {
      errors.add(new FieldError("producerId", "required", "producerId is missing: a sequence is counted per"
          + " producer, so give producerId (1-64 of [A-Za-z0-9._:-]) with sequence, or neither"));
    } else if (!PRODUCER_ID_PATTERN.matcher(producerId).matches()) {
      String shown = producerId.length() > 40 ? producerId.substring(0, 40) + "..." : producerId;
      errors.add(new FieldError("producerId", "invalid-producer-id", "producerId '" + shown + "' is invalid"
          + (producerId.length() > 64 ? " (" + producerId.length() + " characters, at most 64)" : "")
          + ": use 1-64 of [A-Za-z0-9._:-]"));
    }
    if (sequence == null) {
      errors.add(new FieldError("sequence", "required", "sequence is missing: give the message's sequence number"
          + " (an integer from 0 to " + Long.MAX_VALUE + ") with producerId, or neither"));
    } else if (sequence < 0) {
      errors.add(new FieldError("sequence", "invalid-sequence", "sequence " + sequence + " is negative: give an"
          + " integer from 0 to " + Long.MAX_VALUE));
    }
  }

  /** A duration for a message: whole days when it has some, else ISO-8601. */
  private static String describe(Duration d) {
    return d.toDays() > 0 ? d.toDays() + " days" : d.toString();
  }
}
