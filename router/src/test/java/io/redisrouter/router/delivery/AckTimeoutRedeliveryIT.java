package io.redisrouter.router.delivery;

import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.delivery.DeliveryITSupport.Received;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A delivery that is never answered is redelivered after the ack timeout, as the next attempt, and an ack of the
 * redelivery settles it: acknowledged in Redis, nothing dead-lettered, nothing lost, one duplicate per timeout.
 */
class AckTimeoutRedeliveryIT {
  static final long ACK_TIMEOUT_MS = 1000;

  @RegisterExtension
  static final RouterExtension node = RouterExtension
      .withConfig("channels.defaults.ack-timeout = " + ACK_TIMEOUT_MS + "ms\n"
          + "channels.defaults.max-attempts = 5\n");

  @Test
  void unansweredDeliveryIsRedeliveredAfterTheAckTimeoutAndAckedOnce() {
    String channel = "ack-timeout";
    String group = "worker";
    MessageChecker checker = new MessageChecker();
    // ignores the first delivery of odd-numbered messages, acks everything else
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, channel, group, d -> {
      int n = Integer.parseInt(d.envelope().id().substring(2));
      return n % 2 == 1 && d.envelope().attempt() == 1 ? null : d.ack();
    });
    long timeoutsBefore = node.metrics().snapshot().ackTimeouts();
    long ackedBefore = node.metrics().snapshot().acked();

    int n = 6;
    int ignored = n / 2;
    for (int i = 0; i < n; i++) {
      String id = "to" + i;
      checker.sent(id);
      PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
          PublishRequest.of(channel, RouterTestSupport.payload(id, 32)).withMessageId(id));
      assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
      checker.accepted(id);
    }

    Map<String, List<Received>> byId = new HashMap<>();
    for (int i = 0; i < n + ignored; i++) {
      Received r = deliveries.receiveMessage(Duration.ofSeconds(15));
      checker.delivered(r.messageId());
      byId.computeIfAbsent(r.messageId(), k -> new ArrayList<>()).add(r);
    }
    // all settled in Redis; then no further delivery even after another ack timeout
    deliveries.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), channel, group), "pending entries");
      return null;
    });
    deliveries.expectNoMessage(Duration.ofMillis(ACK_TIMEOUT_MS + 800));

    for (int i = 0; i < n; i++) {
      String id = "to" + i;
      List<Received> got = byId.getOrDefault(id, List.of());
      if (i % 2 == 0) {
        assertEquals(1, got.size(), () -> id + " acked at once, must be delivered once: " + got);
        assertEquals(1, got.get(0).attempt());
      } else {
        assertEquals(2, got.size(), () -> id + " must be delivered twice: " + got);
        Received first = got.get(0);
        Received second = got.get(1);
        assertEquals(1, first.attempt());
        assertEquals(2, second.attempt(), "redelivery is the second attempt");
        assertNotEquals(first.delivery().deliveryId(), second.delivery().deliveryId());
        long gapMs = (second.nanos() - first.nanos()) / 1_000_000;
        assertTrue(gapMs >= ACK_TIMEOUT_MS - 5, id + " redelivered after " + gapMs + " ms, before the ack timeout");
      }
    }
    assertEquals(0, DeliveryITSupport.xlen(node.redis(), RedisKeys.deadLetters(channel)), "nothing dead-lettered");
    assertEquals(n, DeliveryITSupport.xlen(node.redis(), RedisKeys.stream(channel)));
    assertEquals(ignored, node.metrics().snapshot().ackTimeouts() - timeoutsBefore, "ack timeouts counted");
    assertEquals(n, node.metrics().snapshot().acked() - ackedBefore, "acks counted");

    MessageChecker.Report report = checker.report();
    checker.logReport("unansweredDeliveryIsRedeliveredAfterTheAckTimeoutAndAckedOnce");
    assertEquals(n, report.delivered(), report::toString);
    assertEquals(0, report.lost(), report::toString);
    assertEquals(ignored, report.duplicated(), report::toString);
    assertEquals(0, report.deadLettered(), report::toString);
    assertEquals(0, report.unexpected(), report::toString);
  }
}
