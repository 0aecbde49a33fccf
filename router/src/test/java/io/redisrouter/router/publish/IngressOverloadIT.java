package io.redisrouter.router.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A tiny ingress in front of a paused Redis: what does not fit is refused at once with {@code OVERLOADED} and a
 * retry delay, without waiting on Redis and without holding memory per refused message; what was taken is answered
 * once Redis is back (or refused {@code UNAVAILABLE} when its write timed out). Every publish gets exactly one reply.
 */
class IngressOverloadIT {
  private static final Logger log = LoggerFactory.getLogger(IngressOverloadIT.class);

  private static final int QUEUE = 100;
  private static final int BATCH = 10;
  private static final int IN_FLIGHT = 1;
  /** Most messages the router may hold: the queue, one batch being assembled, the batches being written. */
  private static final int HELD_BOUND = QUEUE + BATCH + BATCH * IN_FLIGHT;
  private static final int FLOOD = 20_000;
  private static final int PAYLOAD = 4096;
  private static final String CHANNEL = "flood";

  // reply kinds
  private static final int ACCEPTED = 1;
  private static final int OVERLOADED = 2;
  private static final int UNAVAILABLE = 3;
  private static final int OTHER = 4;

  // per message index: preallocated so that the test's own bookkeeping does not grow during the floods
  static final AtomicLongArray sentAt = new AtomicLongArray(2 * FLOOD);
  static final AtomicLongArray repliedAt = new AtomicLongArray(2 * FLOOD);
  static final AtomicIntegerArray kind = new AtomicIntegerArray(2 * FLOOD);
  static final AtomicIntegerArray replies = new AtomicIntegerArray(2 * FLOOD);
  static final LongAdder answered = new LongAdder();
  static final LongAdder badRetryAfter = new LongAdder();
  static final Map<Integer, String> unavailableMessages = new ConcurrentHashMap<>();

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig(
      "ingress { queue-size = " + QUEUE + ", batch-size = " + BATCH + ", max-batches-in-flight = " + IN_FLIGHT
          + " }\n"
          + "redis.instances.default.command-timeout = 3s\n");

  @AfterAll
  static void stop() {
    if (node.redis() != null) node.redis().resume(); // in case a failed assertion left it stopped
  }

  private static String id(int i) {
    return String.format("m%06d", i);
  }

  /** Records every reply by the index in its message id. */
  private static Behavior<PublishReply> collector() {
    return Behaviors.receiveMessage(r -> {
      int i = Integer.parseInt(r.messageId().substring(1));
      repliedAt.set(i, System.nanoTime());
      int k;
      if (r instanceof PublishReply.Accepted) {
        k = ACCEPTED;
      } else if (r instanceof PublishReply.Rejected rej && rej.reason() == PublishReply.RejectReason.OVERLOADED) {
        k = OVERLOADED;
        if (rej.retryAfter().isZero() || rej.retryAfter().isNegative()) badRetryAfter.increment();
      } else if (r instanceof PublishReply.Rejected rej && rej.reason() == PublishReply.RejectReason.UNAVAILABLE) {
        k = UNAVAILABLE;
        unavailableMessages.put(i, rej.message());
      } else {
        k = OTHER;
        log.warn("unexpected reply {}", r);
      }
      kind.set(i, k);
      replies.incrementAndGet(i);
      answered.increment();
      return Behaviors.same();
    });
  }

  private static void flood(ActorRef<PublishReply> replyTo, int from) {
    for (int i = from; i < from + FLOOD; i++) {
      PublishRequest r = PublishRequest.of(CHANNEL, RouterTestSupport.payload(id(i), PAYLOAD)).withMessageId(id(i));
      sentAt.set(i, System.nanoTime());
      node.router().tell(new RouterCommand.Publish(r, replyTo));
    }
  }

  /** Publishes of [from, to) that have no reply yet. */
  private static int unanswered(int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) {
      if (replies.get(i) == 0) n++;
    }
    return n;
  }

  private static int count(int k, int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) {
      if (kind.get(i) == k) n++;
    }
    return n;
  }

  private static long usedHeapAfterGc() {
    MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
    for (int i = 0; i < 3; i++) mem.gc();
    return mem.getHeapMemoryUsage().getUsed();
  }

  /** Waits (Redis still paused) until every refusal of the flood arrived: only what the router holds is unanswered. */
  private static int awaitOnlyHeldUnanswered(int from) {
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), Duration.ofMillis(20), () -> {
      int open = unanswered(from, from + FLOOD);
      assertTrue(open <= HELD_BOUND, () -> open + " publishes unanswered, the router may hold at most " + HELD_BOUND);
      return null;
    });
    return unanswered(from, from + FLOOD);
  }

  @Test
  void overloadIsRefusedFastWithBoundedMemoryAndEveryPublishIsAnsweredOnce() {
    // the router is connected and the stream exists before Redis stops
    assertInstanceOf(PublishReply.Accepted.class,
        node.publish(PublishRequest.of(CHANNEL, new byte[]{1}).withMessageId("warm-up")));
    ActorRef<PublishReply> replyTo = node.kit().spawn(collector(), "collector");
    long heap0 = usedHeapAfterGc();

    node.redis().pause();
    long pausedAt = System.nanoTime();
    long resumedAt;
    int held1;
    int held2;
    long heap1;
    long heap2;
    try {
      flood(replyTo, 0);
      held1 = awaitOnlyHeldUnanswered(0);
      heap1 = usedHeapAfterGc();

      flood(replyTo, FLOOD);
      held2 = awaitOnlyHeldUnanswered(FLOOD);
      heap2 = usedHeapAfterGc();

      // keep Redis stopped past the 3 s command timeout: the batch being written times out and is answered
      // UNAVAILABLE while Redis is still paused (the router does not wait for it forever)
      node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), Duration.ofMillis(50), () -> {
        assertTrue(count(UNAVAILABLE, 0, 2 * FLOOD) > 0, "no write timed out yet");
        return null;
      });
    } finally {
      resumedAt = System.nanoTime();
      node.redis().resume();
    }
    long pausedMs = (resumedAt - pausedAt) / 1_000_000;

    // after Redis is back, every publish is answered
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(50), () -> {
      assertEquals(0, unanswered(0, 2 * FLOOD), "publishes without a reply");
      return null;
    });
    // a publish after all of them goes through the same FIFO ingress: once it is answered, a second reply to an
    // earlier publish would have shown up by now
    assertInstanceOf(PublishReply.Accepted.class,
        node.publish(PublishRequest.of(CHANNEL, new byte[]{2}).withMessageId("marker")));

    int total = 2 * FLOOD;
    int accepted = count(ACCEPTED, 0, total);
    int overloaded = count(OVERLOADED, 0, total);
    int unavailable = count(UNAVAILABLE, 0, total);
    int other = count(OTHER, 0, total);
    int[] counts = new int[total];
    for (int i = 0; i < total; i++) counts[i] = replies.get(i);
    long twice = Arrays.stream(counts).filter(c -> c > 1).count();

    // rejection latency (tell -> reply) and the latest rejection relative to the resume
    long[] lat = new long[overloaded];
    long lastRejection = Long.MIN_VALUE;
    int j = 0;
    for (int i = 0; i < total; i++) {
      if (kind.get(i) == OVERLOADED) {
        lat[j++] = repliedAt.get(i) - sentAt.get(i);
        lastRejection = Math.max(lastRejection, repliedAt.get(i));
      }
    }
    Arrays.sort(lat);
    double p50 = lat.length == 0 ? 0 : lat[lat.length / 2] / 1e6;
    double p99 = lat.length == 0 ? 0 : lat[(int) (lat.length * 0.99)] / 1e6;
    double max = lat.length == 0 ? 0 : lat[lat.length - 1] / 1e6;

    // what Redis holds: every Accepted message must be in the stream
    List<?> entries = (List<?>) node.redis().callBinary("XRANGE", RedisKeys.stream(CHANNEL), "-", "+");
    Set<String> inStream = new HashSet<>();
    for (Object o : entries) {
      List<?> entry = (List<?>) o;
      List<?> fields = (List<?>) entry.get(1);
      for (int f = 0; f + 1 < fields.size(); f += 2) {
        if (RedisKeys.FIELD_ENVELOPE.equals(new String((byte[]) fields.get(f), StandardCharsets.UTF_8))) {
          inStream.add(EnvelopeCodec.decode((byte[]) fields.get(f + 1)).id());
        }
      }
    }
    MessageChecker checker = new MessageChecker();
    int unavailableButWritten = 0;
    List<String> misleading = new java.util.ArrayList<>();
    for (int i = 0; i < total; i++) {
      checker.sent(id(i));
      if (kind.get(i) == ACCEPTED) checker.accepted(id(i));
      if (inStream.contains(id(i))) {
        checker.delivered(id(i));
        if (kind.get(i) == UNAVAILABLE) {
          unavailableButWritten++;
          // the refusal must not have claimed that nothing was written
          String m = unavailableMessages.get(i);
          if (m.contains("nothing was written") || !m.contains("may still happen")
              || !m.contains("messageId '" + id(i) + "'")) {
            misleading.add(id(i) + ": " + m);
          }
        }
      }
    }
    MessageChecker.Report report = checker.report();
    checker.logReport("IngressOverloadIT");
    log.info("IngressOverloadIT: sent={} accepted={} rejectedOverloaded={} rejectedUnavailable={} (of which in the"
        + " stream after all: {}) other={} repliedTwice={}; Redis paused {} ms; held unanswered while paused:"
        + " {} / {} (bound {}); OVERLOADED latency p50={} ms p99={} ms max={} ms, last one {} ms before the resume;"
        + " used heap after GC: before={} MB after flood 1={} MB after flood 2={} MB (growth {} MB per {} refused)",
        total, accepted, overloaded, unavailable, unavailableButWritten, other, twice, pausedMs, held1, held2,
        HELD_BOUND, fmt(p50), fmt(p99), fmt(max), (resumedAt - lastRejection) / 1_000_000,
        mb(heap0), mb(heap1), mb(heap2), mb(heap2 - heap1), count(OVERLOADED, FLOOD, total));

    // exactly one reply per publish, all of the expected kinds
    assertEquals(0, twice, "publishes answered more than once");
    assertEquals(0, other, "unexpected replies (see the log)");
    assertEquals(total, accepted + overloaded + unavailable);
    // most of the flood was refused, and what the router took is bounded by its configuration
    assertTrue(overloaded >= total - 4 * HELD_BOUND, () -> "only " + overloaded + " of " + total + " refused");
    assertTrue(accepted + unavailable >= QUEUE, () -> "the router took only " + (accepted + unavailable));
    assertTrue(accepted > 0, "nothing was accepted after the resume");
    assertTrue(unavailable > 0 && unavailable <= HELD_BOUND, () -> unavailable + " UNAVAILABLE");
    assertEquals(0, badRetryAfter.sum(), "OVERLOADED replies without a positive retryAfter");
    // refusals did not wait on Redis: all arrived while it was paused, and far below its 3 s command timeout
    assertTrue(lastRejection < resumedAt, "a refusal arrived only after Redis was resumed");
    assertTrue(p99 < 1000, () -> "OVERLOADED p99 latency " + p99 + " ms");
    // memory does not grow with the number of refused messages (20 000 refused 4 KiB payloads would be ~80 MB)
    assertTrue(heap2 - heap1 < 50L * 1024 * 1024, () -> "used heap grew by " + mb(heap2 - heap1) + " MB");
    // a refusal whose write happened anyway (timed out, then executed when Redis caught up) said so
    assertEquals(List.of(), misleading, "UNAVAILABLE replies that claimed nothing was written, yet it was");
    // nothing accepted is missing from Redis
    assertEquals(accepted, report.accepted());
    assertEquals(0, report.lost(), () -> "accepted but not in the stream: " + checker.lostIds());
    assertEquals(0, report.unexpected());
    // the router's own counters agree with the replies (warm-up and marker included)
    assertEquals(accepted + 2, node.metrics().snapshot().publishAccepted());
    assertEquals(overloaded + unavailable, node.metrics().snapshot().publishRejected());
  }

  private static String mb(long bytes) {
    return String.format("%.1f", bytes / (1024.0 * 1024.0));
  }

  private static String fmt(double ms) {
    return String.format("%.2f", ms);
  }
}
