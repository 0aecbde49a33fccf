/**
 * The benchmark: every scenario (the router and its peers) side by side on one redis-server it starts itself
 * ({@link io.redisrouter.bench.BenchMain}), the idle-cost curve ({@link io.redisrouter.bench.IdleCurve}); CLI tools
 * that print to stdout and write {@code bench/results/}.
 */
package io.redisrouter.bench;
