/**
 * The router embedded as actors: {@link io.redisrouter.router.RedisRouter} is the one actor an application spawns
 * and talks to; it owns the Redis connections, the publish ingress, the subscriptions and the channel janitors
 * (subpackages), and {@link io.redisrouter.router.RouterMetrics} counts what they do.
 */
package io.redisrouter.router;
