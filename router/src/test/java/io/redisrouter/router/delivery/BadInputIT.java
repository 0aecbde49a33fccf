package io.redisrouter.router.delivery;

import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One bad answer or one bad entry never stalls a subscription. */
class BadInputIT {

  @RegisterExtension
  static final RouterExtension node = RouterExtension.create();

  private static String publish(String channel, String id) {
    PublishReply r = node.publish(PublishRequest.of(channel,
        RouterTestSupport.payload(id, 32)));
    return assertInstanceOf(PublishReply.Accepted.class, r, r::toString).streamId();
  }

  @Test
  void answersWithoutADeliveryIdAreIgnoredAndDeliveryGoesOn() {
    String channel = "bad.answers";
    ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
    // a buggy subscriber: an Ack(null) and a nack without id before each real ack
    ActorRef<Delivery> subscriber = node.kit().spawn(Behaviors.receiveMessage(d -> {
      seen.add(d.deliveryId());
      d.replyTo().tell(new DeliveryAck.Ack(null));
      d.replyTo().tell(new DeliveryAck.Nack(null, "no id", false));
      d.replyTo().tell(d.ack());
      return Behaviors.same();
    }));
    assertInstanceOf(SubscribeReply.Subscribed.class,
        node.subscribe(channel, "buggy", subscriber));
    List<String> ids = List.of(publish(channel, "a"), publish(channel, "b"), publish(channel, "c"));
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      for (String id : ids) assertTrue(seen.contains(id + "#1"), () -> id + " not delivered: " + seen);
      assertEquals(0L, DeliveryITSupport.pendingCount(node.redis(), channel, "buggy"));
      return null;
    });
    assertEquals(3, seen.size(), seen::toString);
  }

  @Test
  void aCorruptEntryIsDeadLetteredAsCorruptAndDeliveryGoesOn() {
    String channel = "bad.entries";
    String stream = RedisKeys.stream(channel);
    ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
    node.subscribeAcking(channel, "reader", d -> seen.add(d.deliveryId()));
    String garbage = String
        .valueOf(node.redis().call("XADD", stream, "*", RedisKeys.FIELD_ENVELOPE, "\u0007not an envelope"));
    String noField = String.valueOf(node.redis().call("XADD", stream, "*", "other", "x"));
    String good = publish(channel, "good");
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertTrue(seen.contains(good + "#1"), seen::toString);
      List<DeliveryITSupport.DeadEntry> dead = DeliveryITSupport.deadEntries(node.redis(), channel);
      assertEquals(List.of(garbage, noField), dead.stream().map(DeliveryITSupport.DeadEntry::src).toList(),
          dead::toString);
      for (DeliveryITSupport.DeadEntry e : dead) assertEquals(DeadLetter.CORRUPT, e.reason(), e::toString);
      assertEquals(0L, DeliveryITSupport.pendingCount(node.redis(), channel, "reader"));
      return null;
    });
    assertEquals(1, seen.size(), seen::toString);
  }
}
