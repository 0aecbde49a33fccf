package io.redisrouter.protocol;

import java.util.List;
import java.util.stream.Collectors;

/** Thrown where invalid input cannot be answered with a reply; carries the field errors. */
public final class ValidationException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;
  private final transient List<FieldError> errors;

  public ValidationException(List<FieldError> errors) {
    super(errors.stream().map(FieldError::message).collect(Collectors.joining("; ")));
    this.errors = List.copyOf(errors);
  }

  public List<FieldError> errors() {
    return errors;
  }
}
