package io.redisrouter.protocol;

import java.util.Objects;

/**
 * One validation error: which field, a machine-readable code and a sentence that says what to do.
 *
 * @param field   the field's name as the user wrote it, e.g. {@code channel} or {@code headers.trace-id}
 * @param code    machine-readable, e.g. {@code invalid-channel}, {@code payload-too-large}
 * @param message a sentence naming the field and the fix
 */
public record FieldError(String field, String code, String message) {
  public FieldError {
    Objects.requireNonNull(field, "field");
    Objects.requireNonNull(code, "code");
    Objects.requireNonNull(message, "message");
  }
}
