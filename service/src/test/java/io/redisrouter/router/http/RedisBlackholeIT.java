package io.redisrouter.router.http;

import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import io.redisrouter.testkit.TcpProxy;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A network blackhole between the router and Redis: a {@link TcpProxy} on the way stops forwarding and drops every
 * byte, without closing anything or sending a reset, for 8 s under steady load ({@link FaultLoad}). The router finds
 * out from its own health check alone: with {@code health-check-interval = 500ms} and {@code health-check-max-missed
 * = 3} it is not ready between 1 and 3 s after the blackhole began (three PINGs unanswered, one interval each, not
 * sooner), refuses publishes meanwhile, and once the network heals it reconnects by itself and every accepted
 * message reaches every consumer (lost = 0; a write whose reply was dropped was refused, and the publisher's retry
 * with the same id is deduplicated).
 */
class RedisBlackholeIT {
  private static final Logger log = LoggerFactory.getLogger(RedisBlackholeIT.class);

  @Test
  void aBlackholeIsDetectedByTheHealthCheckInTimeAndHealsWithoutLoss() throws Exception {
    try (RedisServer redis = RedisServer.builder().appendOnly("always").start();
        TcpProxy proxy = TcpProxy.to(redis)) {
      RouterService service = HttpTestSupport.awaitReady(RouterService.start("blackhole",
          HttpTestSupport.config("redis://127.0.0.1:" + proxy.port(), """
              redis-router.redis.instances.default.health-check-interval = 500ms
              redis-router.redis.instances.default.health-check-max-missed = 3
              redis-router.redis.instances.default.command-timeout = 2s
              """)));
      ActorTestKit kit = ActorTestKit.create("blackhole");
      try (FaultLoad load = FaultLoad.start(service, kit, redis, "blackhole", FaultLoad.Options.steady())) {
        ConsumeHttpSupport.await("300 accepted before the blackhole", load::accepted, n -> n >= 300);
        long start = System.nanoTime();
        proxy.blackhole();
        ConsumeHttpSupport.await("not ready in the blackhole", () -> HttpTestSupport.get(service, "/health/ready")
            .statusCode(), s -> s == 503);
        long detectedMs = (System.nanoTime() - start) / 1_000_000;
        long droppedWhenDetected = proxy.droppedBytes();
        Thread.sleep(8_000 - detectedMs); // the blackhole lasts 8 s
        long refusedInBlackhole = load.checker.report().refusedByReason().values().stream().mapToLong(n -> n).sum();
        proxy.heal();
        long healed = System.nanoTime();
        ConsumeHttpSupport.await("ready again after the heal", () -> HttpTestSupport.get(service, "/health/ready")
            .statusCode(), s -> s == 200);
        long readyMs = (System.nanoTime() - healed) / 1_000_000;
        ConsumeHttpSupport.await("accepting again", load::lastAcceptedNanos, t -> t > healed);
        long accepted = load.accepted();
        ConsumeHttpSupport.await("300 more accepted", load::accepted, n -> n >= accepted + 300);
        load.stopPublishing();
        load.awaitAccounted(Duration.ofSeconds(40));
        MessageChecker.Report r = load.checker.assertPasses("redis blackhole 8 s", 300);
        log.info("blackhole 8 s: not ready {} ms after it began ({} bytes dropped by then), refusals during it {},"
            + " ready again {} ms after the heal; {}", detectedMs, droppedWhenDetected, refusedInBlackhole, readyMs, r);
        assertTrue(droppedWhenDetected > 0, "the proxy dropped the router's bytes (the fault happened)");
        assertTrue(detectedMs >= 1000 && detectedMs <= 3000, "detected by the health check between 1 and 3 s: "
            + detectedMs + " ms");
        assertTrue(refusedInBlackhole > 0, "publishes were refused during the blackhole");
        assertTrue(readyMs < 15_000, "reconnected by itself within 15 s: " + readyMs);
        assertEquals(0, r.lost());
      } finally {
        kit.shutdownTestKit();
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }
}
