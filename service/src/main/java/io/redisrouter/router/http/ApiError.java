package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;

import java.util.List;

/**
 * The body of every error response: a machine-readable {@code code}, a sentence for humans, and field errors
 * where the request was invalid.
 */
public record ApiError(String code, String message, List<FieldError> errors) {
  public ApiError {
    errors = errors == null ? List.of() : List.copyOf(errors);
  }

  public static ApiError of(String code, String message) {
    return new ApiError(code, message, List.of());
  }
}
