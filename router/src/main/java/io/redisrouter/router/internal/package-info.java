/** Small helpers shared by the router's packages (delivery ids, future combinators); not an API. */
package io.redisrouter.router.internal;
