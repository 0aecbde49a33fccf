package io.redisrouter.router.publish;

import io.redisrouter.router.http.ServiceExtension;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 50,000 {@code until-received} broadcasts with no receiver: at most {@code ingress.until-received-max} of them wait
 * (republished with backoff), the others are refused {@code overloaded} at once, and a reliable subscription on the
 * same node keeps its pace. Before the bound, every one of them waited and was republished over the command
 * connection until its deadline.
 */
class UntilReceivedBoundIT {
  private static final Logger log = LoggerFactory.getLogger(UntilReceivedBoundIT.class);
  private static final int MAX_WAITING = 1000;
  private static final int TOTAL = 50_000;

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("until-received-bound").config("""
      redis-router.ingress.until-received-max = %d
      redis-router.channels.overrides.nobody-listens {
        mode = broadcast, broadcast-delivery = until-received, time-to-live = 4s
        backoff { min = 100ms, max = 400ms }
      }
      """.formatted(MAX_WAITING));

  @Test
  void untilReceivedBroadcastsAreBoundedAndReliableDeliveryKeepsItsPace() throws Exception {
    RouterRuntime runtime = node.service().runtime();
    MessageChecker checker = new MessageChecker();
    Map<String, Long> publishedAt = new ConcurrentHashMap<>();
    List<Long> latencyMs = java.util.Collections.synchronizedList(new ArrayList<>());
    ActorRef<Delivery> reader = node.kit().spawn(RouterTestSupport.acking(d -> {
      checker.delivered(d.envelope().id());
      Long t0 = publishedAt.get(d.envelope().id());
      if (t0 != null) latencyMs.add((System.nanoTime() - t0) / 1_000_000);
    }));
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(node.kit(), runtime.router(), "work", "readers", reader));

    LongAdder overloaded = new LongAdder();
    LongAdder expired = new LongAdder();
    LongAdder other = new LongAdder();
    AtomicInteger maxWaiting = new AtomicInteger();
    List<CompletableFuture<PublishReply>> broadcasts = new ArrayList<>(TOTAL);
    int reliable = 0;
    long t0 = System.nanoTime();
    for (int i = 0; i < TOTAL; i++) {
      broadcasts.add(runtime.publish(PublishRequest.of("nobody-listens", RouterTestSupport.payload("b" + i, 16)))
          .toCompletableFuture());
      if (i % 500 == 0) {
        // a reliable message every 500 broadcasts, timed from publish to delivery
        String id = "r-" + i;
        checker.sent(id);
        publishedAt.put(id, System.nanoTime());
        PublishReply r = runtime.publish(PublishRequest.of("work", RouterTestSupport.payload(id, 16))
            .withMessageId(id)).toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
        checker.accepted(id);
        reliable++;
        maxWaiting.accumulateAndGet(runtime.untilReceivedWaiting(), Math::max);
      }
    }
    long publishMs = (System.nanoTime() - t0) / 1_000_000;
    for (CompletableFuture<PublishReply> f : broadcasts) {
      PublishReply r = f.get(30, TimeUnit.SECONDS);
      if (r instanceof PublishReply.Rejected rej && rej.reason() == PublishReply.RejectReason.OVERLOADED) {
        overloaded.increment();
      } else if (r instanceof PublishReply.Expired) {
        expired.increment();
      } else {
        other.increment();
      }
      maxWaiting.accumulateAndGet(runtime.untilReceivedWaiting(), Math::max);
    }
    int total = reliable;
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(total, latencyMs.size(), "reliable messages delivered");
      return null;
    });
    long[] lat = latencyMs.stream().mapToLong(Long::longValue).sorted().toArray();
    log.info("{} until-received broadcasts in {} ms with no receiver: overloaded={} expired={} other={} max waiting={}"
        + " (bound {}); {} reliable messages meanwhile: latency p50={} ms max={} ms", TOTAL, publishMs,
        overloaded.sum(), expired.sum(), other.sum(), maxWaiting.get(), MAX_WAITING, lat.length, lat[lat.length / 2],
        lat[lat.length - 1]);
    // the bound was reached (the fault happened) and held
    assertTrue(maxWaiting.get() > 0 && maxWaiting.get() <= MAX_WAITING, "waiting: " + maxWaiting.get());
    assertTrue(overloaded.sum() >= TOTAL - 2L * MAX_WAITING, "refused overloaded: " + overloaded.sum());
    // every broadcast was answered: refused, or expired after waiting (nobody listens)
    assertEquals(TOTAL, overloaded.sum() + expired.sum(), "other answers: " + other.sum());
    assertTrue(expired.sum() >= MAX_WAITING / 2, "some waited until their deadline: " + expired.sum());
    // the reliable subscription kept its pace
    assertEquals(0, checker.report().lost(), "lost");
    assertTrue(lat[lat.length - 1] < 2000,
        "slowest reliable delivery " + lat[lat.length - 1] + " ms: " + Arrays.toString(lat));
    // once they expired, nothing waits
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0, runtime.untilReceivedWaiting());
      return null;
    });
  }
}
