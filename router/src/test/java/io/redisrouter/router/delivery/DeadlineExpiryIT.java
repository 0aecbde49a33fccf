package io.redisrouter.router.delivery;

import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.DeadLetterPage;
import io.redisrouter.protocol.Envelope;
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
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Deadlines on a real Redis: a message whose deadline passes while it waits for a free delivery slot, or while it
 * waits out a retry backoff, is dead-lettered as {@code expired} and never delivered after its deadline.
 */
class DeadlineExpiryIT {
  static final String WAIT_CHANNEL = "expiry-wait";
  static final String BACKOFF_CHANNEL = "expiry-backoff";
  static final String STALL_CHANNEL = "expiry-stall";
  static final long WAIT_ACK_TIMEOUT_MS = 2000;
  static final long BACKOFF_MIN_MS = 1000;

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("channels.overrides {\n"
      + "  \"" + WAIT_CHANNEL + "\" { max-in-flight = 1, ack-timeout = " + WAIT_ACK_TIMEOUT_MS + "ms }\n"
      + "  \"" + BACKOFF_CHANNEL + "\" { max-attempts = 10, ack-timeout = 10s,"
      + " backoff { min = " + BACKOFF_MIN_MS + "ms, max = 8s, jitter = 0 } }\n"
      + "  \"" + STALL_CHANNEL + "\" { max-attempts = 10, ack-timeout = 10s,"
      + " backoff { min = " + BACKOFF_MIN_MS + "ms, max = 8s, jitter = 0 } }\n"
      + "}\n");

  @Test
  void messageExpiringWhileAllSlotsAreBusyIsDeadLetteredWithoutDelivery() {
    String group = "worker";
    MessageChecker checker = new MessageChecker();
    // holds the only slot (max-in-flight = 1) by not answering the blocker's first delivery; acks anything else
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, WAIT_CHANNEL, group,
        d -> d.envelope().id().equals("blocker") && d.envelope().attempt() == 1 ? null : d.ack());
    long expiredBefore = node.metrics().snapshot().expired();

    checker.sent("blocker");
    assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(WAIT_CHANNEL, RouterTestSupport.payload("blocker", 32)).withMessageId("blocker")));
    checker.accepted("blocker");
    Received blocked = deliveries.receiveMessage(Duration.ofSeconds(10));
    checker.delivered(blocked.messageId());
    assertEquals("blocker", blocked.messageId());

    // the slot is taken: this one waits in the stream, and its 500 ms run out long before the 2 s ack timeout
    checker.sent("short");
    PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(WAIT_CHANNEL, RouterTestSupport.payload("short", 32)).withMessageId("short")
            .withTimeToLive(Duration.ofMillis(500)));
    PublishReply.Accepted shortAccepted = assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
    checker.accepted("short");

    List<Received> later = new ArrayList<>();
    List<DeadEntry> dead = awaitOneDeadLetter(deliveries, checker, later, WAIT_CHANNEL);
    checker.deadLettered("short");
    drain(deliveries, checker, later);
    deliveries.expectNoMessage(Duration.ofMillis(800));

    assertEquals(1, later.size(), () -> "expected only the blocker's redelivery, got " + later);
    Received redelivered = later.get(0);
    assertEquals("blocker", redelivered.messageId());
    assertEquals(2, redelivered.attempt());
    assertEquals(0, checker.deliveryCount("short"), "the expired message must never be delivered");

    DeadEntry d = dead.get(0);
    assertEquals(DeadLetter.EXPIRED, d.reason(), d::toString);
    assertEquals(shortAccepted.streamId(), d.src(), d::toString);
    assertEquals(0, d.attempts(), d::toString);
    assertEquals(group, d.sub());
    DeadLetterPage page = DeliveryITSupport.readDeadLetters(node.kit(), node.router(), WAIT_CHANNEL);
    assertEquals(1, page.items().size(), page::toString);
    DeadLetter dl = page.items().get(0);
    assertEquals("short", dl.envelope().id());
    assertEquals(DeadLetter.EXPIRED, dl.reason());
    // it was dead-lettered only once its deadline had passed, and the slot freed up only after it too
    assertFalse(dl.at().isBefore(dl.envelope().deadline().truncatedTo(ChronoUnit.MILLIS)),
        () -> "dead-lettered before its deadline: " + dl);
    assertTrue(redelivered.at().isAfter(dl.envelope().deadline()), "the slot must have stayed busy past the deadline");
    deliveries.awaitAssert(Duration.ofSeconds(5), () -> {
      assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), WAIT_CHANNEL, group), "pending entries");
      return null;
    });
    assertEquals(1, node.metrics().snapshot().expired() - expiredBefore, "expired counted");

    MessageChecker.Report report = checker.report();
    checker.logReport("messageExpiringWhileAllSlotsAreBusyIsDeadLetteredWithoutDelivery");
    assertEquals(0, report.lost(), report::toString);
    assertEquals(1, report.deadLettered(), report::toString);
    assertEquals(1, report.duplicated(), report::toString);
  }

  @Test
  void messageExpiringDuringRetryBackoffIsDeadLetteredAndNeverDeliveredLate() {
    String group = "worker";
    String id = "fading";
    MessageChecker checker = new MessageChecker();
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, BACKOFF_CHANNEL, group,
        d -> d.nack("busy on attempt " + d.envelope().attempt(), false));

    // retries at about +1 s and +3 s (backoff 1 s, doubling, no jitter): the 2 s deadline falls in the second wait
    checker.sent(id);
    PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(BACKOFF_CHANNEL, RouterTestSupport.payload(id, 32)).withMessageId(id)
            .withTimeToLive(Duration.ofSeconds(2)));
    PublishReply.Accepted accepted = assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
    checker.accepted(id);

    List<Received> got = new ArrayList<>();
    List<DeadEntry> dead = awaitOneDeadLetter(deliveries, checker, got, BACKOFF_CHANNEL);
    checker.deadLettered(id);
    drain(deliveries, checker, got);
    // the next retry would come 4 s after the expiry check; none must come at all
    deliveries.expectNoMessage(Duration.ofMillis(1500));

    assertFalse(got.isEmpty(), "the first attempt comes before the deadline");
    Envelope first = got.get(0).delivery().envelope();
    for (int i = 0; i < got.size(); i++) {
      Received g = got.get(i);
      assertEquals(i + 1, g.attempt(), "attempt numbers in order");
      assertEquals(first.deadline(), g.delivery().envelope().deadline(), "the deadline never changes");
      assertTrue(g.at().isBefore(g.delivery().envelope().deadline()),
          () -> "attempt " + g.attempt() + " delivered at " + g.at() + ", after the deadline " + first.deadline());
    }

    DeadEntry d = dead.get(0);
    assertEquals(DeadLetter.EXPIRED, d.reason(), d::toString);
    assertEquals(got.size(), d.attempts(), () -> "attempts made before expiry: " + d);
    assertTrue(d.error().contains("busy on attempt " + got.size()), () -> "last nack error kept: " + d);
    assertEquals(accepted.streamId(), d.src());
    DeadLetterPage page = DeliveryITSupport.readDeadLetters(node.kit(), node.router(), BACKOFF_CHANNEL);
    assertEquals(1, page.items().size(), page::toString);
    DeadLetter dl = page.items().get(0);
    assertEquals(id, dl.envelope().id());
    assertEquals(first.deadline(), dl.envelope().deadline());
    assertFalse(dl.at().isBefore(first.deadline().truncatedTo(ChronoUnit.MILLIS)),
        () -> "dead-lettered before its deadline: " + dl);
    assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), BACKOFF_CHANNEL, group), "source entry acknowledged");

    MessageChecker.Report report = checker.report();
    checker.logReport("messageExpiringDuringRetryBackoffIsDeadLetteredAndNeverDeliveredLate attempts=" + got.size());
    assertEquals(0, report.lost(), report::toString);
    assertEquals(1, report.deadLettered(), report::toString);
    assertEquals(got.size() - 1, report.duplicated(), report::toString);
  }

  @Test
  void deadlinePassingWhileARetryWaitsForRedisIsNotDeliveredLate() {
    String group = "worker";
    String id = "stalled";
    MessageChecker checker = new MessageChecker();
    // nacks the first attempt (retry in 1 s); would ack a later one
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, STALL_CHANNEL, group,
        d -> d.envelope().attempt() == 1 ? d.nack("try later", false) : d.ack());

    checker.sent(id);
    PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(STALL_CHANNEL, RouterTestSupport.payload(id, 32)).withMessageId(id)
            .withTimeToLive(Duration.ofMillis(1500)));
    PublishReply.Accepted accepted = assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
    checker.accepted(id);
    Received first = deliveries.receiveMessage(Duration.ofSeconds(10));
    checker.delivered(first.messageId());
    Instant deadline = first.delivery().envelope().deadline();

    // the retry starts about 1 s after the nack, before the deadline, and must re-claim the entry in Redis; Redis
    // answers only after the deadline has passed
    List<Received> got = new ArrayList<>();
    // the scenario needs the retry to start while Redis is stopped: the first attempt must leave time for that
    long leftMs = Duration.between(Instant.now(), deadline).toMillis();
    assertTrue(leftMs >= 800, "the first delivery came too late for this test (" + leftMs + " ms before the"
        + " deadline): the retry would not meet a stopped Redis");
    node.redis().pause();
    try {
      deliveries.expectNoMessage(Duration.between(Instant.now(), deadline).plusMillis(700));
    } finally {
      node.redis().resume();
    }
    List<DeadEntry> dead = awaitOneDeadLetter(deliveries, checker, got, STALL_CHANNEL);
    checker.deadLettered(id);
    deliveries.expectNoMessage(Duration.ofMillis(500));
    for (Received g : got) {
      assertTrue(g.at().isBefore(deadline),
          () -> "attempt " + g.attempt() + " delivered at " + g.at() + ", after the deadline " + deadline);
    }
    DeadEntry d = dead.get(0);
    assertEquals(DeadLetter.EXPIRED, d.reason(), d::toString);
    assertEquals(1 + got.size(), d.attempts(), d::toString);
    assertEquals(accepted.streamId(), d.src());
    deliveries.awaitAssert(Duration.ofSeconds(5), () -> {
      assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), STALL_CHANNEL, group), "source entry acknowledged");
      return null;
    });

    MessageChecker.Report report = checker.report();
    checker.logReport("deadlinePassingWhileARetryWaitsForRedisIsNotDeliveredLate");
    assertEquals(0, report.lost(), report::toString);
    assertEquals(1, report.deadLettered(), report::toString);
    assertEquals(got.size(), report.duplicated(), report::toString);
  }

  /**
   * Drains what reaches {@code deliveries} into {@code got} (each counted as delivered) until {@code channel} holds
   * one dead letter, at most 15 s; returns the dead letters.
   */
  private static List<DeadEntry> awaitOneDeadLetter(TestProbe<Received> deliveries, MessageChecker checker,
      List<Received> got, String channel) {
    return deliveries.awaitAssert(Duration.ofSeconds(15), () -> {
      drain(deliveries, checker, got);
      List<DeadEntry> d = DeliveryITSupport.deadEntries(node.redis(), channel);
      assertEquals(1, d.size(), () -> "dead letters: " + d + ", later deliveries: " + got);
      return d;
    });
  }

  /** Moves what reached {@code deliveries} so far into {@code got}, each counted as delivered. */
  private static void drain(TestProbe<Received> deliveries, MessageChecker checker, List<Received> got) {
    Received more;
    while ((more = pollOrNull(deliveries)) != null) {
      checker.delivered(more.messageId());
      got.add(more);
    }
  }

  private static Received pollOrNull(TestProbe<Received> probe) {
    try {
      return probe.receiveMessage(Duration.ofMillis(1));
    } catch (AssertionError none) {
      return null;
    }
  }
}
