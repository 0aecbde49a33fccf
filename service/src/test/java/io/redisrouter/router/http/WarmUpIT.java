package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The warm-up before readiness ({@code redis-router.http.warm-up}): a node started with it is not ready while it
 * drives its own publish and pull paths (readiness says {@code warmUp: running}), becomes ready once the duration
 * passed and not before, says in its log what it published and pulled, and leaves no stream behind in Redis and no
 * subscription in the list; a bad duration is refused naming the key.
 */
class WarmUpIT {
  static final Duration WARM_UP = Duration.ofSeconds(2);
  static RedisServer redis;

  @BeforeAll
  static void startRedis() {
    redis = RedisServer.start();
  }

  @AfterAll
  static void stopRedis() {
    if (redis != null) redis.close();
  }

  @Test
  void aNodeIsNotReadyWhileItWarmsUpThenReadyWithNothingLeftBehind() throws Exception {
    try (LogCapture logs = LogCapture.start()) {
      long started = System.nanoTime();
      RouterService s = HttpTestSupport.startUnready("warm-up", redis,
          "redis-router.http.warm-up = " + WARM_UP.toMillis() + "ms");
      try {
        // the warm-up runs: not ready, and readiness says why
        HttpResponse<String> during = HttpTestSupport.get(s, "/health/ready");
        assertEquals(503, during.statusCode(), during.body());
        assertEquals("running", HttpTestSupport.json(during).get("warmUp").asText(), during.body());

        HttpTestSupport.awaitReady(s);
        long readyAfterMs = (System.nanoTime() - started) / 1_000_000;
        HttpResponse<String> after = HttpTestSupport.get(s, "/health/ready");
        assertEquals("done", HttpTestSupport.json(after).get("warmUp").asText(), after.body());
        // not before the warm-up's duration has passed, and not long after it
        assertTrue(readyAfterMs >= WARM_UP.toMillis(), "ready after " + readyAfterMs + " ms");
        assertTrue(readyAfterMs < WARM_UP.toMillis() + 12_000, "ready after " + readyAfterMs + " ms");

        String line = logs.lines().stream().filter(l -> l.contains("warm-up done")).findFirst()
            .orElseThrow(() -> new AssertionError("no 'warm-up done' line in " + logs.lines().size() + " lines"));
        Matcher m = Pattern.compile("(\\d+) published, (\\d+) pulled and acked, (\\d+) failed calls").matcher(line);
        assertTrue(m.find(), line);
        long published = Long.parseLong(m.group(1));
        long acked = Long.parseLong(m.group(2));
        System.out.printf("warm-up: ready after %d ms; published=%d acked=%d failed=%s%n", readyAfterMs, published,
            acked, m.group(3));
        assertTrue(published > 0, line);
        assertTrue(acked > 0, line);
        assertFalse(line.contains("left out"), line);

        // nothing left behind: no warm-up stream, no warm-up subscription (its deletion's tombstone stays, as for
        // any deleted subscription, for subscription-tombstone-retention)
        List<Object> keys = redis.callList("KEYS", "rr:{rr-warmup.*");
        assertTrue(keys.isEmpty(), "left in Redis: " + keys);
        JsonNode subs = HttpTestSupport.json(HttpTestSupport.get(s, "/v1/subscriptions"));
        assertFalse(subs.toString().contains("rr-warmup"), subs.toString());

        // and the node serves as any other
        HttpResponse<String> publish = HttpTestSupport.post(s, "/v1/channels/after-warm-up/messages",
            "{\"payload\": 1}");
        assertEquals(202, publish.statusCode(), publish.body());
      } finally {
        s.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void aWarmUpOverAMinuteIsRefusedNamingTheKey() {
    com.typesafe.config.Config bad = HttpTestSupport.config(redis, "redis-router.http.warm-up = 2m");
    io.redisrouter.config.ConfigError e = org.junit.jupiter.api.Assertions.assertThrows(
        io.redisrouter.config.ConfigError.class, () -> HttpSettings.load(bad));
    assertTrue(e.getMessage().contains("redis-router.http.warm-up"), e.getMessage());
    assertTrue(e.getMessage().contains("0s (off) to 60s"), e.getMessage());
  }
}
