package io.redisrouter.router.http;

import com.typesafe.config.Config;
import io.redisrouter.config.ConfigError;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Settings of the HTTP endpoint, read from {@code redis-router.http} (documented in the router module's
 * reference.conf). Token values are never printed.
 */
public final class HttpSettings {
  /** What a token may do. */
  public enum Scope {
    PUBLISH, CONSUME, ADMIN;

    public String configName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** One bearer token and its scopes. {@link #toString()} hides the token. */
  public record Token(String name, String secret, Set<Scope> scopes) {
    @Override
    public String toString() {
      return "Token[" + name + ", scopes=" + scopes + "]";
    }
  }

  private final String host;
  private final int port;
  private final boolean authEnabled;
  private final List<Token> tokens;
  private final int maxBatch;
  private final Duration maxPullWait;
  private final int maxPullCount;
  private final Duration sseHeartbeat;
  private final Duration webhookTimeout;
  private final int webhookParallelism;
  private final int webhookBatchSize;
  private final Duration warmUp;
  private final Duration pullIdleRelease;
  private final Duration subscriptionRefresh;
  private final Duration subscriptionTombstoneRetention;
  private final Duration shutdownDrainMax;
  private final Duration shutdownTerminateDeadline;

  private HttpSettings(Config c) {
    String p = "redis-router.http.";
    try {
      this.host = c.getString(p + "host");
      this.port = c.getInt(p + "port");
      this.authEnabled = c.getBoolean(p + "auth.enabled");
      this.maxBatch = c.getInt(p + "max-batch");
      this.maxPullWait = c.getDuration(p + "max-pull-wait");
      this.maxPullCount = c.getInt(p + "max-pull-count");
      this.sseHeartbeat = c.getDuration(p + "sse-heartbeat");
      this.webhookTimeout = c.getDuration(p + "webhook.timeout");
      this.webhookParallelism = c.getInt(p + "webhook.parallelism");
      this.webhookBatchSize = c.getInt(p + "webhook.batch-size");
      this.warmUp = c.getDuration(p + "warm-up");
      this.pullIdleRelease = c.getDuration(p + "pull-idle-release");
      this.subscriptionRefresh = c.getDuration(p + "subscription-refresh");
      this.subscriptionTombstoneRetention = c.getDuration(p + "subscription-tombstone-retention");
      this.shutdownDrainMax = c.getDuration(p + "shutdown.drain-max");
      this.shutdownTerminateDeadline = c.getDuration(p + "shutdown.terminate-deadline");
      List<Token> list = new ArrayList<>();
      for (Config t : c.getConfigList(p + "auth.tokens")) {
        String secret = t.getString("token");
        if (secret.isEmpty()) continue; // an unset environment override
        Set<Scope> scopes = EnumSet.noneOf(Scope.class);
        for (String s : t.getStringList("scopes")) {
          try {
            scopes.add(Scope.valueOf(s.toUpperCase(Locale.ROOT)));
          } catch (IllegalArgumentException e) {
            throw new ConfigError(p + "auth.tokens", p + "auth.tokens scope '" + s
                + "' is invalid: use publish, consume or admin");
          }
        }
        list.add(new Token(t.hasPath("name") ? t.getString("name") : "token-" + (list.size() + 1), secret, scopes));
      }
      this.tokens = List.copyOf(list);
    } catch (com.typesafe.config.ConfigException e) {
      throw new ConfigError("redis-router.http", "redis-router.http is invalid: " + e.getMessage(), e);
    }
    if (port < 0 || port > 65535) {
      throw new ConfigError(p + "port", p + "port = " + port + " is invalid: use 0-65535 (0 = any free port)");
    }
    positive(p + "max-pull-wait", maxPullWait);
    positive(p + "sse-heartbeat", sseHeartbeat);
    positive(p + "webhook.timeout", webhookTimeout);
    positive(p + "pull-idle-release", pullIdleRelease);
    positive(p + "subscription-refresh", subscriptionRefresh);
    positive(p + "shutdown.drain-max", shutdownDrainMax);
    positive(p + "shutdown.terminate-deadline", shutdownTerminateDeadline);
    if (subscriptionTombstoneRetention.compareTo(subscriptionRefresh.multipliedBy(2)) < 0) {
      throw new ConfigError(p + "subscription-tombstone-retention", p + "subscription-tombstone-retention = "
          + subscriptionTombstoneRetention + " is invalid: use at least twice " + p + "subscription-refresh ("
          + subscriptionRefresh + "), or nodes may take a deleted subscription for a lost one and restore it");
    }
    if (maxPullCount < 1) {
      throw new ConfigError(p + "max-pull-count", p + "max-pull-count = " + maxPullCount + " is invalid: use >= 1");
    }
    if (webhookParallelism < 1 || webhookParallelism > 1000) {
      throw new ConfigError(p + "webhook.parallelism", p + "webhook.parallelism = " + webhookParallelism
          + " is invalid: use 1-1000");
    }
    if (warmUp.isNegative() || warmUp.compareTo(Duration.ofMinutes(1)) > 0) {
      throw new ConfigError(p + "warm-up", p + "warm-up = " + warmUp + " is invalid: use 0s (off) to 60s");
    }
    if (webhookBatchSize < 1 || webhookBatchSize > 1000) {
      throw new ConfigError(p + "webhook.batch-size", p + "webhook.batch-size = " + webhookBatchSize
          + " is invalid: use 1-1000 (1: one delivery per call as a JSON object; more: a JSON array per call)");
    }
    if (maxBatch < 1) throw new ConfigError(p + "max-batch", p + "max-batch = " + maxBatch + " is invalid: use >= 1");
    if (authEnabled && tokens.isEmpty()) {
      throw new ConfigError(p + "auth.tokens", p + "auth.enabled = true but no token is configured: set"
          + " ROUTER_HTTP_TOKEN (all scopes) or list tokens under " + p + "auth.tokens, or set " + p
          + "auth.enabled = false explicitly (not for production)");
    }
  }

  /** The longest duration a timer or a timeout here can hold (Pekko's scheduler takes up to about 248 days). */
  static final Duration MAX_DURATION = Duration.ofDays(180);

  private static void positive(String key, Duration d) {
    if (d.isNegative() || d.isZero()) {
      throw new ConfigError(key, key + " = " + d + " is invalid: use a duration > 0, e.g. 30s");
    }
    if (d.compareTo(MAX_DURATION) > 0) {
      throw new ConfigError(key, key + " = " + d + " is invalid: use at most 180d (it drives a timer or a timeout,"
          + " which cannot hold more)");
    }
  }

  /** Longest wait at shutdown for the requests in flight to finish before connections are closed. */
  public Duration shutdownDrainMax() {
    return shutdownDrainMax;
  }

  /** Then, the hard deadline: every connection closes (a request still running gets no answer). */
  public Duration shutdownTerminateDeadline() {
    return shutdownTerminateDeadline;
  }

  public static HttpSettings load(Config config) {
    return new HttpSettings(config);
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public boolean authEnabled() {
    return authEnabled;
  }

  public List<Token> tokens() {
    return tokens;
  }

  public int maxBatch() {
    return maxBatch;
  }

  public Duration maxPullWait() {
    return maxPullWait;
  }

  public int maxPullCount() {
    return maxPullCount;
  }

  public Duration sseHeartbeat() {
    return sseHeartbeat;
  }

  public Duration webhookTimeout() {
    return webhookTimeout;
  }

  public int webhookParallelism() {
    return webhookParallelism;
  }

  /** How long the node warms its hot paths up before it reports ready (zero: not at all). */
  public Duration warmUp() {
    return warmUp;
  }

  /** Default of a subscription's {@code webhook.batchSize}: deliveries per call (1: a JSON object each). */
  public int webhookBatchSize() {
    return webhookBatchSize;
  }

  /** How long a pull subscription stays joined on this node after its last pull, with no stream open. */
  public Duration pullIdleRelease() {
    return pullIdleRelease;
  }

  /** How often the HTTP subscriptions are re-read from Redis (to see those created through other nodes). */
  public Duration subscriptionRefresh() {
    return subscriptionRefresh;
  }

  /** How long the tombstone of a deleted HTTP subscription is kept (so no node takes the deletion for a loss). */
  public Duration subscriptionTombstoneRetention() {
    return subscriptionTombstoneRetention;
  }

  @Override
  public String toString() {
    return "HttpSettings[" + host + ":" + port + ", auth=" + (authEnabled ? tokens.size() + " tokens" : "OFF") + "]";
  }
}
