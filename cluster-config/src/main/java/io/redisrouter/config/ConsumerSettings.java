package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Timing of the stream consumers ({@code redis-router.consumer}).
 *
 * @param pollInterval       how often an idle subscription polls its stream
 * @param claimInterval      how often deliveries past their ack-timeout are reclaimed
 * @param leaseRenewInterval how often a consumer renews its lease on a subscription
 * @param idleConsumerRemoval a consumer holding nothing and idle this long is removed
 * @param idlePollMax        the poll interval doubles from {@code pollInterval} up to this while reads find nothing
 *                           (the doorbell of a publish wakes a subscription at once; the poll is the safety net)
 * @param idleClaimMax       the claim interval doubles from {@code claimInterval} up to this while the group has no
 *                           pending entry the subscription does not hold itself (then there is nothing to take over)
 */
public record ConsumerSettings(Duration pollInterval, Duration claimInterval, Duration leaseRenewInterval,
                               Duration idleConsumerRemoval, Duration idlePollMax, Duration idleClaimMax) {

  /** The default of {@code consumer.idle-consumer-removal}. */
  public static final Duration DEFAULT_IDLE_CONSUMER_REMOVAL = Duration.ofMinutes(5);
  /** The defaults of {@code consumer.idle-poll-max} and {@code consumer.idle-claim-max}. */
  public static final Duration DEFAULT_IDLE_POLL_MAX = Duration.ofSeconds(10);
  public static final Duration DEFAULT_IDLE_CLAIM_MAX = Duration.ofSeconds(30);

  public ConsumerSettings {
    requireNonNull(pollInterval, "pollInterval");
    requireNonNull(claimInterval, "claimInterval");
    requireNonNull(leaseRenewInterval, "leaseRenewInterval");
    requireNonNull(idleConsumerRemoval, "idleConsumerRemoval");
    requireNonNull(idlePollMax, "idlePollMax");
    requireNonNull(idleClaimMax, "idleClaimMax");
    if (idlePollMax.compareTo(pollInterval) < 0) idlePollMax = pollInterval;
    if (idleClaimMax.compareTo(claimInterval) < 0) idleClaimMax = claimInterval;
  }

  public ConsumerSettings(Duration pollInterval, Duration claimInterval, Duration leaseRenewInterval) {
    this(pollInterval, claimInterval, leaseRenewInterval, DEFAULT_IDLE_CONSUMER_REMOVAL, DEFAULT_IDLE_POLL_MAX,
        DEFAULT_IDLE_CLAIM_MAX);
  }
}
