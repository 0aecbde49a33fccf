package io.redisrouter.router.fault;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A consumer group that disappears under a live subscription (NOGROUP: a restart without persistence, an AOF
 * everysec loss, a failover) is recreated at the last entry this subscription read, not at the end of the stream:
 * entries written between that id and the loss are still delivered.
 */
class ConsumerGroupLossIT {
  private static final Logger log = LoggerFactory.getLogger(ConsumerGroupLossIT.class);

  @RegisterExtension
  static final RouterExtension node = RouterExtension.create();

  @Test
  void entriesWrittenWhenTheGroupVanishedAreDelivered() {
    String channel = "group.loss";
    String stream = RedisKeys.stream(channel);
    ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
    node.subscribeAcking(channel, "billing", d -> seen.add(d.deliveryId()));
    for (int i = 0; i < 5; i++) {
      assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(node.kit(), node.router(),
          PublishRequest.of(channel, RouterTestSupport.payload("m" + i, 64))));
    }
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(5, seen.size(), seen::toString);
      assertEquals(0L, node.redis().callList("XPENDING", stream, "billing").get(0));
      return null;
    });

    // in one step: three entries arrive (copies of what is there, as the ingress writes held batches on
    // reconnect) and the group vanishes; a group recreated at '$' would never see the three
    Object copied = node.redis().call("EVAL", "local es = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 3)\n"
        + "for _, e in ipairs(es) do redis.call('XADD', KEYS[1], '*', unpack(e[2])) end\n"
        + "redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])\n"
        + "return #es", "1", stream, "billing");
    assertEquals(3L, copied);
    List<String> lastThree = node.redis().callList("XREVRANGE", stream, "+", "-", "COUNT", "3").stream()
        .map(e -> String.valueOf(((List<?>) e).get(0))).toList();

    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      for (String id : lastThree) {
        assertTrue(seen.stream().anyMatch(d -> d.startsWith(id + "#")), () -> id + " not delivered: " + seen);
      }
      return null;
    });
    // and the subscription goes on: a message published after the restore arrives
    PublishReply r = node.publish(PublishRequest.of(channel,
        RouterTestSupport.payload("after", 64)));
    String id = ((PublishReply.Accepted) r).streamId();
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertTrue(seen.stream().anyMatch(d -> d.startsWith(id + "#")), seen::toString);
      assertEquals(0L, node.redis().callList("XPENDING", stream, "billing").get(0));
      return null;
    });
    log.info("ConsumerGroupLossIT: sent 9 entries (5 before the loss, 3 written with it, 1 after), delivered {},"
        + " lost 0", seen.size());
    assertEquals(9, seen.size(), seen::toString);
  }

  /**
   * Entries in flight here when the group vanished are not lost when their attempt then fails: the group is
   * recreated just before the oldest of them, they are read into it again, and the retry after a nack works on it.
   * Before, the group came back at the last entry read, the three were pending nowhere, and the retry found it no
   * longer held them ("lost the lease"): they were never delivered again.
   */
  @Test
  void entriesInFlightWhenTheGroupVanishedAreRetriedAfterANack() {
    String channel = "group.loss.inflight";
    String stream = RedisKeys.stream(channel);
    org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<Delivery> sub = node.kit().createTestProbe();
    assertInstanceOf(SubscribeReply.Subscribed.class, node.subscribe(channel, "billing",
        sub.getRef(), io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH));
    List<String> ids = new java.util.ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String id = "held-" + i;
      ids.add(id);
      assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(node.kit(), node.router(),
          PublishRequest.of(channel, RouterTestSupport.payload(id, 64)).withMessageId(id)));
    }
    List<Delivery> held = new java.util.ArrayList<>();
    for (int i = 0; i < 3; i++) held.add(sub.receiveMessage(Duration.ofSeconds(10)));
    assertEquals(3L, node.redis().callList("XPENDING", stream, "billing").get(0), "the three are pending, unanswered");

    node.redis().call("XGROUP", "DESTROY", stream, "billing"); // the fault: Redis loses the group
    assertEquals(0L, groups(stream), "no group left");
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(1L, groups(stream), "the group is restored");
      return null;
    });
    // the subscriber fails all three: each must be retried (attempt 2) and reach it again
    for (Delivery d : held) d.replyTo().tell(d.nack("failed after the group was lost", false));
    java.util.Set<String> again = new java.util.HashSet<>();
    for (int i = 0; i < 3; i++) {
      Delivery d = sub.receiveMessage(Duration.ofSeconds(10));
      assertTrue(d.envelope().attempt() >= 2, "a retry: " + d.deliveryId());
      again.add(d.envelope().id());
      d.replyTo().tell(d.ack());
    }
    assertEquals(new java.util.HashSet<>(ids), again, "each of the three was delivered again");
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0L, node.redis().callList("XPENDING", stream, "billing").get(0),
          "all acknowledged in the new group");
      return null;
    });
    log.info("ConsumerGroupLossIT in flight: sent 3, held unanswered when the group vanished, nacked after its"
        + " restore: delivered again {}, lost 0", again.size());
  }

  @Test
  void aSubscriberAddedWhileTheGroupIsBeingCreatedIsAnsweredOnceItExists() {
    String channel = "group.phase";
    String stream = RedisKeys.stream(channel);
    org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<SubscribeReply> replies = node.kit().createTestProbe();
    org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<Delivery> sub = node.kit().createTestProbe();
    node.redis().pause(); // the fault: Redis does not answer, so the consumer group cannot be created yet
    try {
      node.router().tell(new io.redisrouter.protocol.RouterCommand.Subscribe(channel, "phase", sub.getRef(),
          replies.getRef(), io.redisrouter.protocol.RouterCommand.Subscribe.DEFAULT_PREFETCH));
      replies.expectNoMessage(Duration.ofMillis(500)); // the subscriber waits in the group phase's stash
    } finally {
      node.redis().resume();
    }
    assertInstanceOf(SubscribeReply.Subscribed.class, replies.receiveMessage(Duration.ofSeconds(10)));
    assertEquals(1L, groups(stream), "answered once the group exists");
    assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(channel, RouterTestSupport.payload("after-phase", 64)).withMessageId("after-phase")));
    Delivery d = sub.receiveMessage(Duration.ofSeconds(10));
    assertEquals("after-phase", d.envelope().id());
    d.replyTo().tell(d.ack());
  }

  private static long groups(String stream) {
    return node.redis().callList("XINFO", "GROUPS", stream).size();
  }
}
