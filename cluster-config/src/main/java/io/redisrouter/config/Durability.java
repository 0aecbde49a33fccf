package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * When a publish to a reliable channel is answered accepted: once the Redis primary wrote it ({@link #PRIMARY_ONLY},
 * {@code durability = primary}), or once {@code replicas} replicas of that primary confirmed it too
 * ({@code durability = "replica(N)"}: a {@code WAIT N timeout} after the write, on the connection that wrote it).
 *
 * @param replicas 0 = the primary alone; else the replicas that must confirm the write, 1-{@value #MAX_REPLICAS}
 * @param timeout  how long a {@code WAIT} may wait for them ({@code durability-timeout}); short of them by then,
 *                 the publish is rejected {@code not-replicated} (the write may still be on the primary)
 */
public record Durability(int replicas, Duration timeout) {
  /** The most replicas a channel may ask for. */
  public static final int MAX_REPLICAS = 100;
  /** {@code durability = primary} with the default timeout (unused while no replica is waited for). */
  public static final Durability PRIMARY_ONLY = new Durability(0, Duration.ofSeconds(1));

  public Durability {
    requireNonNull(timeout, "timeout");
    if (replicas < 0 || replicas > MAX_REPLICAS) {
      throw new IllegalArgumentException("replicas must be 0-" + MAX_REPLICAS + ": " + replicas);
    }
    if (timeout.isZero() || timeout.isNegative()) {
      // WAIT with timeout 0 blocks forever: never let one reach Redis
      throw new IllegalArgumentException("timeout must be > 0: " + timeout);
    }
  }

  /** Whether an accept waits for replicas ({@code replica(N)}). */
  public boolean waitsForReplicas() {
    return replicas > 0;
  }

  /** The configuration form: {@code primary} or {@code replica(N)}. */
  public String configName() {
    return replicas == 0 ? "primary" : "replica(" + replicas + ")";
  }

  /**
   * Parses the configuration form.
   *
   * @return the number of replicas (0 for {@code primary}), or -1 when {@code value} is neither form
   */
  static int parseReplicas(String value) {
    String v = value.strip();
    if (v.equals("primary")) return 0;
    if (!v.startsWith("replica(") || !v.endsWith(")")) return -1;
    String n = v.substring("replica(".length(), v.length() - 1).strip();
    if (n.isEmpty() || n.length() > 4 || !n.chars().allMatch(Character::isDigit)) return -1;
    int replicas = Integer.parseInt(n);
    return replicas >= 1 && replicas <= MAX_REPLICAS ? replicas : -1;
  }
}
