/**
 * The HTTP endpoint ({@link io.redisrouter.router.http.HttpServer}): routes for publish, consume (pull, events,
 * webhooks), admin, operations and metrics, bearer-token scopes, and the OpenAPI document they are checked against.
 */
package io.redisrouter.router.http;
