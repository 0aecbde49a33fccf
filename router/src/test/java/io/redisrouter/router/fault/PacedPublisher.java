package io.redisrouter.router.fault;

import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A load generator for fault tests: publishes {@code total} messages with ids {@code prefix + n} at a bounded rate
 * ({@code perTick} new messages every {@code tick}) and with at most {@code maxInFlight} publishes awaiting their
 * reply, so that the stream spans the fault the test injects. Never blocks: a scheduler thread ticks, replies come
 * back on futures.
 *
 * <p>Records in the {@link MessageChecker}: {@code sent(id)} on the first publish of an id, {@code acked(id)} once
 * an {@link PublishReply.Accepted} arrived for it. With {@code retry}, an id whose publish was not accepted
 * (rejected, expired, no reply) is published again with the same message id, so the router's dedup decides whether
 * an earlier, unconfirmed write already made it.
 */
final class PacedPublisher implements AutoCloseable {

  private final String prefix;
  private final String channel;
  private final int total;
  private final int perTick;
  private final int maxInFlight;
  private final boolean retry;
  private final Function<PublishRequest, CompletionStage<PublishReply>> publish;
  private final Function<String, PublishRequest> request;
  private final MessageChecker checker;
  private final ScheduledExecutorService ticker;
  private final Duration tick;

  private final Object lock = new Object();
  private final Deque<Retry> retries = new ArrayDeque<>();
  private int next;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger accepted = new AtomicInteger();
  private final AtomicInteger sent = new AtomicInteger();
  private final AtomicInteger given = new AtomicInteger(); // ids that ended without acceptance (retry off)

  final LongAdder acceptedDuplicate = new LongAdder();
  final LongAdder rejectedUnavailable = new LongAdder();
  final LongAdder rejectedOther = new LongAdder();
  final LongAdder expired = new LongAdder();
  final LongAdder noReply = new LongAdder();
  final LongAdder retried = new LongAdder();

  private record Retry(String id, long notBeforeNanos) {}

  PacedPublisher(String name, String prefix, String channel, int total, int perTick, Duration tick, int maxInFlight,
      boolean retry, MessageChecker checker,
      Function<PublishRequest, CompletionStage<PublishReply>> publish,
      Function<String, PublishRequest> request) {
    this.prefix = prefix;
    this.channel = channel;
    this.total = total;
    this.perTick = perTick;
    this.tick = tick;
    this.maxInFlight = maxInFlight;
    this.retry = retry;
    this.checker = checker;
    this.publish = publish;
    this.request = request;
    this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    });
  }

  static String id(String prefix, int n) {
    return prefix + String.format("%06d", n);
  }

  void start() {
    ticker.scheduleAtFixedRate(this::onTick, 0, tick.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void onTick() {
    int budget = perTick;
    long now = System.nanoTime();
    while (budget > 0 && inFlight.get() < maxInFlight) {
      String id;
      boolean first;
      synchronized (lock) {
        Retry r = retries.peekFirst();
        if (r != null && r.notBeforeNanos() <= now) {
          retries.pollFirst();
          id = r.id();
          first = false;
        } else if (next < total) {
          id = id(prefix, next++);
          first = true;
        } else {
          return;
        }
      }
      budget--;
      if (first) {
        checker.sent(id);
        sent.incrementAndGet();
      } else {
        retried.increment();
      }
      inFlight.incrementAndGet();
      CompletionStage<PublishReply> f;
      try {
        f = publish.apply(request.apply(id));
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      f.whenComplete((reply, err) -> onReply(id, reply, err));
    }
  }

  private void onReply(String id, PublishReply reply, Throwable err) {
    inFlight.decrementAndGet();
    Duration again = Duration.ofMillis(100);
    if (reply instanceof PublishReply.Accepted a) {
      if (a.duplicate()) acceptedDuplicate.increment();
      checker.accepted(id);
      accepted.incrementAndGet();
      return;
    }
    if (reply instanceof PublishReply.Rejected r) {
      if (r.reason() == PublishReply.RejectReason.UNAVAILABLE) {
        rejectedUnavailable.increment();
      } else {
        rejectedOther.increment();
      }
      if (r.retryAfter() != null) again = r.retryAfter();
    } else if (reply instanceof PublishReply.Expired) {
      expired.increment();
    } else {
      noReply.increment(); // the ask timed out: the write may or may not have happened
    }
    if (retry) {
      synchronized (lock) {
        retries.addLast(new Retry(id, System.nanoTime() + again.toNanos()));
      }
    } else {
      given.incrementAndGet();
    }
  }

  /** Ids published at least once. */
  int sent() {
    return sent.get();
  }

  /** Ids accepted. */
  int accepted() {
    return accepted.get();
  }

  /** True once every id was published and got its final outcome (accepted, or not retried). */
  boolean done() {
    synchronized (lock) {
      return next >= total && retries.isEmpty() && inFlight.get() == 0
          && accepted.get() + given.get() >= total;
    }
  }

  /** Waits (at most {@code max}) until {@link #done}; the failure shows the {@link #summary}. */
  void awaitDone(TestProbe<?> probe, Duration max) {
    probe.awaitAssert(max, () -> {
      assertTrue(done(), this::summary);
      return null;
    });
  }

  String channel() {
    return channel;
  }

  String summary() {
    return "published=" + sent() + "/" + total + " accepted=" + accepted() + " (of which duplicate="
        + acceptedDuplicate.sum() + ") rejectedUnavailable=" + rejectedUnavailable.sum() + " rejectedOther="
        + rejectedOther.sum() + " expired=" + expired.sum() + " noReply=" + noReply.sum() + " republished="
        + retried.sum();
  }

  @Override
  public void close() {
    ticker.shutdownNow();
  }
}
