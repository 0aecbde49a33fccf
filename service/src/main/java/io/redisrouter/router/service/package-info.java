/**
 * The router as a service: {@link io.redisrouter.router.service.RouterMain} (the command that runs it, with the
 * embedded-Redis fallback for local use) and the wiring of the router actor, the HTTP endpoint and shutdown.
 */
package io.redisrouter.router.service;
