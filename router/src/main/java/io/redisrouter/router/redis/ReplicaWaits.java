package io.redisrouter.router.redis;

import io.lettuce.core.api.StatefulRedisConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * {@code WAIT numreplicas timeout} on one connection, at most one at a time: the replication confirmation of the
 * writes of channels with {@code durability = replica(N)}.
 *
 * <p>{@code WAIT} answers how many replicas acknowledged every write the connection made before it (the server keeps
 * the replication offset of each client's last write), so one {@code WAIT} covers any number of earlier writes: a
 * caller asks {@link #confirm} once its writes were answered, and every caller that asks while a {@code WAIT} is out
 * shares the next one, sent when it returns (with the largest replica count and timeout among them). While a
 * {@code WAIT} waits, the server holds every later command of the same connection behind it: about a round trip with
 * healthy replicas, up to the timeout when one is missing. Keeping one out at a time bounds that to one timeout per
 * round, and the commands queued behind it run between two of them.
 *
 * <p>Thread safe. Never blocks: the {@code WAIT} is an ordinary asynchronous command.
 */
public final class ReplicaWaits {
  private static final Logger log = LoggerFactory.getLogger(ReplicaWaits.class);

  private record Waiter(int replicas, long timeoutMs, CompletableFuture<Long> result) {}

  private final StatefulRedisConnection<String, byte[]> connection;
  private final java.util.concurrent.Executor executor;
  private final Object lock = new Object();
  private List<Waiter> next = new ArrayList<>();
  private boolean inFlight;
  /** The last WAIT came back short of what it asked for (logged once per change). */
  private volatile boolean short_;
  private final java.util.concurrent.atomic.AtomicLong waits = new java.util.concurrent.atomic.AtomicLong();

  /** Confirmations for the writes made on {@code connection} (the one they were made on: WAIT is per client). */
  public ReplicaWaits(StatefulRedisConnection<String, byte[]> connection) {
    this.connection = Objects.requireNonNull(connection, "connection");
    this.executor = connection.getResources().eventExecutorGroup();
  }

  /**
   * Completes with the number of replicas that confirmed every write this connection made before the call, as a
   * {@code WAIT} sent after it counted them (at least {@code replicas} means all of them; fewer after
   * {@code timeout}); exceptionally when the {@code WAIT} failed (the connection closed, a timeout). Call it once the
   * writes to cover were answered.
   *
   * @param replicas at least 1
   * @param timeout  more than 0 ({@code WAIT} with timeout 0 would block for ever)
   */
  public CompletionStage<Long> confirm(int replicas, Duration timeout) {
    if (replicas < 1) throw new IllegalArgumentException("replicas must be >= 1: " + replicas);
    long ms = timeout.toMillis();
    if (ms < 1) throw new IllegalArgumentException("timeout must be >= 1ms: " + timeout);
    CompletableFuture<Long> f = new CompletableFuture<>();
    boolean send;
    synchronized (lock) {
      next.add(new Waiter(replicas, ms, f));
      send = !inFlight;
      inFlight = true;
    }
    if (send) sendLater();
    return f;
  }

  /** WAITs sent on this connection so far. */
  public long waits() {
    return waits.get();
  }

  private void sendNext() {
    List<Waiter> group;
    synchronized (lock) {
      group = next;
      if (group.isEmpty()) {
        inFlight = false;
        return;
      }
      next = new ArrayList<>();
    }
    int replicas = 0;
    long timeoutMs = 0;
    for (Waiter w : group) {
      replicas = Math.max(replicas, w.replicas());
      timeoutMs = Math.max(timeoutMs, w.timeoutMs());
    }
    int asked = replicas;
    long started = System.nanoTime();
    waits.incrementAndGet();
    CompletionStage<Long> wait;
    try {
      wait = connection.async().waitForReplication(replicas, timeoutMs);
    } catch (RuntimeException e) {
      wait = CompletableFuture.failedFuture(e);
    }
    wait.whenComplete((confirmed, err) -> {
      if (err != null) {
        for (Waiter w : group) w.result().completeExceptionally(err);
      } else {
        noteOutcome(asked, confirmed, (System.nanoTime() - started) / 1_000_000);
        for (Waiter w : group) w.result().complete(confirmed);
      }
      sendLater();
    });
  }

  /**
   * {@link #sendNext} a moment later, on the client's computation threads: callers whose writes were answered in the
   * same read from the connection as the last {@code WAIT} (the commands the server held behind it) join the next
   * {@code WAIT} instead of each waiting for one of their own. Only the sharing depends on this timing, never the
   * safety: a caller asks after its writes were answered, so any {@code WAIT} sent after that covers them.
   */
  private void sendLater() {
    try {
      executor.execute(this::sendNext);
    } catch (RuntimeException rejected) {
      sendNext(); // the client is shutting down: send (or fail) now
    }
  }

  private void noteOutcome(int asked, long confirmed, long tookMs) {
    boolean now = confirmed < asked;
    if (now == short_) return;
    short_ = now;
    if (now) {
      log.warn("WAIT {}: only {} replica(s) confirmed the writes within {} ms; publishes to channels with durability"
          + " replica(N) are refused not-replicated until they do (logged again when they are back)", asked, confirmed,
          tookMs);
    } else {
      log.info("WAIT {}: {} replica(s) confirm the writes again ({} ms)", asked, confirmed, tookMs);
    }
  }
}
