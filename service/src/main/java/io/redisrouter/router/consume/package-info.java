/**
 * Consumers reached over HTTP: subscription definitions kept in Redis ({@link
 * io.redisrouter.router.consume.SubscriptionStore}), pull and server-sent-event members ({@link
 * io.redisrouter.router.consume.PullGateway}), webhook pushers ({@link io.redisrouter.router.consume.WebhookPusher}),
 * and the JSON of a delivery; no HTTP routes (those are in {@code http}).
 */
package io.redisrouter.router.consume;
