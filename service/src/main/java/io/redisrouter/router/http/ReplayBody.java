package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The optional body of a dead-letter replay: {@code ttl} (the replayed message's time-to-live; the channel's when
 * left out) and, for replay-all, {@code max} (how many to replay at most).
 */
public record ReplayBody(String ttl, Integer max) {
  static final int DEFAULT_MAX = 10_000;
  static final int MAX_MAX = 100_000;

  static final String EXAMPLE = "{\"ttl\": \"30s\"} or nothing";

  static final JsonBodies.Spec<ReplayBody> SPEC = new JsonBodies.Spec<>(ReplayBody.class, EXAMPLE,
      () -> new ReplayBody(null, null), ReplayBody::wrongType);

  private static FieldError wrongType(String path) {
    return switch (path) {
      case "ttl" -> invalidTtl("(not a string)");
      case "max" -> invalidMax();
      default -> new FieldError("body", "invalid", "the body must be a JSON object like {\"ttl\": \"30s\"}");
    };
  }

  /** The checks of the fields; {@code all} for replay-all (which alone takes {@code max}). */
  List<FieldError> validate(boolean all, List<FieldError> unknown) {
    List<FieldError> errors = new ArrayList<>(unknown);
    if (!all && max != null) {
      errors.add(new FieldError("max", "unknown-field", "'max' is not a known field: use [ttl]"));
    }
    if (ttl != null) {
      Duration d = Durations.parse(ttl);
      if (d == null || d.isNegative() || d.isZero()) errors.add(invalidTtl("'" + RouteSupport.shorten(ttl) + "'"));
    }
    if (all && max != null && (max < 1 || max > MAX_MAX)) errors.add(invalidMax());
    return errors;
  }

  Duration timeToLive() {
    return ttl == null ? null : Durations.parse(ttl);
  }

  int maxOrDefault() {
    return max == null ? DEFAULT_MAX : max;
  }

  private static FieldError invalidTtl(String value) {
    return new FieldError("ttl", "invalid-ttl", "ttl " + value + " is invalid: use a positive duration like \"30s\","
        + " \"500ms\", \"5m\" or ISO-8601 \"PT30S\"; leave it out for the channel's time-to-live");
  }

  private static FieldError invalidMax() {
    return new FieldError("max", "invalid-max", "max must be 1-" + MAX_MAX + " (default " + DEFAULT_MAX + ")");
  }
}
