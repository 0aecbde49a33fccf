/**
 * Redis itself: the supervised connection actor and the {@link io.redisrouter.router.redis.RedisHandle} users take
 * connections from (one RESP3 connection per instance by default), the key layout, the scripts, the parsed replies
 * ({@link io.redisrouter.router.redis.GroupInfo}) and the stream watch of idle subscriptions.
 */
package io.redisrouter.router.redis;
