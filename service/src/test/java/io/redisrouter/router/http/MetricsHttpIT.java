package io.redisrouter.router.http;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /metrics} over real HTTP: Prometheus text that parses, without a token, and counters that move by exactly
 * the traffic a test makes (one service of its own, so that no other test's traffic is counted).
 */
class MetricsHttpIT {
  static final Duration WAIT = Duration.ofSeconds(15);
  /** A sample line: name, optional labels, value. */
  static final Pattern SAMPLE = Pattern.compile(
      "([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\]|\\\\.)*\",?)*\\})? "
          + "(-?[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|[+-]Inf)( -?[0-9]+)?");

  static final int CLOSED_PORT = closedPort();

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("metrics-http") // its "spare" instance never answers
      .config("redis-router.redis.instances.spare { uri = \"redis://127.0.0.1:" + CLOSED_PORT
          + "\", connect-timeout = 200ms }\n"
          + "redis-router.channels.overrides.\"on-spare\" { redis-instance = spare }")
      .unready();

  /** A port nothing listens on once closed: the "spare" instance stays down. */
  static int closedPort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Scrapes /metrics without a token; checks every line is valid text format; returns samples by "name{labels}". */
  static Map<String, Double> scrape() throws Exception {
    HttpResponse<String> r = HttpTestSupport.send(HttpRequest.newBuilder(
        URI.create(node.service().baseUrl() + "/metrics")).GET().build());
    assertEquals(200, r.statusCode(), r.body());
    String ct = r.headers().firstValue("Content-Type").orElse("");
    assertTrue(ct.startsWith("text/plain") && ct.contains("version=0.0.4"), ct);
    Map<String, Double> samples = new HashMap<>();
    for (String line : r.body().split("\n")) {
      if (line.isEmpty()) continue;
      if (line.startsWith("#")) {
        assertTrue(line.startsWith("# HELP ") || line.startsWith("# TYPE "), line);
        continue;
      }
      Matcher m = SAMPLE.matcher(line);
      assertTrue(m.matches(), "not a Prometheus sample line: " + line);
      String key = m.group(1) + (m.group(2) == null ? "" : m.group(2));
      assertTrue(samples.put(key, Double.parseDouble(m.group(3).replace("Inf", "Infinity"))) == null,
          "duplicate sample " + key);
    }
    return samples;
  }

  static double delta(Map<String, Double> after, Map<String, Double> before, String key) {
    assertTrue(after.containsKey(key), "missing " + key + " in " + after.keySet());
    return after.get(key) - before.getOrDefault(key, 0.0);
  }

  @Test
  void countersMoveByExactlyTheTrafficAndGaugesReportState() throws Exception {
    // the node is started without waiting for readiness ("spare" never answers), so its "default" connection may
    // still be opening: wait for the gauge to show it before taking the baseline
    Map<String, Double>[] first = new Map[1];
    node.kit().createTestProbe().awaitAssert(WAIT, () -> {
      try {
        first[0] = scrape();
      } catch (Exception e) {
        throw new AssertionError(e);
      }
      assertEquals((double) io.redisrouter.router.RouterTestSupport.connectionsPerInstance(),
          first[0].get("redis_router_redis_connections{instance=\"default\"}"));
      return null;
    });
    Map<String, Double> before = first[0];
    for (String name : Set.of("redis_router_published_total", "redis_router_acked_total",
        "redis_router_nacked_total", "redis_router_retried_total", "redis_router_dead_lettered_total",
        "redis_router_expired_total", "redis_router_delivered_total", "redis_router_in_flight",
        "redis_router_ingress_depth", "redis_router_publish_to_ack_seconds_count")) {
      assertTrue(before.containsKey(name), "missing " + name + " in " + before.keySet());
    }
    assertEquals((double) io.redisrouter.router.RouterTestSupport.connectionsPerInstance(),
        before.get("redis_router_redis_connections{instance=\"default\"}"));
    assertEquals(0.0, before.get("redis_router_redis_connections{instance=\"spare\"}"));

    TestProbe<Delivery> sub = node.kit().createTestProbe();
    assertInstanceOf(SubscribeReply.Subscribed.class,
        RouterTestSupport.subscribe(node.kit(), node.service().runtime().router(), "met-ch", "m", sub.getRef(),
            io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH)); // holds 4 at once
    for (int i = 0; i < 4; i++) {
      HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/channels/met-ch/messages",
          "{\"payload\": \"m" + i + "\"}");
      assertEquals(202, r.statusCode(), r.body());
    }
    Map<String, Delivery> byPayload = new HashMap<>();
    for (int i = 0; i < 4; i++) {
      Delivery d = sub.receiveMessage(WAIT);
      byPayload.put(new String(d.envelope().payload()), d);
    }
    Map<String, Double> holding = scrape();
    assertEquals(4.0, holding.get("redis_router_in_flight"), "4 deliveries wait for their answer");
    byPayload.get("m0").replyTo().tell(byPayload.get("m0").ack());
    byPayload.get("m1").replyTo().tell(byPayload.get("m1").ack());
    byPayload.get("m2").replyTo().tell(byPayload.get("m2").nack("try again", false)); // retried
    byPayload.get("m3").replyTo().tell(byPayload.get("m3").nack("never", true)); // dead-lettered
    Delivery retry = sub.receiveMessage(WAIT);
    assertEquals("m2", new String(retry.envelope().payload()));
    assertEquals(2, retry.envelope().attempt());
    retry.replyTo().tell(retry.ack());

    Map<String, Double>[] after = new Map[1];
    node.kit().createTestProbe().awaitAssert(WAIT, () -> {
      try {
        after[0] = scrape();
      } catch (Exception e) {
        throw new AssertionError(e);
      }
      assertEquals(3.0, delta(after[0], before, "redis_router_acked_total"));
      assertEquals(1.0, delta(after[0], before, "redis_router_dead_lettered_total"));
      assertEquals(0.0, after[0].get("redis_router_in_flight"));
      return null;
    });
    Map<String, Double> a = after[0];
    assertEquals(4.0, delta(a, before, "redis_router_published_total"));
    assertEquals(5.0, delta(a, before, "redis_router_delivered_total"));
    assertEquals(2.0, delta(a, before, "redis_router_nacked_total"));
    assertEquals(1.0, delta(a, before, "redis_router_retried_total"));
    assertEquals(0.0, delta(a, before, "redis_router_expired_total"));
    assertEquals(3.0, delta(a, before, "redis_router_publish_to_ack_seconds_count"));
    assertTrue(delta(a, before, "redis_router_publish_to_ack_seconds_sum") > 0);
    assertEquals(3.0, delta(a, before, "redis_router_publish_to_ack_seconds_bucket{le=\"+Inf\"}"));
    assertEquals(0.0, a.get("redis_router_ingress_depth"));
    assertEquals((double) io.redisrouter.router.RouterTestSupport.connectionsPerInstance(),
        a.get("redis_router_redis_connections{instance=\"default\"}"));
    assertEquals(0.0, a.get("redis_router_redis_connections{instance=\"spare\"}"));
    sub.expectNoMessage(Duration.ofMillis(200));
  }

  @Test
  void aDownInstanceIsAnAdmin503AndListedAsUnavailable() throws Exception {
    HttpResponse<String> stats = HttpTestSupport.get(node.service(), "/v1/channels/on-spare");
    assertEquals(503, stats.statusCode(), stats.body());
    assertEquals("redis-unavailable", HttpTestSupport.json(stats).get("code").asText());
    assertTrue(stats.headers().firstValue("Retry-After").isPresent());
    HttpResponse<String> dead = HttpTestSupport.get(node.service(), "/v1/channels/on-spare/dead-letters");
    assertEquals(503, dead.statusCode(), dead.body());
    HttpResponse<String> list = HttpTestSupport.get(node.service(), "/v1/channels");
    assertEquals(200, list.statusCode(), list.body()); // the instances that are up are still listed
    assertEquals("spare", HttpTestSupport.json(list).get("unavailable").get(0).get("instance").asText(), list.body());
  }

  @Test
  void metricsNeedNoTokenButAcceptOne() throws Exception {
    HttpResponse<String> withToken = HttpTestSupport.get(node.service(), "/metrics");
    assertEquals(200, withToken.statusCode());
    assertTrue(withToken.body().contains("# TYPE redis_router_acked_total counter")
        || withToken.body().contains("# TYPE redis_router_acked counter"), withToken.body());
  }
}
