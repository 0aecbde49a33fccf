package io.redisrouter.router.http;

import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisExtension;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Redis with {@code requirepass}: the router authenticates with {@code redis.instances.default.password}; with a
 * wrong password it keeps retrying, reports a clear error (in the log and in /health/ready) and never shows the
 * password; once Redis accepts the configured password, it connects by itself.
 */
class RedisAuthIT {
  static final String PASSWORD = "redis-pw-" + Long.toHexString(System.nanoTime());
  static final String WRONG = "wrong-pw-" + Long.toHexString(System.nanoTime());
  @RegisterExtension
  static final RedisExtension redis = RedisExtension
      .of(() -> RedisServer.builder().arg("--requirepass", PASSWORD).start())
      .withKit("redis-auth");

  private static String password(String pw) {
    return "redis-router.redis.instances.default.password = \"" + pw + "\"\n";
  }

  @Test
  void theRightPasswordConnectsAndPublishes() throws Exception {
    RouterService service = HttpTestSupport.start("redis-auth-good", redis.server(), password(PASSWORD));
    try {
      TestProbe<Object> probe = redis.kit().createTestProbe();
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(service.runtime().allRedisUp());
        return null;
      });
      HttpResponse<String> r = HttpTestSupport.post(service, "/v1/channels/auth-ok/messages", "{\"payload\": \"x\"}");
      assertEquals(202, r.statusCode(), r.body());
      assertEquals(1L, redis.server().callLong("XLEN", RedisKeys.stream("auth-ok")));
    } finally {
      service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void aWrongPasswordKeepsRetryingWithAClearErrorAndNoPasswordInTheLog() throws Exception {
    RouterService service;
    List<String> lines;
    try (LogCapture logs = LogCapture.start()) {
      service = HttpTestSupport.startUnready("redis-auth-bad", redis.server(), password(WRONG));
      try {
        RedisHandle handle = service.runtime().handleFor("auth-bad");
        TestProbe<Object> probe = redis.kit().createTestProbe();
        // retrying: several failed connect attempts are reported (backoff 100 ms, doubling)
        probe.awaitAssert(Duration.ofSeconds(15), () -> {
          assertTrue(logs.linesContaining("connect failed").size() >= 3, String.join("\n", logs.lines()));
          return null;
        });
        assertFalse(handle.isUp());
        String reason = handle.lastError();
        assertTrue(reason.contains("WRONGPASS") || reason.toLowerCase().contains("auth"), reason);

        HttpResponse<String> ready = HttpTestSupport.get(service, "/health/ready");
        assertEquals(503, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("WRONGPASS") || ready.body().toLowerCase().contains("auth"), ready.body());
        assertFalse(ready.body().contains(WRONG), ready.body());

        HttpResponse<String> pub = HttpTestSupport.post(service, "/v1/channels/auth-bad/messages", "{\"payload\": 1}");
        assertEquals(503, pub.statusCode(), pub.body());
        assertFalse(pub.body().contains(WRONG), pub.body());

        // the router keeps retrying: once Redis takes the configured password, it connects without a restart
        redis.server().call("CONFIG", "SET", "requirepass", WRONG);
        try {
          probe.awaitAssert(Duration.ofSeconds(15), () -> {
            assertTrue(handle.isUp(), handle.lastError());
            return null;
          });
          HttpResponse<String> ok = HttpTestSupport.post(service, "/v1/channels/auth-bad/messages", "{\"payload\": 2}");
          assertEquals(202, ok.statusCode(), ok.body());
        } finally {
          redis.server().call("CONFIG", "SET", "requirepass", PASSWORD);
        }
      } finally {
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      lines = logs.lines();
    }
    List<String> failures = lines.stream().filter(l -> l.contains("connect failed")).toList();
    assertTrue(failures.stream().allMatch(l -> l.contains("WRONGPASS") || l.toLowerCase().contains("auth")),
        "the connect failure names the cause:\n" + String.join("\n", failures));
    List<String> leaks = lines.stream().filter(l -> l.contains(WRONG) || l.contains(PASSWORD)).toList();
    assertTrue(leaks.isEmpty(), "the password appears in the log:\n" + String.join("\n", leaks));
    assertTrue(lines.size() > failures.size(), "the capture saw the start-up lines too");
  }
}
