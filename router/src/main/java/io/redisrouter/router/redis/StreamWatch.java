package io.redisrouter.router.redis;

import io.lettuce.core.StreamMessage;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.async.RedisAsyncCommands;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The safety net of the idle subscriptions of one Redis instance. A subscription that read its stream up stops
 * reading: publishes wake it (on its node at once, on other nodes through the channel's doorbell). What no wake-up
 * announces (an entry written by something else than a router, a doorbell lost) is found here: every
 * {@code watch-interval} one non-blocking {@code XREAD COUNT 1 STREAMS s1 .. sn id1 .. idn} per {@value #STREAMS_PER_READ}
 * streams asks whether any idle subscription's stream has an entry after the last one that subscription knows of;
 * those subscriptions are woken (and leave the watch until they are idle again). An idle subscription costs no
 * Redis command of its own.
 *
 * <p>Thread safe: subscriptions register from their actors, the round runs on Lettuce's threads.
 */
public final class StreamWatch {
  private static final Logger log = LoggerFactory.getLogger(StreamWatch.class);

  /** Streams asked about in one XREAD. */
  public static final int STREAMS_PER_READ = 1000;

  /** An idle subscription: the last entry id it knows its stream holds, and how to wake it. */
  private record Idle(String known, Runnable wake) {}

  private final RedisHandle handle;
  private final Runnable onWoken;
  /** Per stream, per subscription (its key), while idle. */
  private final Map<String, Map<Object, Idle>> idle = new ConcurrentHashMap<>();
  private final AtomicBoolean running = new AtomicBoolean();

  StreamWatch(RedisHandle handle, Runnable onWoken) {
    this.handle = handle;
    this.onWoken = onWoken;
  }

  /**
   * The subscription {@code key} read {@code stream} up to {@code known} (an entry id; "0-0" for an empty stream)
   * and waits: it is woken by {@code wake} (once) when the stream has an entry after {@code known}.
   */
  public void idle(String stream, Object key, String known, Runnable wake) {
    // inside compute: never into a map that a round is dropping as empty at the same moment
    idle.compute(stream, (s, m) -> {
      Map<Object, Idle> subs = m == null ? new ConcurrentHashMap<>() : m;
      subs.put(key, new Idle(known, wake));
      return subs;
    });
  }

  /** The subscription {@code key} stopped: no longer watched. */
  public void forget(String stream, Object key) {
    idle.computeIfPresent(stream, (s, m) -> {
      m.remove(key);
      return m.isEmpty() ? null : m;
    });
  }

  /**
   * One round: asks about every watched stream (from the lowest id its idle subscriptions know) and wakes those
   * behind. Of several subscriptions of one stream that know different ids, those that know more than the entry
   * found are asked about again at the next round (from the lowest id left). Skipped while the previous round is still out or the instance is down. Completes with the number of
   * subscriptions woken.
   */
  public CompletionStage<Integer> round() {
    if (idle.isEmpty() || !running.compareAndSet(false, true)) return CompletableFuture.completedFuture(0);
    RedisAsyncCommands<String, byte[]> cmd;
    try {
      cmd = handle.commands();
    } catch (RedisUnavailableException e) {
      running.set(false);
      return CompletableFuture.completedFuture(0); // the reconnect wakes every subscription anyway
    }
    List<XReadArgs.StreamOffset<String>> offsets = new ArrayList<>();
    idle.forEach((stream, subs) -> {
      String lowest = null;
      for (Idle i : subs.values()) if (lowest == null || StreamIds.compare(i.known(), lowest) < 0) lowest = i.known();
      if (lowest != null) offsets.add(XReadArgs.StreamOffset.from(stream, lowest));
    });
    List<CompletableFuture<Integer>> reads = new ArrayList<>();
    for (int from = 0; from < offsets.size(); from += STREAMS_PER_READ) {
      @SuppressWarnings("unchecked")
      XReadArgs.StreamOffset<String>[] chunk = offsets.subList(from, Math.min(offsets.size(), from + STREAMS_PER_READ))
          .toArray(XReadArgs.StreamOffset[]::new);
      reads.add(cmd.xread(XReadArgs.Builder.count(1), chunk).toCompletableFuture()
          .thenApply(this::wakeBehind)
          .exceptionally(e -> {
            log.debug("stream watch of redis instance '{}': XREAD failed: {}", handle.instance(), e.toString());
            return 0;
          }));
    }
    return CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).handle((v, e) -> {
      running.set(false);
      return reads.stream().mapToInt(f -> f.getNow(0)).sum();
    });
  }

  /** Wakes, per stream that has a newer entry, the idle subscriptions that do not know of it. */
  private int wakeBehind(List<StreamMessage<String, byte[]>> news) {
    int n = 0;
    for (StreamMessage<String, byte[]> m : news) {
      Map<Object, Idle> subs = idle.get(m.getStream());
      if (subs == null) continue;
      for (Map.Entry<Object, Idle> e : subs.entrySet()) {
        Idle i = e.getValue();
        if (StreamIds.compare(i.known(), m.getId()) < 0 && subs.remove(e.getKey(), i)) {
          onWoken.run();
          n++;
          i.wake().run();
        }
      }
      idle.computeIfPresent(m.getStream(), (k, v) -> v.isEmpty() ? null : v);
    }
    if (n > 0) {
      log.debug("stream watch of redis instance '{}': woke {} idle subscriptions (entries no wake-up announced)",
          handle.instance(), n);
    }
    return n;
  }
}
