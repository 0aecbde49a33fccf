package io.redisrouter.protocol;

import java.util.List;

/** The router's answer to {@link RouterCommand.Subscribe} and {@link RouterCommand.Unsubscribe}. */
public sealed interface SubscribeReply {

  /** The subscriber is registered; deliveries follow. */
  record Subscribed(String channel, String subscription, ChannelMode mode) implements SubscribeReply {}

  /** The subscriber was removed. */
  record Unsubscribed(String channel, String subscription) implements SubscribeReply {}

  /** The request was refused; nothing changed. */
  record SubscribeFailed(String channel, String subscription, String message, List<FieldError> errors)
      implements
        SubscribeReply {
    public SubscribeFailed {
      errors = errors == null ? List.of() : List.copyOf(errors);
    }
  }
}
