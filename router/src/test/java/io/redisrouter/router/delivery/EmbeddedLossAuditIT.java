package io.redisrouter.router.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.audit.SequenceAudit;
import io.redisrouter.router.delivery.DeliveryITSupport.Received;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The loss audit for an embedded publisher and subscriber: numbers published with
 * {@code PublishRequest.withSequence} reach the subscriber on its envelope, and the subscription's audit counts a
 * skipped number as a gap, a number sent twice (new message id) as a duplicate, a dead-lettered one as accounted for
 * (not a gap), and a message redelivered after an ack timeout (acknowledged once, on its second attempt) neither as a
 * duplicate nor as a redelivery.
 */
class EmbeddedLossAuditIT {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedLossAuditIT.class);
  static final long ACK_TIMEOUT_MS = 800;

  @RegisterExtension
  static final RouterExtension node = RouterExtension
      .withConfig("channels.defaults.ack-timeout = " + ACK_TIMEOUT_MS + "ms\nchannels.defaults.max-attempts = 3\n");

  @Test
  void gapsDuplicatesAndDeadLettersOfAnEmbeddedPublisher() {
    String channel = "audit.embedded";
    String group = "worker";
    Set<String> firstAttemptIgnored = new HashSet<>();
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, channel, group, d -> {
      long seq = d.envelope().sequence();
      if (seq == 17) return d.nack("not for us", true); // dead-lettered: accounted for
      if (seq == 15 && d.envelope().attempt() == 1 && firstAttemptIgnored.add(d.envelope().id())) return null;
      return d.ack();
    });
    int published = 0;
    for (long s = 1; s <= 20; s++) {
      if (s == 5) continue; // never sent: the gap
      published += publish(channel, "m" + s, s);
      if (s == 10) published += publish(channel, "m10-again", s); // the producer's duplicate
    }
    int delivered = 0;
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    // every entry once, and the ignored one again (its second attempt)
    while (delivered < published + 1 && System.nanoTime() < deadline) {
      Received r = deliveries.receiveMessage(Duration.ofSeconds(15));
      assertEquals("shop-1", r.delivery().envelope().producerId());
      delivered++;
    }
    assertEquals(published + 1, delivered);
    int entries = published;
    SequenceAudit.Report report = deliveries.awaitAssert(Duration.ofSeconds(10), () -> {
      SequenceAudit audit = node.metrics().audits().find(channel, group);
      SequenceAudit.Report r = audit.report(10);
      assertEquals(entries, r.received() + r.deadLettered(), r::toString);
      return r;
    });
    log.info("EmbeddedLossAuditIT: published {}, delivered {}, audit {}", published, delivered, report);
    assertEquals(1, report.deadLettered());
    assertEquals(published - 1, report.received());
    assertEquals(1, report.gaps());
    assertEquals(1, report.duplicates());
    assertEquals(0, report.redeliveries() + report.missing() + report.late());
    SequenceAudit.ProducerReport p = report.producerList().get(0);
    assertEquals(1, p.lowestSequence());
    assertEquals(20, p.highestSequence());
    assertEquals(1, p.gapRanges().size());
    assertArrayEquals(new long[]{5, 5}, p.gapRanges().get(0));
  }

  private static int publish(String channel, String id, long seq) {
    PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(channel, RouterTestSupport.payload(id, 16)).withMessageId(id).withSequence("shop-1", seq));
    assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
    return 1;
  }
}
