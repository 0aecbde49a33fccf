package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
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
 * @param username         the Redis ACL user to authenticate as (with {@code password}, or the URI's password), or
 *                         {@code null} for the URI's user, if any, else {@code default}
 * @param tlsCaFile        PEM file of the CA certificates to trust for TLS, or {@code null} for the JVM's trust store
 * @param tlsVerifyPeer    how the server's certificate is checked over TLS
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
    boolean singleConnectionRequired,
    String username,
    Path tlsCaFile,
    TlsVerify tlsVerifyPeer) {

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
    requireNonNull(tlsVerifyPeer, "tlsVerifyPeer");
    tls = tls || uri.startsWith(TLS_SCHEME);
    if (connectionsPerInstance != 1 && connectionsPerInstance != 3) {
      throw new IllegalArgumentException("connectionsPerInstance must be 1 or 3, not " + connectionsPerInstance);
    }
  }

  /**
   * Settings with the defaults of the other keys: health check every 1 s, 3 missed; one connection; no username
   * (the URI's, if any); TLS with the JVM's trust store and full verification.
   */
  public RedisInstanceSettings(String name, String uri, String password, boolean tls, Duration connectTimeout,
      Duration commandTimeout, int requestQueueSize) {
    this(name, uri, password, tls, connectTimeout, commandTimeout, requestQueueSize, Duration.ofSeconds(1), 3, 1,
        false, null, null, TlsVerify.FULL);
  }

  /** How the server's certificate is checked over TLS ({@code tls-verify-peer}). */
  public enum TlsVerify {
    /** The certificate chains to a trusted CA and names the host of the URI (the default). */
    FULL("full"),
    /** The certificate chains to a trusted CA; any host name. */
    CA("ca"),
    /** No check at all: the connection is encrypted, but anyone in the middle can pose as the server. */
    NONE("none");

    private final String configName;

    TlsVerify(String configName) {
      this.configName = configName;
    }

    /** The name used in configuration, e.g. {@code full}. */
    public String configName() {
      return configName;
    }
  }

  /** The same settings with {@code username}, {@code tlsCaFile} and {@code tlsVerifyPeer} replaced. */
  public RedisInstanceSettings withAuthAndTls(String username, Path tlsCaFile, TlsVerify tlsVerifyPeer) {
    return new RedisInstanceSettings(name, uri, password, tls, connectTimeout, commandTimeout, requestQueueSize,
        healthCheckInterval, healthCheckMaxMissed, connectionsPerInstance, singleConnectionRequired, username,
        tlsCaFile, tlsVerifyPeer);
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
        + ", username=" + (username == null ? "<none>" : username)
        + ", password=" + (password == null ? "<none>" : "<set>")
        + ", tls=" + tls
        + (tls
            ? ", tlsCaFile=" + (tlsCaFile == null ? "<jvm trust store>" : tlsCaFile)
                + ", tlsVerifyPeer=" + tlsVerifyPeer.configName()
            : "")
        + ", connectTimeout=" + connectTimeout
        + ", commandTimeout=" + commandTimeout
        + ", requestQueueSize=" + requestQueueSize
        + ", healthCheckInterval=" + healthCheckInterval
        + ", healthCheckMaxMissed=" + healthCheckMaxMissed
        + ", connectionsPerInstance=" + connectionsPerInstance
        + ", singleConnectionRequired=" + singleConnectionRequired + "]";
  }

  /**
   * The user of the URI's user-info ({@code redis://user:pw@host}), or null when it has none ({@code redis://host},
   * and {@code redis://pw@host}, Redis' password-only form).
   */
  public static String uriUsername(String uri) {
    String userInfo = userInfo(uri);
    if (userInfo == null) return null;
    int colon = userInfo.indexOf(':');
    return colon <= 0 ? null : userInfo.substring(0, colon);
  }

  /** Whether the URI's user-info holds a password ({@code redis://user:pw@host} or {@code redis://pw@host}). */
  public static boolean uriHasPassword(String uri) {
    String userInfo = userInfo(uri);
    if (userInfo == null) return false;
    int colon = userInfo.indexOf(':');
    return colon < 0 ? !userInfo.isEmpty() : colon < userInfo.length() - 1;
  }

  private static String userInfo(String uri) {
    int scheme = uri.indexOf("://");
    int start = scheme < 0 ? 0 : scheme + 3;
    int end = authorityEnd(uri, start);
    int at = uri.lastIndexOf('@', end - 1);
    return at < start ? null : uri.substring(start, at);
  }

  private static int authorityEnd(String uri, int start) {
    for (int i = start; i < uri.length(); i++) {
      char c = uri.charAt(i);
      if (c == '/' || c == '?' || c == '#') return i;
    }
    return uri.length();
  }

  /**
   * {@code uri} with the password part of its user-info replaced by {@code ***}:
   * {@code redis://user:pw@host} becomes {@code redis://user:***@host}, {@code redis://pw@host}
   * (Redis' password-only form) becomes {@code redis://***@host}.
   */
  static String redact(String uri) {
    int scheme = uri.indexOf("://");
    int start = scheme < 0 ? 0 : scheme + 3;
    int end = authorityEnd(uri, start);
    int at = uri.lastIndexOf('@', end - 1);
    if (at < start) return uri;
    String userInfo = uri.substring(start, at);
    int colon = userInfo.indexOf(':');
    String shown = colon < 0 ? "***" : userInfo.substring(0, colon) + ":***";
    return uri.substring(0, start) + shown + uri.substring(at);
  }
}
