package io.redisrouter.router.publish;

import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.RouterMetrics;

import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The publish path of one router node, safe to call from any thread and never blocking: validates a request, gives
 * it its message id and deadline, and offers it to the {@link PublishIngress}. The router actor calls it for
 * {@code RouterCommand.Publish}; the HTTP layer calls it directly (through {@code RouterRuntime.publish}), without an
 * actor hop and without touching the actor's state. The first publish to a reliable channel on this node is
 * reported to {@code onNewChannel} (the router then starts the channel's janitor).
 */
public final class Publisher {
  private final RouterSettings settings;
  private final RouterMetrics metrics;
  private final PublishIngress ingress;
  private final Consumer<String> onNewChannel;
  private final String idPrefix = Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
  private final AtomicLong idSequence = new AtomicLong();
  /** Reliable channels this node knows (publishes to them are not reported again). */
  private final Set<String> knownChannels = ConcurrentHashMap.newKeySet();

  public Publisher(RouterSettings settings, RouterMetrics metrics, PublishIngress ingress,
      Consumer<String> onNewChannel) {
    this.settings = settings;
    this.metrics = metrics;
    this.ingress = ingress;
    this.onNewChannel = onNewChannel;
  }

  /** The channel is known to this node now (its janitor runs). */
  public void known(String channel) {
    knownChannels.add(channel);
  }

  /** The channel is not known any more (its janitor stopped): its next publish is reported again. */
  public void forget(String channel) {
    knownChannels.remove(channel);
  }

  /**
   * Validates and enqueues one publish request; returns the rejection to send at once, or {@code null} when the
   * request was enqueued (its reply comes later through {@code reply}).
   */
  public PublishReply submit(PublishRequest r, Consumer<PublishReply> reply) {
    Instant now = Instant.now();
    List<FieldError> errors = Validation.checkPublish(r, settings.limits(), now);
    String id = r.messageId() != null
        ? r.messageId()
        : idPrefix + "-" + Long.toString(idSequence.incrementAndGet(), 36);
    if (!errors.isEmpty()) {
      metrics.recordPublishRejected();
      return new PublishReply.Rejected(id, PublishReply.RejectReason.INVALID,
          errors.stream().map(FieldError::message).reduce((a, b) -> a + "; " + b).orElse("invalid"), errors, null);
    }
    ChannelPolicy policy = settings.policyFor(r.channel());
    Instant deadline = r.deadline() != null
        ? r.deadline()
        : now.plus(r.timeToLive() != null ? r.timeToLive() : policy.timeToLive());
    Envelope envelope = new Envelope(id, r.channel(), r.partitionKey(), r.payload(), r.contentType(), r.headers(),
        now, deadline, 0, r.producerId(), r.producerId() == null ? Envelope.NO_SEQUENCE : r.sequence());
    if (policy.mode() == ChannelMode.RELIABLE && !knownChannels.contains(r.channel())
        && knownChannels.add(r.channel())) {
      onNewChannel.accept(r.channel());
    }
    PublishIngress.Offer offer = ingress
        .offer(new PublishIngress.Pending(envelope, policy, r.messageId() != null, reply));
    return switch (offer) {
      case ENQUEUED -> null;
      case OVERLOADED -> rejected(id, PublishReply.RejectReason.OVERLOADED, "the ingress queue is full ("
          + ingress.capacity() + " messages): retry after the given delay", PublishIngress.retryAfterOverload());
      case UNTIL_RECEIVED_FULL -> rejected(id, PublishReply.RejectReason.OVERLOADED, ingress.untilReceivedMax()
          + " until-received messages wait for a receiver already (ingress.until-received-max): retry after the"
          + " given delay", PublishIngress.retryAfterOverload());
      case CLOSED -> rejected(id, PublishReply.RejectReason.SHUTTING_DOWN,
          "the router is shutting down: publish to another node", null);
    };
  }

  private PublishReply rejected(String id, PublishReply.RejectReason reason, String message,
      java.time.Duration retryAfter) {
    metrics.recordPublishRejected();
    return new PublishReply.Rejected(id, reason, message, null, retryAfter);
  }
}
