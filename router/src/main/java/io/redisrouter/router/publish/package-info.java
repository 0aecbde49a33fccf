/**
 * The publish path: the bounded {@link io.redisrouter.router.publish.PublishIngress} stream that batches publishes
 * into Redis pipelines (overload is a fast rejection), and the {@link io.redisrouter.router.publish.DeadlineGuard}
 * that answers every publish at most a moment after its deadline, whatever Redis does.
 */
package io.redisrouter.router.publish;
