package io.redisrouter.router.fault;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A subscription leaves a node (its last subscriber there unsubscribed: a hand-over, a node stopping) while entries
 * it read wait for that subscriber: those never reached anyone, so they are released (idle past the ack timeout) and
 * another node's consumer takes them over at once, as their first attempt; the one the subscriber has keeps its lease
 * for the ack timeout, as before.
 */
class HandOverReleaseIT {
  private static final String CHANNEL = "hand-over";
  private static final String SUBSCRIPTION = "workers";
  private static final int MESSAGES = 10;
  /** Far longer than the test: a take-over within it cannot come from the ack timeout. */
  private static final String CONFIG = """
      channels.defaults.ack-timeout = 60s
      channels.defaults.max-in-flight = 20
      """;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  @Test
  void entriesThatNeverReachedTheLeavingSubscriberAreTakenOverAtOnce() throws Exception {
    ActorTestKit kitA = ActorTestKit.create("hand-over-a");
    ActorTestKit kitB = ActorTestKit.create("hand-over-b");
    MessageChecker checker = new MessageChecker();
    try {
      ActorRef<RouterCommand> routerA = kitA.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(),
          "node-id = node-a\n" + CONFIG)), "router");
      TestProbe<Delivery> heldByA = kitA.createTestProbe();
      // takes one delivery at a time (prefetch 1) and never answers: the others wait in its gate
      ActorRef<Delivery> subA = kitA.spawn(Behaviors.receiveMessage(d -> {
        heldByA.getRef().tell(d);
        return Behaviors.same();
      }), "sub-a");
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(kitA, routerA, CHANNEL, SUBSCRIPTION, subA, 1));
      for (int i = 0; i < MESSAGES; i++) {
        String id = "m-" + i;
        checker.sent(id);
        PublishReply r = RouterTestSupport.publish(kitA, routerA, PublishRequest.of(CHANNEL,
            RouterTestSupport.payload(id, 32)).withMessageId(id));
        assertInstanceOf(PublishReply.Accepted.class, r);
        checker.accepted(id);
      }
      Delivery held = heldByA.receiveMessage(Duration.ofSeconds(10));
      checker.delivered(held.envelope().id());
      heldByA.expectNoMessage(Duration.ofMillis(300)); // prefetch 1: the others wait
      heldByA.awaitAssert(Duration.ofSeconds(10), () -> {
        assertEquals((long) MESSAGES, redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION)
            .get(0), "a read all of them: pending under its consumer");
        return null;
      });

      // a's subscriber leaves: the subscription ends on node a
      TestProbe<SubscribeReply> left = kitA.createTestProbe();
      routerA.tell(new RouterCommand.Unsubscribe(CHANNEL, SUBSCRIPTION, subA, left.getRef()));
      left.expectMessageClass(SubscribeReply.Unsubscribed.class, Duration.ofSeconds(10));
      long leftAt = System.nanoTime();

      ActorRef<RouterCommand> routerB = kitB.spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(),
          "node-id = node-b\n" + CONFIG)), "router");
      Set<String> takenByB = ConcurrentHashMap.newKeySet();
      TestProbe<Delivery> gotB = kitB.createTestProbe();
      ActorRef<Delivery> subB = kitB.spawn(RouterTestSupport.acking(d -> {
        takenByB.add(d.envelope().id());
        gotB.getRef().tell(d);
      }), "sub-b");
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(kitB, routerB, CHANNEL, SUBSCRIPTION, subB, 16));
      for (int i = 0; i < MESSAGES - 1; i++) {
        Delivery d = gotB.receiveMessage(Duration.ofSeconds(10));
        checker.delivered(d.envelope().id());
        assertEquals(1, d.envelope().attempt(), "never reached a's subscriber: still its first attempt " + d);
      }
      long takenMs = (System.nanoTime() - leftAt) / 1_000_000;
      // the one a's subscriber has keeps its lease for the ack timeout
      gotB.expectNoMessage(Duration.ofSeconds(2));
      assertTrue(!takenByB.contains(held.envelope().id()), "the held one stays with a: " + takenByB);
      List<Object> pending = redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION);
      assertEquals(1L, pending.get(0), "only the held one is still pending: " + pending);
      checker.logReport("HandOverReleaseIT (taken over " + takenMs + " ms after a's subscriber left)");
      assertEquals(0, checker.report().duplicated(), "duplicated");
      assertEquals(0, checker.report().lost(), "lost");
      assertTrue(takenMs < 10_000, "taken over " + takenMs + " ms after, far within the ack timeout of 60 s");
    } finally {
      kitA.shutdownTestKit();
      kitB.shutdownTestKit();
    }
  }
}
