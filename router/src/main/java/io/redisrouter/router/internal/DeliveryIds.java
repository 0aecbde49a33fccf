package io.redisrouter.router.internal;

import java.util.regex.Pattern;

/**
 * Delivery ids of reliable channels: the stream entry id and the attempt, {@code <entry>#<attempt>} (for example
 * {@code 1718000000000-0#2}). Every attempt of one message has the same entry.
 */
public final class DeliveryIds {
  private static final Pattern RELIABLE = Pattern.compile("\\d{1,20}-\\d{1,20}#\\d{1,10}");

  private DeliveryIds() {}

  /** The delivery id of {@code attempt} of the entry {@code entryId}. */
  public static String of(String entryId, int attempt) {
    return entryId + "#" + attempt;
  }

  /** The entry a delivery id names (the whole id when it has no attempt part). */
  public static String entry(String deliveryId) {
    int hash = deliveryId.lastIndexOf('#');
    return hash < 0 ? deliveryId : deliveryId.substring(0, hash);
  }

  /** Whether {@code id} has the form of a reliable channel's delivery id. */
  public static boolean isReliable(String id) {
    return RELIABLE.matcher(id).matches();
  }
}
