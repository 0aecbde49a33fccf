package io.redisrouter.router.redis;

import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The eviction-policy check at connect ({@code INFO memory}, which needs no CONFIG rights): a Redis whose
 * {@code maxmemory-policy} may evict the router's keys gets one WARN naming the instance, the policy, the keys at risk
 * and the fix; {@code allkeys-*} puts every key at risk (streams with their pending messages), {@code volatile-*} only
 * the dedup markers (the only keys the router gives a time to live). {@code noeviction} gets no WARN, and a user who
 * may not run INFO gets one INFO line saying the check could not be made, not an error.
 */
class EvictionPolicyIT {
  private static final Duration WAIT = Duration.ofSeconds(10);

  /** Starts a router on {@code redis} (at {@code uri}), waits until it connected, returns the lines with "maxmemory". */
  private static List<String> policyLines(RedisServer redis, String uri, String name) throws Exception {
    try (LogCapture logs = LogCapture.start()) {
      ActorTestKit kit = ActorTestKit.create(name);
      try {
        ActorRef<RouterCommand> router = kit.spawn(RedisRouter.create(RouterTestSupport.settings(redis,
            "node-id = " + name + "\nredis.instances.default.uri = \"" + uri + "\"")), "router");
        TestProbe<Object> probe = kit.createTestProbe();
        // the check runs right after the connect: await its line (a WARN, or an INFO)
        probe.awaitAssert(WAIT, () -> {
          assertTrue(logs.lines().stream().filter(l -> l.contains("pekko://" + name + "/"))
              .anyMatch(l -> l.contains("maxmemory-policy")
                  || l.contains("could not check its eviction policy")),
              () -> "no policy line yet for " + name);
          return null;
        });
        kit.stop(router);
        // this router's lines only (the classes of the suite may run at once): its actor system is in the MDC
        return logs.lines().stream().filter(l -> l.contains("pekko://" + name + "/"))
            .filter(l -> l.contains("maxmemory-policy") || l.contains("eviction policy")).toList();
      } finally {
        kit.shutdownTestKit();
      }
    }
  }

  private static List<String> warnings(List<String> lines) {
    return lines.stream().filter(l -> l.contains("WARN")).toList();
  }

  @Test
  void anAllkeysPolicyIsAWarningNamingEveryKeyAtRisk() throws Exception {
    try (RedisServer redis = RedisServer.builder().maxMemory("64mb", "allkeys-lru").start()) {
      List<String> lines = policyLines(redis, redis.uri(), "evict-allkeys");
      List<String> warn = warnings(lines);
      assertEquals(1, warn.size(), lines::toString);
      String w = warn.get(0);
      for (String part : List.of("'default'", "maxmemory-policy allkeys-lru", "rr:{channel}:stream",
          "pending entries", "rr:subscriptions", "rr:{channel}:dedup", "Set maxmemory-policy noeviction")) {
        assertTrue(w.contains(part), () -> "'" + part + "' missing in: " + w);
      }
    }
  }

  @Test
  void aVolatilePolicyIsAWarningNamingTheDedupMarkersOnly() throws Exception {
    try (RedisServer redis = RedisServer.builder().maxMemory("64mb", "volatile-lru").start()) {
      List<String> warn = warnings(policyLines(redis, redis.uri(), "evict-volatile"));
      assertEquals(1, warn.size(), warn::toString);
      String w = warn.get(0);
      assertTrue(w.contains("maxmemory-policy volatile-lru") && w.contains("rr:{channel}:dedup:<messageId>")
          && w.contains("delivered twice"), w);
      assertTrue(!w.contains("rr:{channel}:stream) with"), () -> "streams have no time to live: " + w);
    }
  }

  @Test
  void noevictionIsNoWarning() throws Exception {
    try (RedisServer redis = RedisServer.builder().maxMemory("64mb", "noeviction").start()) {
      List<String> lines = policyLines(redis, redis.uri(), "evict-none");
      assertEquals(List.of(), warnings(lines));
      assertTrue(lines.stream().anyMatch(l -> l.contains("maxmemory-policy noeviction")
          && l.contains("refused with redis-full")), lines::toString);
    }
  }

  @Test
  void aUserWhoMayNotRunInfoGetsOneInfoLineNotAnError() throws Exception {
    try (RedisServer redis = RedisServer.builder().maxMemory("64mb", "allkeys-lru").start()) {
      redis.call("ACL", "SETUSER", "router", "on", ">router-secret", "~*", "&*", "+@all", "-info");
      String uri = "redis://router:router-secret@" + redis.host() + ":" + redis.port();
      List<String> lines = policyLines(redis, uri, "evict-noinfo");
      assertEquals(List.of(), warnings(lines));
      assertEquals(1, lines.stream().filter(l -> l.contains("INFO") && l.contains("could not check its eviction"
          + " policy")).count(), lines::toString);
      assertTrue(lines.stream().noneMatch(l -> l.contains("router-secret")), "the password is not logged");
    }
  }
}
