package io.redisrouter.router.delivery;

import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.DeadLetterPage;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.delivery.DeliveryITSupport.DeadEntry;
import io.redisrouter.router.delivery.DeliveryITSupport.Received;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Nacks on a real Redis: a retryable nack is retried with exponentially growing delays until the attempt limit and
 * then dead-lettered ({@code max-attempts}); a do-not-retry nack is dead-lettered at once ({@code rejected}). In both
 * cases the source entry is acknowledged, so nothing stays pending.
 */
class NackRetryDeadLetterIT {
  static final int MAX_ATTEMPTS = 4;
  static final long BACKOFF_MIN_MS = 200;

  @RegisterExtension
  static final RouterExtension node = RouterExtension
      .withConfig("channels.defaults.max-attempts = " + MAX_ATTEMPTS + "\n"
          + "channels.defaults.backoff { min = " + BACKOFF_MIN_MS + "ms, max = 5s, jitter = 0 }\n"
          + "channels.defaults.ack-timeout = 10s\n");

  @Test
  void retryableNackIsRetriedWithGrowingDelaysThenDeadLetteredAsMaxAttempts() {
    String channel = "nack-retry";
    String id = "retry-1";
    MessageChecker checker = new MessageChecker();
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, channel, "worker",
        d -> d.nack("boom on attempt " + d.envelope().attempt(), false));
    long nackedBefore = node.metrics().snapshot().nacked();
    long retriedBefore = node.metrics().snapshot().retried();

    byte[] payload = RouterTestSupport.payload(id, 64);
    checker.sent(id);
    PublishReply reply = node.publish(PublishRequest.of(channel, payload).withMessageId(id));
    PublishReply.Accepted accepted = assertInstanceOf(PublishReply.Accepted.class, reply, () -> "reply " + reply);
    checker.accepted(id);

    List<Received> got = new ArrayList<>();
    for (int i = 0; i < MAX_ATTEMPTS; i++) {
      Received r = deliveries.receiveMessage(Duration.ofSeconds(15));
      checker.delivered(r.messageId());
      got.add(r);
    }
    // terminal: the dead letter appears once, and no delivery follows it
    List<DeadEntry> dead = deliveries.awaitAssert(Duration.ofSeconds(10), () -> {
      List<DeadEntry> d = DeliveryITSupport.deadEntries(node.redis(), channel);
      assertEquals(1, d.size(), () -> "dead letters: " + d);
      return d;
    });
    checker.deadLettered(id);
    deliveries.expectNoMessage(Duration.ofMillis(800));

    Set<String> deliveryIds = new HashSet<>();
    for (int i = 0; i < got.size(); i++) {
      Received r = got.get(i);
      assertEquals(id, r.messageId());
      assertEquals(i + 1, r.attempt(), "attempt number of delivery " + (i + 1));
      assertArrayEquals(payload, r.delivery().envelope().payload());
      assertTrue(r.delivery().ackRequired());
      deliveryIds.add(r.delivery().deliveryId());
    }
    assertEquals(MAX_ATTEMPTS, deliveryIds.size(), () -> "delivery ids must differ per attempt: " + deliveryIds);

    // backoff doubles per retry with no jitter: gap i (before attempt i+2) is at least min * 2^i, and gaps grow
    long[] gapsMs = new long[got.size() - 1];
    for (int i = 0; i < gapsMs.length; i++) {
      gapsMs[i] = (got.get(i + 1).nanos() - got.get(i).nanos()) / 1_000_000;
    }
    String gaps = Arrays.toString(gapsMs);
    for (int i = 0; i < gapsMs.length; i++) {
      long floor = (BACKOFF_MIN_MS << i) - 5; // 5 ms of timer rounding
      assertTrue(gapsMs[i] >= floor, "gap " + i + " is " + gapsMs[i] + " ms, below the backoff " + floor + " ms: "
          + gaps);
    }
    for (int i = 0; i + 1 < gapsMs.length; i++) {
      assertTrue(gapsMs[i + 1] > gapsMs[i], "gaps between attempts must grow: " + gaps);
    }
    assertTrue(gapsMs[gapsMs.length - 1] > 2 * gapsMs[0], "last gap must be more than twice the first: " + gaps);

    DeadEntry d = dead.get(0);
    assertEquals(DeadLetter.MAX_ATTEMPTS, d.reason(), d::toString);
    assertEquals(MAX_ATTEMPTS, d.attempts(), d::toString);
    assertTrue(d.error().contains("boom on attempt " + MAX_ATTEMPTS), () -> "last nack error expected: " + d);
    assertEquals("worker", d.sub());
    assertEquals(accepted.streamId(), d.src());
    assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), channel, "worker"),
        "source entry must be acknowledged");

    DeadLetterPage page = DeliveryITSupport.readDeadLetters(node.kit(), node.router(), channel);
    assertNull(page.error(), page::toString);
    assertEquals(1, page.items().size(), page::toString);
    DeadLetter dl = page.items().get(0);
    assertEquals(d.id(), dl.deadLetterId());
    assertEquals(id, dl.envelope().id());
    assertArrayEquals(payload, dl.envelope().payload());
    assertEquals(DeadLetter.MAX_ATTEMPTS, dl.reason());
    assertEquals(MAX_ATTEMPTS, dl.attempts());
    assertEquals(d.error(), dl.lastError());
    assertEquals("worker", dl.subscription());

    assertEquals(MAX_ATTEMPTS, node.metrics().snapshot().nacked() - nackedBefore, "nacks counted");
    assertEquals(MAX_ATTEMPTS - 1, node.metrics().snapshot().retried() - retriedBefore, "retries counted");

    MessageChecker.Report report = checker.report();
    checker.logReport("retryableNackIsRetriedWithGrowingDelaysThenDeadLetteredAsMaxAttempts gaps=" + gaps);
    assertEquals(0, report.lost(), report::toString);
    assertEquals(MAX_ATTEMPTS, checker.deliveryCount(id), report::toString);
    assertEquals(MAX_ATTEMPTS - 1, report.duplicated(), report::toString);
    assertEquals(1, report.deadLettered(), report::toString);
    assertEquals(0, report.unexpected(), report::toString);
  }

  @Test
  void doNotRetryNackIsDeadLetteredAtOnceAsRejected() {
    String channel = "nack-reject";
    String id = "poison-1";
    MessageChecker checker = new MessageChecker();
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, channel, "worker",
        d -> d.nack("cannot parse " + d.envelope().id(), true));

    checker.sent(id);
    PublishReply reply = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(channel, RouterTestSupport.payload(id, 32)).withMessageId(id));
    PublishReply.Accepted accepted = assertInstanceOf(PublishReply.Accepted.class, reply, () -> "reply " + reply);
    checker.accepted(id);

    Received first = deliveries.receiveMessage(Duration.ofSeconds(10));
    checker.delivered(first.messageId());
    assertEquals(id, first.messageId());
    assertEquals(1, first.attempt());
    List<DeadEntry> dead = deliveries.awaitAssert(Duration.ofSeconds(10), () -> {
      List<DeadEntry> d = DeliveryITSupport.deadEntries(node.redis(), channel);
      assertEquals(1, d.size(), () -> "dead letters: " + d);
      return d;
    });
    checker.deadLettered(id);
    // well past the first retry's backoff (200 ms): a retry would have shown up
    deliveries.expectNoMessage(Duration.ofMillis(800));

    DeadEntry d = dead.get(0);
    assertEquals(DeadLetter.REJECTED, d.reason(), d::toString);
    assertEquals(1, d.attempts(), d::toString);
    assertTrue(d.error().contains("cannot parse " + id), () -> "nack error expected: " + d);
    assertEquals(accepted.streamId(), d.src());
    assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), channel, "worker"),
        "source entry must be acknowledged");

    DeadLetterPage page = DeliveryITSupport.readDeadLetters(node.kit(), node.router(), channel);
    assertEquals(1, page.items().size(), page::toString);
    DeadLetter dl = page.items().get(0);
    assertEquals(id, dl.envelope().id());
    assertEquals(DeadLetter.REJECTED, dl.reason());
    assertEquals(1, dl.attempts());
    assertEquals(d.error(), dl.lastError());

    MessageChecker.Report report = checker.report();
    checker.logReport("doNotRetryNackIsDeadLetteredAtOnceAsRejected");
    assertEquals(0, report.lost(), report::toString);
    assertEquals(1, checker.deliveryCount(id), report::toString);
    assertEquals(0, report.duplicated(), report::toString);
    assertEquals(1, report.deadLettered(), report::toString);
  }
}
