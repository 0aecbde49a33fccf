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
public record ConsumerSettings(Duration pollInterval, Duration claimInterval, Duration leaseRenewInterval) {
  public ConsumerSettings {
    requireNonNull(pollInterval, "pollInterval");
    requireNonNull(claimInterval, "claimInterval");
    requireNonNull(leaseRenewInterval, "leaseRenewInterval");
  }
}
