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
   *
   * <p>{@code prefetch}: deliveries of a reliable channel handed to this subscriber at once, unanswered (at most the
   * channel's {@code max-in-flight}). The others wait in the router, where one whose deadline passes or whose attempt
   * ends (timed out, dead-lettered) is dropped before it reaches the subscriber: a slow subscriber never gets stale
   * work or a long mailbox. The default, {@value #DEFAULT_PREFETCH} (the next delivery is handed over once the
   * previous one is answered, checked just before), suits an actor that answers each delivery as it handles it; one
   * that answers asynchronously (hands the work to futures) raises it to its concurrency.
   */
  record Subscribe(String channel, String subscription, ActorRef<Delivery> subscriber,
      ActorRef<SubscribeReply> replyTo, int prefetch) implements RouterCommand {
    /** Deliveries handed to a subscriber at once unless it asks for another number. */
    public static final int DEFAULT_PREFETCH = 1;
    /** As many as the channel's {@code max-in-flight} (the router's own HTTP consumers use it). */
    public static final int MAX_PREFETCH = Integer.MAX_VALUE;

    public Subscribe {
      Objects.requireNonNull(subscriber, "subscriber");
      Objects.requireNonNull(replyTo, "replyTo");
      if (prefetch < 1) {
        throw new IllegalArgumentException("prefetch must be at least 1 (deliveries handed to the subscriber at"
            + " once), got " + prefetch);
      }
    }

    public Subscribe(String channel, String subscription, ActorRef<Delivery> subscriber,
        ActorRef<SubscribeReply> replyTo) {
      this(channel, subscription, subscriber, replyTo, DEFAULT_PREFETCH);
    }

    public Subscribe withPrefetch(int n) {
      return new Subscribe(channel, subscription, subscriber, replyTo, n);
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
      implements
        RouterCommand {
    public ReadDeadLetters {
      Objects.requireNonNull(replyTo, "replyTo");
    }
  }
}
