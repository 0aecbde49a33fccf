/**
 * Reliable delivery: one {@link io.redisrouter.router.delivery.SubscriptionActor} per subscription and node (reads,
 * first attempts, acks, leases, take-overs), a supervised {@link io.redisrouter.router.delivery.DeliveryActor} per
 * retried message, the per-channel {@link io.redisrouter.router.delivery.ChannelJanitor} (retention), and broadcast
 * (pub/sub) subscriptions.
 */
package io.redisrouter.router.delivery;
