package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Timing of the stream consumers ({@code redis-router.consumer}).
 *
 * @param pollInterval       how often an idle subscription polls its stream
 * @param claimInterval      how often deliveries past their ack-timeout are reclaimed
 * @param leaseRenewInterval how often a consumer renews its lease on a subscription
 */
public record ConsumerSettings(Duration pollInterval, Duration claimInterval, Duration leaseRenewInterval,
                               Duration idleConsumerRemoval) {

  /** The default of {@code consumer.idle-consumer-removal}. */
  public static final Duration DEFAULT_IDLE_CONSUMER_REMOVAL = Duration.ofMinutes(5);

  public ConsumerSettings {
    requireNonNull(pollInterval, "pollInterval");
    requireNonNull(claimInterval, "claimInterval");
    requireNonNull(leaseRenewInterval, "leaseRenewInterval");
    requireNonNull(idleConsumerRemoval, "idleConsumerRemoval");
  }

  public ConsumerSettings(Duration pollInterval, Duration claimInterval, Duration leaseRenewInterval) {
    this(pollInterval, claimInterval, leaseRenewInterval, DEFAULT_IDLE_CONSUMER_REMOVAL);
  }
}
