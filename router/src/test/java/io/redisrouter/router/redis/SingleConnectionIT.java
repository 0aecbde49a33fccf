package io.redisrouter.router.redis;

import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One connection per instance, and what happens on a server without RESP3.
 *
 * <p>On a Redis with RESP3 the router holds exactly one connection, speaking RESP3, and runs reliable and broadcast
 * channels over it. A server without RESP3 is imitated by a Redis whose {@code HELLO} command is renamed away (what a
 * Redis older than 6, or a proxy that refuses {@code HELLO 3}, answers: unknown command): the router says so in one
 * WARN and falls back to 3 connections, or, with {@code single-connection-required}, refuses the instance with an
 * ERROR naming the key (readiness stays false, publishes are answered unavailable).
 */
class SingleConnectionIT {
  private static final Duration WAIT = Duration.ofSeconds(10);

  private static RouterRuntime start(ActorTestKit kit, RedisServer redis, String extra) {
    RouterSettings settings = RouterTestSupport.settings(redis, extra);
    ActorRef<RouterCommand> router = kit.spawn(RedisRouter.create(settings), "router");
    TestProbe<RouterRuntime> rt = kit.createTestProbe();
    router.tell(new RedisRouter.GetRuntime(rt.getRef()));
    return rt.receiveMessage(WAIT);
  }

  /** Reliable and broadcast both work: one message each reaches its subscriber. */
  private static void roundTrip(ActorTestKit kit, ActorRef<RouterCommand> router) {
    TestProbe<Delivery> reliable = kit.createTestProbe();
    TestProbe<Delivery> broadcast = kit.createTestProbe();
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(kit, router, "single-r", "s", reliable.getRef()));
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(kit, router, "single-b", "s", broadcast.getRef()));
    assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(kit, router,
        PublishRequest.of("single-r", RouterTestSupport.payload("r1", 16)).withMessageId("r1")));
    assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(kit, router,
        PublishRequest.of("single-b", RouterTestSupport.payload("b1", 16)).withMessageId("b1")));
    Delivery r = reliable.receiveMessage(WAIT);
    assertEquals("r1", r.envelope().id());
    r.replyTo().tell(r.ack());
    Delivery b = broadcast.receiveMessage(WAIT);
    assertEquals("b1", b.envelope().id());
  }

  private static final String BROADCAST = "channels.overrides.\"single-b\".mode = broadcast\n";

  @Test
  void onARedisWithResp3TheRouterHoldsOneResp3Connection() throws Exception {
    try (RedisServer redis = RedisServer.start(); LogCapture logs = LogCapture.start()) {
      ActorTestKit kit = ActorTestKit.create("single-resp3");
      try {
        RouterRuntime rt = start(kit, redis, "node-id = one\n" + BROADCAST
            + "redis.instances.default.connections-per-instance = 1");
        assertTrue(rt.handles().get("default").awaitUp(WAIT).toCompletableFuture().handle((v, e) -> e == null)
            .get());
        roundTrip(kit, rt.router());
        List<Map<String, String>> mine = redis.clients().stream()
            .filter(c -> c.getOrDefault("name", "").startsWith("rr:one:")).toList();
        assertEquals(1, mine.size(), () -> "the router's connections: " + redis.clients());
        if (mine.get(0).containsKey("resp")) { // CLIENT LIST shows the protocol from Redis 7.0
          assertEquals("3", mine.get(0).get("resp"), () -> "protocol of " + mine.get(0));
        }
        assertEquals(1, rt.handles().get("default").openConnections());
        assertEquals(1, logs.linesContaining("1 connection, RESP3").size(), () -> String.join("\n", logs.lines()));
      } finally {
        kit.shutdownTestKit();
      }
    }
  }

  @Test
  void aServerWithoutResp3GetsOneWarnAndThreeConnections() throws Exception {
    try (RedisServer redis = RedisServer.builder().arg("--rename-command", "HELLO", "\"\"").start();
        LogCapture logs = LogCapture.start()) {
      assertTrue(String.valueOf(callError(redis, "HELLO", "3")).contains("unknown command"),
          "the imitation: HELLO is refused");
      ActorTestKit kit = ActorTestKit.create("single-resp2");
      try {
        RouterRuntime rt = start(kit, redis, "node-id = old\n" + BROADCAST
            + "redis.instances.default.connections-per-instance = 1");
        TestProbe<Object> probe = kit.createTestProbe();
        probe.awaitAssert(WAIT, () -> {
          assertTrue(rt.handles().get("default").isUp(), "up after the fallback");
          assertEquals(3, redis.clientCount("rr:old:"), () -> "connections: " + redis.clients());
          return null;
        });
        roundTrip(kit, rt.router());
        List<String> warns = logs.linesContaining("has no RESP3");
        assertEquals(1, warns.size(), () -> "one WARN: " + warns);
        assertTrue(warns.get(0).contains("WARN") && warns.get(0).contains("using 3 connections"), warns.get(0));
      } finally {
        kit.shutdownTestKit();
      }
    }
  }

  @Test
  void aServerWithoutResp3IsRefusedWhenOneConnectionIsRequired() throws Exception {
    try (RedisServer redis = RedisServer.builder().arg("--rename-command", "HELLO", "\"\"").start();
        LogCapture logs = LogCapture.start()) {
      ActorTestKit kit = ActorTestKit.create("single-required");
      try {
        RouterRuntime rt = start(kit, redis, "node-id = strict\n"
            + "redis.instances.default.connections-per-instance = 1\n"
            + "redis.instances.default.single-connection-required = true");
        TestProbe<Object> probe = kit.createTestProbe();
        probe.awaitAssert(WAIT, () -> {
          assertFalse(logs.linesContaining("single-connection-required = true").isEmpty(), "the ERROR");
          return null;
        });
        String error = logs.linesContaining("single-connection-required = true").get(0);
        assertTrue(error.contains("ERROR") && error.contains("redis-router.redis.instances.default"), error);
        assertFalse(rt.handles().get("default").isUp(), "the instance is not used");
        assertTrue(rt.handles().get("default").lastError().contains("single-connection-required"),
            rt.handles().get("default").lastError());
        PublishReply r = RouterTestSupport.publish(kit, rt.router(),
            PublishRequest.of("single-r", RouterTestSupport.payload("x", 16)));
        PublishReply.Rejected rejected = assertInstanceOf(PublishReply.Rejected.class, r);
        assertEquals(PublishReply.RejectReason.UNAVAILABLE, rejected.reason());
        assertTrue(logs.linesContaining("using 3 connections").isEmpty(), "no fallback");
      } finally {
        kit.shutdownTestKit();
      }
    }
  }

  private static Object callError(RedisServer redis, String... args) {
    try {
      return redis.call(args);
    } catch (RedisServer.RedisError e) {
      return e.getMessage();
    }
  }
}
