package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.delivery.DeliveryITSupport.Received;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A subscriber that stops while it holds a delivery unanswered: the delivery goes to another subscriber at once (as
 * its next attempt), not after the ack timeout, and never waits for its deadline. A regression test: an orphaned
 * attempt's "handed over long ago" was a negative time, read as "still waiting in the gate", so it was neither
 * retried nor timed out until its deadline dead-lettered it.
 */
class SubscriberLeftIT {
  /** Far longer than the test: a redelivery within it cannot come from the ack timeout. */
  static final Duration ACK_TIMEOUT = Duration.ofSeconds(60);

  @RegisterExtension
  static final RouterExtension node = RouterExtension
      .withConfig("channels.defaults.ack-timeout = " + ACK_TIMEOUT.toSeconds() + "s\n");

  @Test
  void aDeliveryHeldByASubscriberThatStopsGoesToAnotherAtOnce() {
    String channel = "subscriber-left";
    String group = "workers";
    MessageChecker checker = new MessageChecker();
    TestProbe<Received> held = node.kit().createTestProbe();
    // holds what it gets, never answers
    ActorRef<Delivery> holder = node.kit().spawn(DeliveryITSupport.recording(held.getRef(), d -> null));
    assertInstanceOf(SubscribeReply.Subscribed.class, node.subscribe(channel, group, holder));

    String id = "held-1";
    checker.sent(id);
    PublishReply r = RouterTestSupport.publish(node.kit(), node.router(),
        PublishRequest.of(channel, RouterTestSupport.payload(id, 32)).withMessageId(id));
    assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
    checker.accepted(id);
    Received first = held.receiveMessage(Duration.ofSeconds(10));
    checker.delivered(first.delivery().envelope().id());
    assertEquals(1, first.delivery().envelope().attempt());

    TestProbe<Received> taken = node.kit().createTestProbe();
    ActorRef<Delivery> other = node.kit().spawn(DeliveryITSupport.recording(taken.getRef(), Delivery::ack));
    assertInstanceOf(SubscribeReply.Subscribed.class, node.subscribe(channel, group, other));
    taken.expectNoMessage(Duration.ofMillis(300)); // the held delivery stays with its holder while it lives

    long stopped = System.nanoTime();
    node.kit().stop(holder);
    Received again = taken.receiveMessage(Duration.ofSeconds(10));
    long afterMs = (System.nanoTime() - stopped) / 1_000_000;
    checker.delivered(again.delivery().envelope().id());
    assertEquals(id, again.delivery().envelope().id());
    assertEquals(2, again.delivery().envelope().attempt(), "the next attempt");
    assertTrue(afterMs < 5_000, "redelivered " + afterMs + " ms after its holder stopped, well within the ack"
        + " timeout of " + ACK_TIMEOUT.toSeconds() + " s");
    taken.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0, DeliveryITSupport.pendingCount(node.redis(), channel, group), "pending entries");
      return null;
    });
    checker.logReport("SubscriberLeftIT");
    assertEquals(0, checker.report().lost(), "lost");
    assertEquals(1, checker.report().duplicated(), "delivered twice: to the holder, then to the other");
  }
}
