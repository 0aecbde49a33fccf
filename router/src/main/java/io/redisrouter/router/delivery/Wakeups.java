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
  private final byte[] token = java.util.UUID.randomUUID().toString()
      .getBytes(java.nio.charset.StandardCharsets.US_ASCII);

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

  /** Channels something happened on since their janitor last looked (see {@link #touch}). */
  private final ConcurrentHashMap<String, Boolean> touched = new ConcurrentHashMap<>();
  /** Per channel, the earliest {@link System#nanoTime} at which its janitor should look again (see {@link #touchAt}). */
  private final ConcurrentHashMap<String, Long> dueAt = new ConcurrentHashMap<>();
  /** Per channel, its janitor's "look at your channel" signal. */
  private final ConcurrentHashMap<String, Runnable> listeners = new ConcurrentHashMap<>();

  /** {@code channel}'s janitor: {@code signal} runs when the channel is touched after its last look, or a look is asked. */
  public void listen(String channel, Runnable signal) {
    listeners.put(channel, signal);
  }

  public void unlisten(String channel) {
    listeners.remove(channel);
  }

  /**
   * Something happened on {@code channel} on this node (a write, an ack, a take-over, a dead letter): its janitor's
   * next round comes within {@code trim-interval} (signalled once until the janitor takes the mark).
   */
  public void touch(String channel) {
    if (touched.put(channel, Boolean.TRUE) == null) signal(channel);
  }

  /**
   * {@code channel}'s janitor should look again at {@code nanoTime} (e.g. when a stopped subscription's consumer
   * becomes idle long enough to be removed).
   */
  public void touchAt(String channel, long nanoTime) {
    dueAt.merge(channel, nanoTime, (a, b) -> a - b <= 0 ? a : b);
    signal(channel);
  }

  private void signal(String channel) {
    Runnable r = listeners.get(channel);
    if (r != null) r.run();
  }

  /** Whether {@code channel} was touched since its janitor last took the mark. */
  public boolean isTouched(String channel) {
    return touched.containsKey(channel);
  }

  /** When {@code channel}'s janitor was asked to look again ({@link System#nanoTime}), or {@code Long.MAX_VALUE}. */
  public long dueAt(String channel) {
    Long d = dueAt.get(channel);
    return d == null ? Long.MAX_VALUE : d;
  }

  /** Whether {@code channel} was touched since the last call, or a look it asked for is due now (clears both). */
  public boolean takeTouched(String channel) {
    boolean t = touched.remove(channel) != null;
    Long due = dueAt.get(channel);
    if (due != null && System.nanoTime() - due >= 0) {
      dueAt.remove(channel, due);
      t = true;
    }
    return t;
  }

  public void wake(String channel) {
    touch(channel);
    Set<Runnable> set = byChannel.get(channel);
    if (set != null) {
      set.forEach(Runnable::run);
    }
  }
}
