package io.redisrouter.router.http;

import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Poison messages and a crashing subscriber under steady load ({@link FaultLoad}). One message in 50 is poison:
 * every consumer fails it every time (the embedded subscriber and pull nack it, the webhook answers 500); with
 * {@code max-attempts = 3} each is delivered exactly 3 times per consumer and then dead-lettered as
 * {@code max-attempts}. The embedded subscriber also crashes (throws, and its actor stops with what it holds
 * unanswered) on one message in 200, and is started again like a restarted application: what it held is
 * redelivered to its successor. Every other message reaches every consumer once or more and none of them is
 * dead-lettered: the poison and the crashes do not hold anything else back.
 */
class PoisonAndCrashIT {
  private static final Logger log = LoggerFactory.getLogger(PoisonAndCrashIT.class);

  private static long seq(String id) {
    return Long.parseLong(id.substring(id.lastIndexOf('-') + 1));
  }

  @Test
  void poisonIsDeadLetteredAfterMaxAttemptsAndACrashedSubscribersMessagesAreRedelivered() throws Exception {
    try (RedisServer redis = RedisServer.start()) {
      RouterService service = HttpTestSupport.start("poison", redis, """
          redis-router.channels.defaults.max-attempts = 3
          redis-router.channels.defaults.backoff { min = 100ms, max = 400ms }
          """);
      ActorTestKit kit = ActorTestKit.create("poison");
      FaultLoad.Options options = FaultLoad.Options.steady()
          .poison(id -> seq(id) % 50 == 7)
          .crash(id -> seq(id) % 200 == 150);
      try (FaultLoad load = FaultLoad.start(service, kit, redis, "poison", options)) {
        ConsumeHttpSupport.await("1,600 accepted", load::accepted, n -> n >= 1600);
        load.stopPublishing();
        load.awaitAccounted(Duration.ofSeconds(30));
        MessageChecker.Report r = load.checker.assertPasses("poison and crash", 64L * (load.embeddedCrashes() + 1));
        Set<String> accepted = load.checker.acceptedIds();
        Set<String> poison = FaultLoad.sortedSet(accepted, id -> seq(id) % 50 == 7);
        log.info("poison and crash: {} poison messages, {} subscriber crashes; {}", poison.size(),
            load.embeddedCrashes(), r);
        assertTrue(poison.size() >= 30, "poison messages were sent: " + poison.size());
        assertTrue(load.embeddedCrashes() >= 6, "the subscriber crashed: " + load.embeddedCrashes());
        for (var c : r.consumers()) {
          assertEquals(poison.size(), c.deadLettered(), c.name() + " dead-lettered the poison and nothing else");
          assertEquals(java.util.Map.of("max-attempts", (long) poison.size()), c.deadLetteredByReason(), c.name());
          assertEquals(accepted.size() - poison.size(), c.delivered(), c.name() + " got every other message");
        }
        for (String id : poison) {
          assertEquals(3, load.webhook().callsFor(id), "the webhook saw poison " + id + " 3 times");
        }
      } finally {
        kit.shutdownTestKit();
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }
}
