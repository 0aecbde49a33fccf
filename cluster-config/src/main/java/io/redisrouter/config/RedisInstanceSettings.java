package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * One Redis server, {@code redis-router.redis.instances.<name>}.
 *
 * <p>{@link #toString()} never shows the password, neither the {@code password} key nor a password
 * inside the URI ({@code redis://user:pw@host} is shown as {@code redis://user:***@host}).
 *
 * @param name             the instance name, the key under {@code redis-router.redis.instances}
 * @param uri              {@code redis://} or {@code rediss://} URI, as configured
 * @param password         password for AUTH, or {@code null} for none
 * @param tls              whether to use TLS; always true when the URI starts with {@code rediss://}
 * @param connectTimeout   time allowed to open a connection
 * @param commandTimeout   time allowed for one Redis command
 * @param requestQueueSize commands buffered per connection while disconnected
 * @param healthCheckInterval how often every connection is sent a PING
 * @param healthCheckMaxMissed PINGs in a row left unanswered (each for one interval) after which the connections
 *                             are taken for dead and opened again; the instance is reported down at once
 * @param connectionsPerInstance 1: one RESP3 connection carries every command, publish and pub/sub message of the
 *                             instance; 3: commands, publishes and pub/sub each on their own (RESP2 or RESP3)
 * @param singleConnectionRequired with 1: refuse to run (instance down, an ERROR naming the key) when the server
 *                             has no RESP3, instead of falling back to 3 connections with a WARN
 */
public record RedisInstanceSettings(
    String name,
    String uri,
    String password,
    boolean tls,
    Duration connectTimeout,
    Duration commandTimeout,
    int requestQueueSize,
    Duration healthCheckInterval,
    int healthCheckMaxMissed,
    int connectionsPerInstance,
    boolean singleConnectionRequired) {

  /** URI scheme of plain connections. */
  public static final String SCHEME = "redis://";
  /** URI scheme of TLS connections. */
  public static final String TLS_SCHEME = "rediss://";

  public RedisInstanceSettings {
    requireNonNull(name, "name");
    requireNonNull(uri, "uri");
    requireNonNull(connectTimeout, "connectTimeout");
    requireNonNull(commandTimeout, "commandTimeout");
    requireNonNull(healthCheckInterval, "healthCheckInterval");
    tls = tls || uri.startsWith(TLS_SCHEME);
    if (connectionsPerInstance != 1 && connectionsPerInstance != 3) {
      throw new IllegalArgumentException("connectionsPerInstance must be 1 or 3, not " + connectionsPerInstance);
    }
  }

  /** Settings as before, with the health check and connection mode given (the other constructor's defaults: 1 s, 3 missed). */
  public RedisInstanceSettings(String name, String uri, String password, boolean tls, Duration connectTimeout,
      Duration commandTimeout, int requestQueueSize) {
    this(name, uri, password, tls, connectTimeout, commandTimeout, requestQueueSize, Duration.ofSeconds(1), 3, 1,
        false);
  }

  /** How long a stalled instance goes unnoticed at most: {@code healthCheckInterval x (healthCheckMaxMissed + 1)}. */
  public Duration stallDetection() {
    return healthCheckInterval.multipliedBy(healthCheckMaxMissed + 1L);
  }

  /** The URI with any password in its user-info replaced by {@code ***}; safe to log. */
  public String redactedUri() {
    return redact(uri);
  }

  @Override
  public String toString() {
    return "RedisInstanceSettings[name=" + name
        + ", uri=" + redactedUri()
        + ", password=" + (password == null ? "<none>" : "<set>")
        + ", tls=" + tls
        + ", connectTimeout=" + connectTimeout
        + ", commandTimeout=" + commandTimeout
        + ", requestQueueSize=" + requestQueueSize
        + ", healthCheckInterval=" + healthCheckInterval
        + ", healthCheckMaxMissed=" + healthCheckMaxMissed
        + ", connectionsPerInstance=" + connectionsPerInstance
        + ", singleConnectionRequired=" + singleConnectionRequired + "]";
  }

  /**
   * {@code uri} with the password part of its user-info replaced by {@code ***}:
   * {@code redis://user:pw@host} becomes {@code redis://user:***@host}, {@code redis://pw@host}
   * (Redis' password-only form) becomes {@code redis://***@host}.
   */
  static String redact(String uri) {
    int scheme = uri.indexOf("://");
    int start = scheme < 0 ? 0 : scheme + 3;
    int end = uri.length();
    for (int i = start; i < uri.length(); i++) {
      char c = uri.charAt(i);
      if (c == '/' || c == '?' || c == '#') {
        end = i;
        break;
      }
    }
    int at = uri.lastIndexOf('@', end - 1);
    if (at < start) return uri;
    String userInfo = uri.substring(start, at);
    int colon = userInfo.indexOf(':');
    String shown = colon < 0 ? "***" : userInfo.substring(0, colon) + ":***";
    return uri.substring(0, start) + shown + uri.substring(at);
  }
}
