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
 * A subscriber's gate (reliable or broadcast) that fails on a message drops that message and goes on with what it
 * holds: the failure is logged and counted, the gate is not stopped, and the subscriber keeps getting what follows.
 * Before the gates were supervised, a gate that threw stopped; its subscription went on handing deliveries to it,
 * and the subscriber received nothing more.
 */
class GateSupervisionIT {

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("""
      channels.overrides."gate.news" { mode = broadcast }
      """);

  /** The gate the deliveries came through: the parent of the adapter they are answered to. */
  private static ActorRef<Object> gateOf(Delivery d) {
    org.apache.pekko.actor.ActorRef classic = Adapter.toClassic(node.kit().system()).actorSelection(
        d.replyTo().path().parent()).resolveOne(Duration.ofSeconds(3)).toCompletableFuture().join();
    return Adapter.toTyped(classic);
  }

  /** Tells {@code probe} "terminated" should {@code ref} stop. */
  private static void watch(ActorRef<?> ref, TestProbe<String> probe) {
    node.kit().spawn(Behaviors.<Object>setup(ctx -> {
      ctx.watch(ref);
      return Behaviors.receiveSignal((c, sig) -> {
        probe.ref().tell("terminated");
        return Behaviors.same();
      });
    }));
  }

  private static void publish(MessageChecker checker, String channel, String id) {
    checker.sent(id);
    PublishReply r = node.publish(PublishRequest.of(channel, RouterTestSupport.payload(id, 32)).withMessageId(id));
    assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
    checker.accepted(id);
  }

  /** Injects a failure into the gate {@code seen}'s first delivery came through and checks it was seen and survived. */
  private static void failTheGate(ConcurrentLinkedQueue<Delivery> seen) {
    ActorRef<Object> gate = gateOf(seen.peek());
    TestProbe<String> watcher = node.kit().createTestProbe();
    watch(gate, watcher);
    long before = node.metrics().snapshot().failuresRecovered();
    TestProbe<Object> probe = node.kit().createTestProbe();
    try (LogCapture logs = LogCapture.start()) {
      gate.tell(new SubscriptionActor.InjectedFailure("test"));
      // the fault happened: the handler threw (logged by whoever handles it)
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertTrue(logs.linesContaining("injected failure: test").size() > 0, () -> "failure logged: " + logs.lines());
        return null;
      });
      watcher.expectNoMessage(Duration.ofMillis(300)); // resumed, not stopped
      assertEquals(1, logs.linesContaining("failed on a InjectedFailure and goes on without it").size(),
          () -> "the gate says it goes on: " + logs.lines());
    }
    assertEquals(before + 1, node.metrics().snapshot().failuresRecovered(), "failure counted");
  }

  /**
   * Ten messages through the gate, a failure injected into it, ten more: all 20 delivered once. {@code subscribe}
   * subscribes an acking subscriber that records each delivery with the given consumer.
   */
  private static void tenFailTen(String channel, String label,
      java.util.function.Consumer<java.util.function.Consumer<Delivery>> subscribe) {
    MessageChecker checker = new MessageChecker();
    ConcurrentLinkedQueue<Delivery> seen = new ConcurrentLinkedQueue<>();
    subscribe.accept(d -> {
      seen.add(d);
      checker.delivered(d.envelope().id());
    });
    for (int i = 0; i < 10; i++) publish(checker, channel, "before-" + i);
    TestProbe<Object> probe = node.kit().createTestProbe();
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(10, seen.size());
      return null;
    });

    failTheGate(seen);

    for (int i = 0; i < 10; i++) publish(checker, channel, "after-" + i);
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0, checker.lostIds().size(), () -> "not delivered: " + checker.lostIds());
      return null;
    });
    checker.logReport("GateSupervisionIT " + label);
    MessageChecker.Report report = checker.report();
    assertEquals(20, report.accepted());
    assertEquals(0, report.lost(), "lost");
    assertEquals(0, report.duplicated(), "duplicated");
  }

  @Test
  void aReliableSubscribersGateThatFailsGoesOnDelivering() {
    tenFailTen("gate.orders", "reliable", onDelivery -> assertInstanceOf(
        io.redisrouter.protocol.SubscribeReply.Subscribed.class,
        node.subscribe("gate.orders", "workers", node.kit().spawn(RouterTestSupport.acking(onDelivery)), 1)));
  }

  @Test
  void aBroadcastSubscribersGateThatFailsGoesOnDelivering() {
    tenFailTen("gate.news", "broadcast", onDelivery -> node.subscribeAcking("gate.news", "readers",
        onDelivery::accept));
  }
}
