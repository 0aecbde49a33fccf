/**
 * Typed settings of redis-router, read once from HOCON ({@code reference.conf} plus the application's
 * overrides) and checked at start-up.
 *
 * <p>Start at {@link io.redisrouter.config.RouterSettings#load()}. Every bad value fails with a
 * {@link io.redisrouter.config.ConfigError} that names the full key and the allowed values.
 */
package io.redisrouter.config;
