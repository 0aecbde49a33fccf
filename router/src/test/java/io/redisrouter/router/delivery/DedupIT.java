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
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Publisher-supplied message ids are idempotency keys: a repeated id is accepted again (marked duplicate, with the
 * first stream id) but written and delivered once; distinct ids are distinct messages, even with equal payloads.
 */
class DedupIT {

  @RegisterExtension
  static final RouterExtension node = RouterExtension.create();

  private static TestProbe<Received> subscribe(String channel) {
    return DeliveryITSupport.subscribeRecording(node, channel, "worker", d -> d.ack());
  }

  private static void awaitNothingPending(TestProbe<Received> probe, String channel) {
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), channel, "worker"), "pending entries");
      return null;
    });
  }

  @Test
  void sameMessageIdPublishedTwiceIsWrittenAndDeliveredOnce() throws Exception {
    String channel = "dedup-same";
    MessageChecker checker = new MessageChecker();
    TestProbe<Received> deliveries = subscribe(channel);
    long duplicatesBefore = node.metrics().snapshot().publishDuplicates();

    // one after the other
    String id = "order-42";
    checker.sent(id);
    PublishRequest req = PublishRequest.of(channel, RouterTestSupport.payload(id, 64)).withMessageId(id);
    PublishReply r1 = node.publish(req);
    PublishReply r2 = node.publish(req);
    PublishReply.Accepted a1 = assertInstanceOf(PublishReply.Accepted.class, r1, () -> "first reply " + r1);
    PublishReply.Accepted a2 = assertInstanceOf(PublishReply.Accepted.class, r2, () -> "second reply " + r2);
    checker.accepted(id);
    assertFalse(a1.duplicate(), "the first publish is not a duplicate");
    assertTrue(a2.duplicate(), "the second publish is a duplicate");
    assertEquals(id, a1.messageId());
    assertEquals(id, a2.messageId());
    assertEquals(a1.streamId(), a2.streamId(), "a duplicate reports the stream id of the first");

    // both at once: they race through the same ingress batch; still exactly one is written
    String raced = "order-43";
    checker.sent(raced);
    PublishRequest req2 = PublishRequest.of(channel, RouterTestSupport.payload(raced, 64)).withMessageId(raced);
    List<CompletableFuture<PublishReply>> futures = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      futures.add(RouterTestSupport.publishAsync(node.kit(), node.router(), req2).toCompletableFuture());
    }
    int fresh = 0;
    Set<String> racedStreamIds = new HashSet<>();
    for (CompletableFuture<PublishReply> f : futures) {
      PublishReply r = f.get(10, TimeUnit.SECONDS);
      PublishReply.Accepted a = assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
      if (!a.duplicate()) fresh++;
      racedStreamIds.add(a.streamId());
    }
    checker.accepted(raced);
    assertEquals(1, fresh, "exactly one of the concurrent publishes is written");
    assertEquals(1, racedStreamIds.size(), () -> "every reply names the one entry: " + racedStreamIds);
    assertNotEquals(a1.streamId(), racedStreamIds.iterator().next());

    for (int i = 0; i < 2; i++) {
      Received got = deliveries.receiveMessage(Duration.ofSeconds(10));
      checker.delivered(got.messageId());
    }
    awaitNothingPending(deliveries, channel);
    deliveries.expectNoMessage(Duration.ofSeconds(1));
    assertEquals(2, DeliveryITSupport.xlen(node.redis(), RedisKeys.stream(channel)),
        "one stream entry per distinct id");
    assertEquals(4, node.metrics().snapshot().publishDuplicates() - duplicatesBefore, "duplicates counted");

    MessageChecker.Report report = checker.report();
    checker.logReport("sameMessageIdPublishedTwiceIsWrittenAndDeliveredOnce");
    assertEquals(1, checker.deliveryCount(id), report::toString);
    assertEquals(1, checker.deliveryCount(raced), report::toString);
    assertEquals(0, report.duplicated(), report::toString);
    assertEquals(0, report.lost(), report::toString);
    assertEquals(0, report.unexpected(), report::toString);
  }

  @Test
  void differentMessageIdsWithEqualPayloadsAreDeliveredSeparately() {
    String channel = "dedup-distinct";
    MessageChecker checker = new MessageChecker();
    TestProbe<Received> deliveries = subscribe(channel);
    byte[] samePayload = RouterTestSupport.payload("same-body", 64);

    Set<String> streamIds = new HashSet<>();
    for (String id : List.of("pay-1", "pay-2")) {
      checker.sent(id);
      PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
          PublishRequest.of(channel, samePayload).withMessageId(id));
      PublishReply.Accepted a = assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
      assertFalse(a.duplicate(), () -> id + " is new");
      streamIds.add(a.streamId());
      checker.accepted(id);
    }
    assertEquals(2, streamIds.size(), () -> "two entries: " + streamIds);
    // the same id on another channel is a different message too: dedup is per channel
    String other = "dedup-other";
    PublishReply ro = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(other, samePayload).withMessageId("pay-1"));
    assertFalse(assertInstanceOf(PublishReply.Accepted.class, ro, () -> "reply " + ro).duplicate(),
        "dedup is per channel");

    for (int i = 0; i < 2; i++) {
      Received got = deliveries.receiveMessage(Duration.ofSeconds(10));
      checker.delivered(got.messageId());
    }
    awaitNothingPending(deliveries, channel);
    deliveries.expectNoMessage(Duration.ofSeconds(1));

    MessageChecker.Report report = checker.report();
    checker.logReport("differentMessageIdsWithEqualPayloadsAreDeliveredSeparately");
    assertEquals(1, checker.deliveryCount("pay-1"), report::toString);
    assertEquals(1, checker.deliveryCount("pay-2"), report::toString);
    assertEquals(2, report.delivered(), report::toString);
    assertEquals(0, report.lost(), report::toString);
    assertEquals(0, report.duplicated(), report::toString);
  }
}
