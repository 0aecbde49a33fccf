package io.redisrouter.router.redis;

/** Raised when a Redis instance has no live connection at the moment; the caller decides whether to retry. */
public final class RedisUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public RedisUnavailableException(String message) {
    super(message, null, false, false);
  }
}
