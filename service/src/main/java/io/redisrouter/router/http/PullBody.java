package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The optional body of a pull: {@code maxMessages} and {@code waitMs} (the longest wait for a first message). */
public record PullBody(Integer maxMessages, Long waitMs) {
  static final int DEFAULT_COUNT = 10;
  static final Duration DEFAULT_WAIT = Duration.ofSeconds(1);

  /** How a pull body is read: every field checked against {@code settings}' bounds. */
  static JsonBodies.Spec<PullBody> spec(HttpSettings settings) {
    return new JsonBodies.Spec<>(PullBody.class, "{\"maxMessages\": 10, \"waitMs\": 1000} or nothing",
        () -> new PullBody(null, null), path -> switch (path) {
          case "maxMessages" -> countOutOfRange(settings);
          case "waitMs" -> waitOutOfRange(settings);
          default -> new FieldError("", "invalid", "the body must be a JSON object like {\"maxMessages\": 10}");
        });
  }

  List<FieldError> validate(HttpSettings settings, List<FieldError> unknown) {
    List<FieldError> errors = new ArrayList<>(unknown);
    if (maxMessages != null && (maxMessages < 1 || maxMessages > settings.maxPullCount())) {
      errors.add(countOutOfRange(settings));
    }
    if (waitMs != null && (waitMs < 0 || waitMs > settings.maxPullWait().toMillis())) {
      errors.add(waitOutOfRange(settings));
    }
    return errors;
  }

  int count(HttpSettings settings) {
    return maxMessages != null ? maxMessages : Math.min(DEFAULT_COUNT, settings.maxPullCount());
  }

  Duration waitFor(HttpSettings settings) {
    if (waitMs != null) return Duration.ofMillis(waitMs);
    return DEFAULT_WAIT.compareTo(settings.maxPullWait()) < 0 ? DEFAULT_WAIT : settings.maxPullWait();
  }

  private static FieldError countOutOfRange(HttpSettings settings) {
    return new FieldError("maxMessages", "out-of-range", "maxMessages must be 1-" + settings.maxPullCount()
        + " (redis-router.http.max-pull-count)");
  }

  private static FieldError waitOutOfRange(HttpSettings settings) {
    return new FieldError("waitMs", "out-of-range", "waitMs must be 0-" + settings.maxPullWait().toMillis()
        + " (redis-router.http.max-pull-wait)");
  }
}
