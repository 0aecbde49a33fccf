package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

/**
 * A configuration value that is missing, of the wrong type or out of range.
 *
 * <p>The message names the full key and says what to use instead, e.g.
 * {@code redis-router.channels.defaults.max-attempts = 0 is invalid: use an integer >= 1}.
 * Passwords are never part of the message.
 */
public final class ConfigError extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String key;

  /**
   * @param key     the full path of the bad key, e.g. {@code redis-router.ingress.queue-size}
   * @param message what is wrong and what to use instead
   */
  public ConfigError(String key, String message) {
    super(requireNonNull(message, "message"));
    this.key = requireNonNull(key, "key");
  }

  /**
   * @param key     the full path of the bad key
   * @param message what is wrong and what to use instead
   * @param cause   the underlying error, usually a {@code com.typesafe.config.ConfigException}
   */
  public ConfigError(String key, String message, Throwable cause) {
    super(requireNonNull(message, "message"), cause);
    this.key = requireNonNull(key, "key");
  }

  /** The full path of the bad key, e.g. {@code redis-router.channels.defaults.max-attempts}. */
  public String key() {
    return key;
  }
}
