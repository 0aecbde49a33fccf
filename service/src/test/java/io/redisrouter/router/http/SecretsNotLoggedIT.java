package io.redisrouter.router.http;

import ch.qos.logback.classic.Level;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.RouterSettings;
import ch.qos.logback.classic.LoggerContext;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.router.service.SecretSafeLogFilter;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisExtension;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Secrets never reach a log line or an HTTP error body: a whole scenario (start, good and bad requests, wrong and
 * under-scoped tokens, a second node with a wrong Redis password, stop) runs with every logger at TRACE (with the
 * service's {@link SecretSafeLogFilter}, which drops Lettuce's raw wire trace that shows AUTH), captured by
 * an appender on the root logger; then no captured line (message, arguments, exception messages and frames) and no
 * response body contains the HTTP tokens, the Redis password, or the wrong token and password that were tried.
 */
class SecretsNotLoggedIT {
  static final String NONCE = Long.toHexString(System.nanoTime());
  static final String HTTP_TOKEN = "Sx7-http-token-" + NONCE;
  static final String PUBLISH_TOKEN = "Sx7-publish-token-" + NONCE;
  static final String CONSUME_TOKEN = "Sx7-consume-token-" + NONCE;
  static final String WRONG_TOKEN = "Sx7-wrong-token-" + NONCE;
  static final String REDIS_PASSWORD = "Sx7-redis-pw-" + NONCE;
  static final String WRONG_REDIS_PASSWORD = "Sx7-wrong-redis-pw-" + NONCE;
  static final List<String> SECRETS = List.of(HTTP_TOKEN, PUBLISH_TOKEN, CONSUME_TOKEN, WRONG_TOKEN, REDIS_PASSWORD,
      WRONG_REDIS_PASSWORD);

  @RegisterExtension
  static final RedisExtension redis = RedisExtension
      .of(() -> RedisServer.builder().arg("--requirepass", REDIS_PASSWORD).start()).withKit("secrets");

  static Config config(String redisPassword, boolean authOn) {
    return ConfigFactory.parseString(
        "pekko.loglevel = DEBUG\n"
            + "redis-router.redis.instances.default.password = \"" + redisPassword + "\"\n"
            + "redis-router.http.auth.enabled = " + authOn + "\n"
            + "redis-router.http.auth.tokens = [\n"
            + "  { name = ops, token = \"" + HTTP_TOKEN + "\", scopes = [publish, consume, admin] },\n"
            + "  { name = producer, token = \"" + PUBLISH_TOKEN + "\", scopes = [publish] },\n"
            + "  { name = consumer, token = \"" + CONSUME_TOKEN + "\", scopes = [consume] } ]\n")
        .withFallback(HttpTestSupport.config(redis.server(), ""))
        .resolve();
  }

  static HttpResponse<String> send(RouterService s, String method, String path, String token, String body)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).timeout(Duration.ofSeconds(30))
        .header("Content-Type", "application/json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (token != null) b.header("Authorization", "Bearer " + token);
    return HttpTestSupport.send(b.build());
  }

  @Test
  void noSecretInAnyLogLineOrErrorBody() throws Exception {
    List<String> bodies = new ArrayList<>();
    List<Integer> statuses = new ArrayList<>();
    List<String> lines;
    String settingsShown;
    // as logback-router.xml does for the service: Lettuce's raw wire trace (AUTH included) is filtered out
    SecretSafeLogFilter wireFilter = new SecretSafeLogFilter();
    LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
    wireFilter.setContext(ctx);
    wireFilter.start();
    ctx.addTurboFilter(wireFilter);
    try (LogCapture logs = LogCapture.everything(Level.TRACE)) {
      // with the warm-up on: it sends the configured tokens over loopback, and they must not show up either
      Config good = ConfigFactory.parseString("redis-router.http.warm-up = 1s")
          .withFallback(config(REDIS_PASSWORD, true));
      settingsShown = RouterSettings.load(good) + " " + HttpSettings.load(good) + " "
          + HttpSettings.load(good).tokens();
      RouterService service = RouterService.start("secrets-good", good);
      RouterService badRedis = null;
      try {
        TestProbe<Object> probe = redis.kit().createTestProbe();
        probe.awaitAssert(Duration.ofSeconds(10), () -> {
          assertTrue(service.runtime().allRedisUp());
          return null;
        });
        HttpTestSupport.awaitReady(service);
        assertTrue(logs.lines().stream().anyMatch(l -> l.contains("warm-up done") && l.contains("0 failed calls")
            && !l.contains("left out")), "the warm-up ran, every part of it");
        String ch = "/v1/channels/secret-orders";
        List<HttpResponse<String>> rs = new ArrayList<>();
        rs.add(send(service, "POST", ch + "/messages", HTTP_TOKEN, "{\"payload\": {\"n\": 1}}"));
        rs.add(send(service, "POST", ch + "/messages/batch", PUBLISH_TOKEN,
            "{\"messages\": [{\"payload\": \"a\"}, {\"payload\": \"b\"}]}"));
        rs.add(send(service, "POST", ch + "/messages", HTTP_TOKEN, "{not json"));
        rs.add(send(service, "POST", ch + "/messages", HTTP_TOKEN, "{\"payload\": 1, \"ttl\": \"soon\", \"x\": 2}"));
        rs.add(send(service, "POST", "/v1/channels/bad*name/messages", HTTP_TOKEN, "{\"payload\": 1}"));
        rs.add(send(service, "POST", ch + "/messages", WRONG_TOKEN, "{\"payload\": 1}"));
        rs.add(send(service, "POST", ch + "/messages", null, "{\"payload\": 1}"));
        rs.add(send(service, "POST", ch + "/messages", HTTP_TOKEN.substring(0, HTTP_TOKEN.length() - 1),
            "{\"payload\": 1}"));
        // the real token in the wrong scheme, and a token of a scope that does not fit
        rs.add(HttpTestSupport.send(HttpRequest.newBuilder(URI.create(service.baseUrl() + ch + "/messages"))
            .header("Authorization", "Basic " + HTTP_TOKEN)
            .POST(HttpRequest.BodyPublishers.ofString("{\"payload\": 1}")).build()));
        rs.add(send(service, "POST", ch + "/messages", CONSUME_TOKEN, "{\"payload\": 1}"));
        rs.add(send(service, "GET", "/v1/channels/secret-orders/dead-letters", PUBLISH_TOKEN, null));
        rs.add(send(service, "GET", "/v1/metrics", PUBLISH_TOKEN, null));
        rs.add(send(service, "GET", "/v1/no-such-endpoint", HTTP_TOKEN, null));
        rs.add(send(service, "DELETE", ch + "/messages", HTTP_TOKEN, null));
        rs.add(send(service, "GET", "/health/ready", null, null));
        for (HttpResponse<String> r : rs) {
          statuses.add(r.statusCode());
          bodies.add(r.statusCode() + " " + r.uri() + " " + r.body() + " " + r.headers().map());
        }
        assertEquals(202, statuses.get(0), bodies.get(0));
        assertEquals(202, statuses.get(1), bodies.get(1));
        assertEquals(400, statuses.get(2), bodies.get(2));
        assertEquals(401, statuses.get(5), bodies.get(5));
        assertEquals(401, statuses.get(6), bodies.get(6));
        assertEquals(401, statuses.get(7), bodies.get(7));
        assertEquals(401, statuses.get(8), bodies.get(8));
        assertEquals(403, statuses.get(9), bodies.get(9));

        // a second node with a wrong Redis password: it fails to connect (and says so) until stopped
        badRedis = RouterService.start("secrets-bad-redis", config(WRONG_REDIS_PASSWORD, true));
        RouterService bad = badRedis;
        probe.awaitAssert(Duration.ofSeconds(10), () -> {
          assertTrue(logs.linesContaining("WRONGPASS").size() >= 2);
          return null;
        });
        HttpResponse<String> ready = send(bad, "GET", "/health/ready", null, null);
        assertEquals(503, ready.statusCode(), ready.body());
        bodies.add(ready.body());
        HttpResponse<String> unavailable = send(bad, "POST", ch + "/messages", HTTP_TOKEN, "{\"payload\": 1}");
        assertEquals(503, unavailable.statusCode(), unavailable.body());
        bodies.add(unavailable.body());
      } finally {
        if (badRedis != null) badRedis.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      lines = logs.lines();
    } finally {
      ctx.getTurboFilterList().remove(wireFilter);
    }
    // the capture did see the whole scenario, down to TRACE
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("DEBUG")), "DEBUG lines were captured");
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("TRACE")), "TRACE lines were captured");
    assertTrue(lines.stream().anyMatch(l -> l.contains("HTTP endpoint listening")), "start-up was captured");
    assertTrue(lines.stream().anyMatch(l -> l.contains("WRONGPASS")), "the Redis auth failure was captured");
    assertTrue(lines.stream().anyMatch(l -> l.contains("stopped")), "the stop was captured");
    System.out.println("SecretsNotLoggedIT: " + lines.size() + " log events and " + bodies.size()
        + " responses checked");

    for (String secret : SECRETS) {
      List<String> leaks = lines.stream().filter(l -> l.contains(secret)).toList();
      assertTrue(leaks.isEmpty(), "secret " + secret + " appears in the log:\n" + String.join("\n", leaks));
      List<String> leakingBodies = bodies.stream().filter(b -> b.contains(secret)).toList();
      assertTrue(leakingBodies.isEmpty(), "secret " + secret + " appears in a response:\n"
          + String.join("\n", leakingBodies));
      assertFalse(settingsShown.contains(secret), settingsShown);
    }
    assertTrue(settingsShown.contains("password=<set>"), settingsShown);
  }

  @Test
  void theServiceLogConfigurationInstallsTheWireFilter() throws Exception {
    try (var in = SecretsNotLoggedIT.class.getResourceAsStream("/logback-router.xml")) {
      String xml = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      assertTrue(xml.contains("<turboFilter class=\"" + SecretSafeLogFilter.class.getName() + "\""), xml);
    }
  }

  @Test
  void authOffIsAnnouncedWithAWarning() throws Exception {
    List<String> warnings;
    try (LogCapture logs = LogCapture.start()) {
      RouterService service = RouterService.start("secrets-auth-off", config(REDIS_PASSWORD, false));
      try {
        HttpResponse<String> r = send(service, "POST", "/v1/channels/open/messages", null, "{\"payload\": 1}");
        assertEquals(202, r.statusCode(), r.body());
      } finally {
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      warnings = logs.events().stream().filter(e -> e.getLevel() == Level.WARN)
          .map(e -> e.getFormattedMessage()).filter(m -> m.contains("HTTP auth is OFF")).toList();
    }
    assertEquals(1, warnings.size(), warnings.toString());
    assertTrue(warnings.get(0).contains("never run like this in production"), warnings.get(0));
  }
}
