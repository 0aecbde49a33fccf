package io.redisrouter.protocol;

import org.apache.pekko.actor.typed.ActorRef;

import java.util.Objects;

/**
 * Messages the router actor understands. The public commands are the nested records; the interface is left
 * open so that the router implementation can add private internal messages of its own.
 */
public interface RouterCommand {

  /** Publish one message. The reply comes only after Redis confirmed the write, or at once when rejected. */
  record Publish(PublishRequest request, ActorRef<PublishReply> replyTo) implements RouterCommand {
    public Publish {
      Objects.requireNonNull(request, "request");
      Objects.requireNonNull(replyTo, "replyTo");
    }
  }

  /**
   * Subscribe {@code subscriber} to {@code channel} as a member of the named subscription (one consumer group).
   * Several subscribers of the same subscription share its messages; each message goes to one of them.
   */
  record Subscribe(String channel, String subscription, ActorRef<Delivery> subscriber,
                   ActorRef<SubscribeReply> replyTo) implements RouterCommand {
    public Subscribe {
      Objects.requireNonNull(subscriber, "subscriber");
      Objects.requireNonNull(replyTo, "replyTo");
    }
  }

  /** Remove {@code subscriber} from the subscription; the subscription's messages stay in Redis. */
  record Unsubscribe(String channel, String subscription, ActorRef<Delivery> subscriber,
                     ActorRef<SubscribeReply> replyTo) implements RouterCommand {
    public Unsubscribe {
      Objects.requireNonNull(subscriber, "subscriber");
      Objects.requireNonNull(replyTo, "replyTo");
    }
  }

  /** Read up to {@code count} dead letters of a channel, oldest first, starting after {@code afterId} (or "-"). */
  record ReadDeadLetters(String channel, String afterId, int count, ActorRef<DeadLetterPage> replyTo)
      implements RouterCommand {
    public ReadDeadLetters {
      Objects.requireNonNull(replyTo, "replyTo");
    }
  }
}
