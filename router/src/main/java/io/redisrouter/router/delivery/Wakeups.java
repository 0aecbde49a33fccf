package io.redisrouter.router.delivery;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Local signals "new entries on this channel": the publish ingress rings them after Redis confirmed a batch, so
 * that subscriptions on the same node read at once instead of waiting for their next poll. Subscriptions on other
 * nodes are woken by the channel's doorbell (a PUBLISH after the batch's writes, carrying {@link #token()}: a node
 * ignores its own rings, it woke its subscriptions already).
 */
public final class Wakeups {
  private final byte[] token = java.util.UUID.randomUUID().toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** This node's doorbell token. */
  public byte[] token() {
    return token;
  }

  private final ConcurrentHashMap<String, Set<Runnable>> byChannel = new ConcurrentHashMap<>();

  public void register(String channel, Runnable wake) {
    byChannel.computeIfAbsent(channel, c -> ConcurrentHashMap.newKeySet()).add(wake);
  }

  public void unregister(String channel, Runnable wake) {
    byChannel.computeIfPresent(channel, (c, set) -> {
      set.remove(wake);
      return set.isEmpty() ? null : set;
    });
  }

  public void wake(String channel) {
    Set<Runnable> set = byChannel.get(channel);
    if (set != null) {
      set.forEach(Runnable::run);
    }
  }
}
