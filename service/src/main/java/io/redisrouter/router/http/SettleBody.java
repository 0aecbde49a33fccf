package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;

import java.util.ArrayList;
import java.util.List;

/**
 * The body of an ack ({@code deliveryIds}) or a nack ({@code deliveryIds}, optional {@code error}, the reason
 * recorded, and {@code doNotRetry}, to dead-letter at once).
 */
public final class SettleBody {
  private SettleBody() {}

  /** Most delivery ids one ack or nack may name. */
  static final int MAX_IDS = 10_000;
  private static final String EXAMPLE = "{\"deliveryIds\": [\"...\"]}";

  /** {@code POST .../ack}. */
  public record Ack(List<String> deliveryIds) {}

  /** {@code POST .../nack}. */
  public record Nack(List<String> deliveryIds, String error, Boolean doNotRetry) {}

  static final JsonBodies.Spec<Ack> ACK = new JsonBodies.Spec<>(Ack.class, EXAMPLE, null, SettleBody::wrongType);
  static final JsonBodies.Spec<Nack> NACK = new JsonBodies.Spec<>(Nack.class, EXAMPLE, null, SettleBody::wrongType);

  private static FieldError wrongType(String path) {
    if (path.startsWith("deliveryIds[")) {
      return new FieldError("deliveryIds", "invalid", "every deliveryId must be a non-empty string as the pull or"
          + " event gave it");
    }
    return switch (path) {
      case "doNotRetry" -> new FieldError("doNotRetry", "invalid", "doNotRetry must be true or false");
      case "error" -> new FieldError("error", "invalid", "error must be a string");
      default -> required();
    };
  }

  private static FieldError required() {
    return new FieldError("deliveryIds", "required", "deliveryIds must be a non-empty array of the deliveryId"
        + " values the pull or event gave");
  }

  /** The field errors of the ids (and of a nack's error). */
  static List<FieldError> validate(List<String> ids, String error, List<FieldError> unknown) {
    List<FieldError> errors = new ArrayList<>(unknown);
    if (ids == null || ids.isEmpty()) {
      errors.add(required());
    } else if (ids.size() > MAX_IDS) {
      errors.add(new FieldError("deliveryIds", "too-many", "at most " + MAX_IDS + " deliveryIds per call"));
    } else if (ids.stream().anyMatch(id -> id == null || id.isEmpty() || id.length() > 128)) {
      errors.add(wrongType("deliveryIds[0]"));
    }
    if (error != null && error.length() > 1024) {
      errors.add(new FieldError("error", "too-long", "error must be at most 1024 characters"));
    }
    return errors;
  }
}
