package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.delivery.DeliveryITSupport.Received;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Retention trims a channel's stream, but never below what a consumer group still needs: entries pending in a
 * group (delivered, not acknowledged) and entries a group has not read yet survive however old they are.
 *
 * <p>The Redis server runs with {@code stream-node-max-entries 1}, so the router's approximate trimming
 * ({@code MINID ~}) removes exactly the entries below the trim point, and the expected stream contents are exact.
 */
class RetentionIT {
  static final String AGE_CHANNEL = "ret-age";
  static final String LENGTH_CHANNEL = "ret-length";

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("channels.defaults.ack-timeout = 60s\n"
      + "channels.defaults.retention { max-age = 200ms, max-length = 0, trim-interval = 200ms }\n"
      + "channels.overrides { \"" + LENGTH_CHANNEL + "\" { retention { max-age = 24h, max-length = 1 } } }\n")
      .redis(() -> RedisServer.builder().arg("--stream-node-max-entries", "1").start());

  /** Publishes {@code ids} one by one; returns id to stream id, in publish (= stream) order. */
  private static Map<String, String> publishAll(String channel, MessageChecker checker, List<String> ids) {
    Map<String, String> streamIds = new LinkedHashMap<>();
    for (String id : ids) {
      checker.sent(id);
      PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
          PublishRequest.of(channel, RouterTestSupport.payload(id, 128)).withMessageId(id));
      PublishReply.Accepted a = assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
      checker.accepted(id);
      streamIds.put(id, a.streamId());
    }
    return streamIds;
  }

  /** Receives {@code n} deliveries; returns them by message id. */
  private static Map<String, Delivery> receive(TestProbe<Received> probe, MessageChecker checker, int n) {
    Map<String, Delivery> out = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      Received r = probe.receiveMessage(Duration.ofSeconds(10));
      checker.delivered(r.messageId());
      out.put(r.messageId(), r.delivery());
    }
    return out;
  }

  private static List<String> ids(String prefix, int n) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) out.add(String.format("%s%02d", prefix, i));
    return out;
  }

  private static void awaitStreamIs(TestProbe<?> probe, String channel, List<String> expected) {
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(expected, DeliveryITSupport.entryIds(node.redis(), RedisKeys.stream(channel)), "stream entries");
      return null;
    });
  }

  @Test
  void maxAgeNeverTrimsPendingEntries() {
    String group = "worker";
    MessageChecker checker = new MessageChecker();
    // answers nothing: the test acks
    TestProbe<Received> deliveries = DeliveryITSupport.subscribeRecording(node, AGE_CHANNEL, group,
        RouterCommand.Subscribe.MAX_PREFETCH, d -> null);

    int n = 20;
    List<String> all = ids("age", n);
    Map<String, String> streamIds = publishAll(AGE_CHANNEL, checker, all);
    Map<String, Delivery> got = receive(deliveries, checker, n);
    assertEquals(n, got.size());

    // ack the first half; the second half stays pending (60 s ack timeout) long past the 200 ms max age
    List<String> held = all.subList(n / 2, n);
    for (String id : all.subList(0, n / 2)) {
      got.get(id).replyTo().tell(got.get(id).ack());
    }
    List<String> heldStreamIds = held.stream().map(streamIds::get).toList();
    awaitStreamIs(deliveries, AGE_CHANNEL, heldStreamIds);
    assertEquals(held.size(), DeliveryITSupport.pendingCount(node.redis(), AGE_CHANNEL, group), "still pending");
    long lenWhileHeld = DeliveryITSupport.xlen(node.redis(), RedisKeys.stream(AGE_CHANNEL));

    // the held entries are still whole: acking them works, and then they are trimmed too
    for (String id : held) {
      got.get(id).replyTo().tell(got.get(id).ack());
    }
    awaitStreamIs(deliveries, AGE_CHANNEL, List.of());
    assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), AGE_CHANNEL, group));
    deliveries.expectNoMessage(Duration.ofMillis(300));

    MessageChecker.Report report = checker.report();
    checker.logReport("maxAgeNeverTrimsPendingEntries xlenWhileHeld=" + lenWhileHeld);
    assertEquals(held.size(), lenWhileHeld);
    assertEquals(n, report.delivered(), report::toString);
    assertEquals(0, report.lost(), report::toString);
    assertEquals(0, report.duplicated(), report::toString);
  }

  @Test
  void entriesAnIdleGroupHasNotReadAreKept() {
    MessageChecker billingChecker = new MessageChecker();
    MessageChecker auditChecker = new MessageChecker();
    TestProbe<Received> billing = DeliveryITSupport.subscribeRecording(node, LENGTH_CHANNEL, "billing",
        RouterCommand.Subscribe.MAX_PREFETCH, d -> null);

    // early entries: billing holds the last one pending, so none of them can go yet
    List<String> early = ids("early", 5);
    Map<String, String> earlyIds = publishAll(LENGTH_CHANNEL, billingChecker, early);
    Map<String, Delivery> earlyGot = receive(billing, billingChecker, early.size());
    for (String id : early.subList(0, early.size() - 1)) {
      earlyGot.get(id).replyTo().tell(earlyGot.get(id).ack());
    }
    awaitStreamIs(billing, LENGTH_CHANNEL, List.of(earlyIds.get(early.get(early.size() - 1))));

    // the audit group is created now (it starts after the early entries) and then left idle
    TestProbe<Received> audit = node.kit().createTestProbe();
    var auditSubscriber = node.kit().spawn(DeliveryITSupport.recording(audit.getRef(), d -> d.ack()));
    assertInstanceOf(SubscribeReply.Subscribed.class,
        node.subscribe(LENGTH_CHANNEL, "audit", auditSubscriber,
            io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));
    TestProbe<SubscribeReply> unsub = node.kit().createTestProbe();
    node.router().tell(new RouterCommand.Unsubscribe(LENGTH_CHANNEL, "audit", auditSubscriber, unsub.getRef()));
    assertInstanceOf(SubscribeReply.Unsubscribed.class, unsub.receiveMessage(Duration.ofSeconds(10)));

    // late entries: billing reads and acks all of them; audit reads none
    List<String> late = ids("late", 10);
    for (String id : late) auditChecker.sent(id);
    Map<String, String> lateIds = publishAll(LENGTH_CHANNEL, billingChecker, late);
    for (String id : late) auditChecker.accepted(id);
    Map<String, Delivery> lateGot = receive(billing, billingChecker, late.size());
    for (Delivery d : lateGot.values()) d.replyTo().tell(d.ack());
    billing.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(1, DeliveryITSupport.pendingCount(node.redis(), LENGTH_CHANNEL, "billing"),
          "only the held early one");
      return null;
    });
    // only now can the held early entry go: a trim that removes it runs while max-length = 1 asks to drop all but
    // the last late entry, and the idle audit group must stop it right after the early entries
    Delivery lastEarly = earlyGot.get(early.get(early.size() - 1));
    lastEarly.replyTo().tell(lastEarly.ack());
    List<String> lateStreamIds = late.stream().map(lateIds::get).toList();
    awaitStreamIs(billing, LENGTH_CHANNEL, lateStreamIds);
    long lenWhileIdle = DeliveryITSupport.xlen(node.redis(), RedisKeys.stream(LENGTH_CHANNEL));
    audit.expectNoMessage(Duration.ofMillis(100));

    // audit comes back: it gets every late entry, and after its acks retention trims down to max-length
    TestProbe<Received> audit2 = DeliveryITSupport.subscribeRecording(node, LENGTH_CHANNEL, "audit",
        RouterCommand.Subscribe.MAX_PREFETCH, d -> d.ack());
    Map<String, Delivery> auditGot = receive(audit2, auditChecker, late.size());
    assertEquals(late.size(), auditGot.size());
    awaitStreamIs(audit2, LENGTH_CHANNEL, List.of(lateIds.get(late.get(late.size() - 1))));
    audit2.expectNoMessage(Duration.ofMillis(300));
    billing.expectNoMessage(Duration.ofMillis(10));

    billingChecker.logReport("entriesAnIdleGroupHasNotReadAreKept[billing]");
    auditChecker.logReport("entriesAnIdleGroupHasNotReadAreKept[audit] xlenWhileIdle=" + lenWhileIdle);
    MessageChecker.Report b = billingChecker.report();
    MessageChecker.Report a = auditChecker.report();
    assertEquals(late.size(), lenWhileIdle);
    assertEquals(early.size() + late.size(), b.delivered(), b::toString);
    assertEquals(0, b.lost(), b::toString);
    assertEquals(0, b.duplicated(), b::toString);
    assertEquals(late.size(), a.delivered(), a::toString);
    assertEquals(0, a.lost(), a::toString);
    assertEquals(0, a.duplicated(), a::toString);
    assertEquals(0, a.unexpected(), a::toString);
  }
}
