package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Timing of the stream consumers ({@code redis-router.consumer}).
 *
 * @param pollInterval        how soon a subscription reads again after a read failed (doubling while it fails, up
 *                            to {@code watchInterval}); a subscription that found its stream read up does not poll
 * @param claimInterval       how often deliveries past their ack-timeout are reclaimed
 * @param leaseRenewInterval  how often a consumer renews its lease on a subscription
 * @param idleConsumerRemoval a consumer holding nothing and idle this long is removed
 * @param watchInterval       how often the stream watch of each Redis instance checks the streams of idle
 *                            subscriptions for entries no wake-up announced (one XREAD per 1,000 streams)
 * @param idleClaimMax        the next claim check comes after this when the last found no pending entry the
 *                            subscription does not hold itself (nothing to take over); a write to the channel brings
 *                            it nearer
 * @param quietTrimInterval   a channel's janitor round runs at this interval instead of {@code trim-interval} while
 *                            nothing happened on the channel on this node (no publish, ack, take-over or dead letter)
 */
public record ConsumerSettings(Duration pollInterval, Duration claimInterval, Duration leaseRenewInterval,
    Duration idleConsumerRemoval, Duration watchInterval, Duration idleClaimMax,
    Duration quietTrimInterval) {

  /** The default of {@code consumer.idle-consumer-removal}. */
  public static final Duration DEFAULT_IDLE_CONSUMER_REMOVAL = Duration.ofMinutes(5);
  /** The defaults of {@code consumer.watch-interval}, {@code idle-claim-max} and {@code quiet-trim-interval}. */
  public static final Duration DEFAULT_WATCH_INTERVAL = Duration.ofSeconds(2);
  public static final Duration DEFAULT_IDLE_CLAIM_MAX = Duration.ofMinutes(10);
  public static final Duration DEFAULT_QUIET_TRIM_INTERVAL = Duration.ofHours(1);

  public ConsumerSettings {
    requireNonNull(pollInterval, "pollInterval");
    requireNonNull(claimInterval, "claimInterval");
    requireNonNull(leaseRenewInterval, "leaseRenewInterval");
    requireNonNull(idleConsumerRemoval, "idleConsumerRemoval");
    requireNonNull(watchInterval, "watchInterval");
    requireNonNull(idleClaimMax, "idleClaimMax");
    requireNonNull(quietTrimInterval, "quietTrimInterval");
    if (idleClaimMax.compareTo(claimInterval) < 0) idleClaimMax = claimInterval;
  }

  public ConsumerSettings(Duration pollInterval, Duration claimInterval, Duration leaseRenewInterval) {
    this(pollInterval, claimInterval, leaseRenewInterval, DEFAULT_IDLE_CONSUMER_REMOVAL, DEFAULT_WATCH_INTERVAL,
        DEFAULT_IDLE_CLAIM_MAX, DEFAULT_QUIET_TRIM_INTERVAL);
  }
}
