package io.redisrouter.router.http;

import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.ConfigError;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HttpSettingsTest {
  private static final List<String> DURATIONS = List.of("max-pull-wait", "sse-heartbeat", "webhook.timeout",
      "pull-idle-release", "subscription-refresh", "shutdown.drain-max", "shutdown.terminate-deadline");

  private static void load(String hocon) {
    HttpSettings.load(ConfigFactory.parseString(hocon + "\nredis-router.http.auth.enabled = false")
        .withFallback(ConfigFactory.load()).resolve());
  }

  @Test
  void everyDurationBeyondWhatATimerHoldsFailsAtStartNamingTheKey() {
    for (String key : DURATIONS) {
      String full = "redis-router.http." + key;
      ConfigError e = assertThrows(ConfigError.class, () -> load(full + " = 400d"), full);
      assertEquals(full, e.key());
      assertTrue(e.getMessage().contains("at most 180d"), e.getMessage());
      ConfigError zero = assertThrows(ConfigError.class, () -> load(full + " = 0s"), full);
      assertTrue(zero.getMessage().contains("> 0"), zero.getMessage());
    }
    load("redis-router.http.max-pull-wait = 180d"); // the maximum itself is fine
  }
}
