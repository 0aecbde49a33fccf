package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.concurrent.ConcurrentLinkedQueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An exception inside a subscription actor (a bug, a reply it did not expect) restarts it with backoff; its
 * subscribers are attached again and delivery goes on. Before the supervision, the actor stopped and its subscribers
 * silently received nothing more.
 */
class SubscriptionSupervisionIT {

  @RegisterExtension
  static final RouterExtension node = RouterExtension.create();

  private static void publish(MessageChecker checker, String channel, String id) {
    checker.sent(id);
    PublishReply r = node.publish(PublishRequest.of(channel,
        RouterTestSupport.payload(id, 32)).withMessageId(id));
    assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
    checker.accepted(id);
  }

  @Test
  void aFailedSubscriptionRestartsAndItsSubscribersGetTheNextMessages() {
    String channel = "supervised";
    MessageChecker checker = new MessageChecker();
    ConcurrentLinkedQueue<Delivery> seen = new ConcurrentLinkedQueue<>();
    ActorRef<Delivery> subscriber = node.subscribeAcking(channel, "workers", d -> {
      seen.add(d);
      checker.delivered(d.envelope().id());
    });
    for (int i = 0; i < 10; i++) publish(checker, channel, "before-" + i);
    TestProbe<Object> probe = node.kit().createTestProbe();
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(10, seen.size());
      return null;
    });

    // the subscription actor: the parent of the subscriber's gate, whose adapter the deliveries are answered to
    Delivery first = seen.peek();
    org.apache.pekko.actor.ActorRef classic = Adapter.toClassic(node.kit().system()).actorSelection(
        first.replyTo().path().parent().parent()).resolveOne(Duration.ofSeconds(3)).toCompletableFuture().join();
    ActorRef<SubscriptionActor.Command> subscription = Adapter.toTyped(classic);
    TestProbe<Object> watcher = node.kit().createTestProbe();
    node.kit().spawn(Behaviors.<Object>setup(ctx -> {
      ctx.watch(subscription);
      return Behaviors.receiveSignal((c, sig) -> {
        watcher.ref().tell("terminated");
        return Behaviors.same();
      });
    }));

    long restartsBefore = node.metrics().snapshot().failuresRecovered();
    try (LogCapture logs = LogCapture.start()) {
      subscription.tell(new SubscriptionActor.InjectedFailure("test"));
      // the fault happened and was handled: the actor failed and was restarted, not stopped
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertTrue(logs.linesContaining("restarted after a failure").size() > 0, "restart logged");
        return null;
      });
      assertEquals(restartsBefore + 1, node.metrics().snapshot().failuresRecovered(), "restart counted");
      watcher.expectNoMessage(Duration.ofMillis(300));

      for (int i = 0; i < 10; i++) publish(checker, channel, "after-" + i);
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals(0, checker.lostIds().size(), () -> "not delivered: " + checker.lostIds());
        return null;
      });
    }
    MessageChecker.Report report = checker.report();
    checker.logReport("SubscriptionSupervisionIT");
    assertEquals(20, report.accepted());
    assertEquals(0, report.lost(), "lost");
  }
}
