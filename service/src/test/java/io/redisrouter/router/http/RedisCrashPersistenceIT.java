package io.redisrouter.router.http;

import io.redisrouter.router.fault.DeadLettersView;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Redis is killed with SIGKILL and restarted under steady load ({@link FaultLoad}: embedded and HTTP publishers,
 * embedded, pull and webhook consumers), with AOF {@code appendfsync always}, with {@code everysec}, and without
 * persistence. The checker separates what Redis itself lost from what the router lost: a message accepted before
 * the kill that is neither in the stream after the restart nor was delivered before is Redis's share (its
 * persistence promised no more); every other accepted message must reach every consumer or its dead letters, so
 * the router's share is 0 in all three modes, and with {@code always} Redis's share is 0 too.
 */
class RedisCrashPersistenceIT {
  private static final Logger log = LoggerFactory.getLogger(RedisCrashPersistenceIT.class);

  @ParameterizedTest(name = "appendfsync {0}")
  @ValueSource(strings = {"always", "everysec", "none"})
  void theRoutersShareOfWhatIsLostIsZero(String fsync) throws Exception {
    RedisServer.Builder b = RedisServer.builder();
    if (!fsync.equals("none")) b.appendOnly(fsync);
    String channel = "crash-" + fsync;
    try (RedisServer redis = b.start()) {
      RouterService service = HttpTestSupport.start("crash-" + fsync, redis,
          "redis-router.http.subscription-refresh = 500ms\n");
      ActorTestKit kit = ActorTestKit.create("crash-" + fsync);
      try (FaultLoad load = FaultLoad.start(service, kit, redis, channel, FaultLoad.Options.steady())) {
        ConsumeHttpSupport.await("300 accepted and delivered before the kill", () -> load.checker.report(),
            r -> r.accepted() >= 300 && r.consumers().stream().allMatch(c -> c.delivered() >= 200));
        long pidBefore = redis.pid();
        long killed = System.nanoTime();
        Map<String, Set<String>> deliveredBefore = new HashMap<>();
        redis.kill9();
        assertTrue(!redis.isAlive(), "redis-server is gone after SIGKILL");
        Thread.sleep(1000); // Redis stays down for a second under load
        // accepted while Redis was down can only be writes it confirmed before the kill: counted as before
        Set<String> acceptedBefore = load.acceptedBefore(System.nanoTime());
        for (var c : load.checker.report().consumers()) {
          deliveredBefore.put(c.name(), delivered(load.checker.consumer(c.name()), acceptedBefore));
        }
        redis.restart();
        assertNotEquals(pidBefore, redis.pid(), "a new redis-server process");
        Set<String> survived = DeadLettersView.streamMessageIds(redis, channel);
        long up = System.nanoTime();
        ConsumeHttpSupport.await("300 accepted after the restart", () -> load.acceptedBefore(Long.MAX_VALUE).size(),
            n -> n >= acceptedBefore.size() + 300);
        load.stopPublishing();
        load.awaitAccounted(Duration.ofSeconds(40));

        MessageChecker.Report report = load.checker.report();
        StringBuilder line = new StringBuilder();
        long routerShare = 0;
        long redisShare = 0;
        for (var c : report.consumers()) {
          MessageChecker.Consumer consumer = load.checker.consumer(c.name());
          Set<String> lost = consumer.lostIds();
          long byRedis = lost.stream().filter(id -> acceptedBefore.contains(id) && !survived.contains(id)
              && !deliveredBefore.get(c.name()).contains(id)).count();
          routerShare += lost.size() - byRedis;
          redisShare += byRedis;
          line.append(' ').append(c.name()).append(": lost by redis=").append(byRedis).append(" by router=")
              .append(lost.size() - byRedis);
        }
        log.info("redis SIGKILL, appendfsync {}: {} | accepted before the kill {}, in the stream after the restart"
            + " {}, down {} ms |{}", fsync, report, acceptedBefore.size(), survived.size(),
            (up - killed) / 1_000_000, line);
        assertEquals(0, routerShare, "messages the router lost: " + line + " -- " + report);
        if (fsync.equals("always")) {
          assertEquals(0, redisShare, "with appendfsync always Redis keeps every write it confirmed: " + line);
        }
        if (fsync.equals("none")) {
          assertTrue(survived.isEmpty(), "without persistence the restart starts empty: " + survived.size());
        }
        long duplicatesBound = 300; // per consumer: what a consumer held in flight when its acks were cut
        for (var c : report.consumers()) {
          assertTrue(c.duplicated() <= duplicatesBound, c + " duplicates above " + duplicatesBound);
          assertEquals(0, c.unexpected(), c.toString());
        }
      } finally {
        kit.shutdownTestKit();
        service.stop().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
      }
    }
  }

  private static Set<String> delivered(MessageChecker.Consumer c, Set<String> ids) {
    Set<String> out = new java.util.HashSet<>();
    for (String id : ids) if (c.deliveryCount(id) > 0) out.add(id);
    return out;
  }
}
