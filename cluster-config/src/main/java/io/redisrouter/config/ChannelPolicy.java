package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import io.redisrouter.protocol.ChannelMode;
import java.time.Duration;

/**
 * How one channel is carried and delivered: {@code redis-router.channels.defaults}, with a channel's
 * entry under {@code redis-router.channels.overrides} merged over it.
 *
 * @param mode              reliable (Redis Stream) or broadcast (PUBLISH)
 * @param redisInstance     name of the {@link RedisInstanceSettings Redis instance} holding the channel
 * @param timeToLive        how long a message may wait to be delivered
 * @param ackTimeout        an unacked delivery is redelivered after this
 * @param maxAttempts       deliveries before a message is dead-lettered; at least 1
 * @param backoffMin        delay before the first redelivery
 * @param backoffMax        the delay doubles per attempt up to this; at least {@code backoffMin}
 * @param backoffJitter     random fraction, 0.0-1.0, added to or taken from each delay
 * @param maxInFlight       unacked deliveries per subscription, 1-10000
 * @param retentionMaxAge   stream entries older than this are trimmed; {@link Duration#ZERO} = keep until acked
 * @param retentionMaxLength approximate stream length cap; 0 = no cap
 * @param trimInterval      how often streams are trimmed
 * @param broadcastDelivery what a broadcast channel does when nobody listens
 * @param deadLetterMaxAge  dead letters older than this are trimmed; {@link Duration#ZERO} = kept until removed
 * @param deadLetterMaxLength approximate cap of the dead-letter stream; 0 = no cap
 * @param broadcastWindow   broadcast deliveries one subscriber may hold unanswered; more are dropped and counted
 * @param durability        when a publish is answered accepted: once the primary has it, or once N replicas have it
 */
public record ChannelPolicy(
    ChannelMode mode,
    String redisInstance,
    Duration timeToLive,
    Duration ackTimeout,
    int maxAttempts,
    Duration backoffMin,
    Duration backoffMax,
    double backoffJitter,
    int maxInFlight,
    Duration retentionMaxAge,
    long retentionMaxLength,
    Duration trimInterval,
    BroadcastDelivery broadcastDelivery,
    Duration deadLetterMaxAge,
    long deadLetterMaxLength,
    int broadcastWindow,
    Durability durability) {

  public ChannelPolicy {
    requireNonNull(mode, "mode");
    requireNonNull(redisInstance, "redisInstance");
    requireNonNull(timeToLive, "timeToLive");
    requireNonNull(ackTimeout, "ackTimeout");
    requireNonNull(backoffMin, "backoffMin");
    requireNonNull(backoffMax, "backoffMax");
    requireNonNull(retentionMaxAge, "retentionMaxAge");
    requireNonNull(trimInterval, "trimInterval");
    requireNonNull(broadcastDelivery, "broadcastDelivery");
    requireNonNull(deadLetterMaxAge, "deadLetterMaxAge");
    requireNonNull(durability, "durability");
  }
}
