package io.redisrouter.protocol;

import java.util.List;

/** A page of dead letters; {@code nextAfterId} is {@code null} when there are no more. */
public record DeadLetterPage(String channel, List<DeadLetter> items, String nextAfterId, String error) {
  public DeadLetterPage {
    items = items == null ? List.of() : List.copyOf(items);
  }
}
