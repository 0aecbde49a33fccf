package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Helpers of the consume-over-HTTP tests: subscriptions, publishing, pull / ack / nack, waiting with a deadline. */
final class ConsumeHttpSupport {
  static final Duration WAIT = Duration.ofSeconds(15);

  private ConsumeHttpSupport() {}

  /** Creates a pull subscription, expecting 201. */
  static JsonNode createPull(RouterService s, String name, String channel) throws Exception {
    return createPull(s.baseUrl(), name, channel);
  }

  static JsonNode createPull(String baseUrl, String name, String channel) throws Exception {
    RouterClient.Reply r = new RouterClient(baseUrl).createSubscription(RouterClient.Subscription.pull(name, channel));
    assertEquals(201, r.status(), r.body());
    return r.json();
  }

  /** Publishes {@code n} JSON messages {"n": i, "tag": tag} in one batch; returns their message ids in order. */
  static List<String> publish(RouterService s, String channel, int n, String tag, MessageChecker checker)
      throws Exception {
    List<RouterClient.Message> messages = new ArrayList<>();
    for (int i = 0; i < n; i++) messages.add(RouterClient.Message.json(Map.of("n", i, "tag", tag)));
    RouterClient.Reply r = new RouterClient(s).publishBatch(channel, messages);
    assertEquals(202, r.status(), r.body());
    List<String> ids = new ArrayList<>();
    for (JsonNode res : r.get("results")) {
      assertEquals(202, res.get("status").asInt(), res.toString());
      String id = res.get("messageId").asText();
      ids.add(id);
      if (checker != null) {
        checker.sent(id);
        checker.accepted(id);
      }
    }
    assertEquals(n, ids.size());
    return ids;
  }

  static HttpResponse<String> pullRaw(RouterService s, String sub, String body) throws Exception {
    return HttpTestSupport.post(s, "/v1/subscriptions/" + sub + "/pull", body);
  }

  /** A pull sent without waiting for its answer (a long pull the test answers meanwhile). */
  static CompletableFuture<HttpResponse<String>> pullAsync(RouterService s, String sub, String body) {
    return HttpTestSupport.sendAsync(HttpTestSupport.request(s, "/v1/subscriptions/" + sub + "/pull")
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
  }

  /** One pull; expects 200 and returns the messages array. */
  static List<JsonNode> pull(RouterService s, String sub, int max, long waitMs) throws Exception {
    return pull(s.baseUrl(), sub, max, waitMs);
  }

  static List<JsonNode> pull(String baseUrl, String sub, int max, long waitMs) throws Exception {
    RouterClient.Reply r = new RouterClient(baseUrl).pull(sub, max, waitMs);
    assertEquals(200, r.status(), r.body());
    List<JsonNode> out = new ArrayList<>();
    r.get("messages").forEach(out::add);
    return out;
  }

  /** Pulls until {@code until} holds for everything received so far (or the deadline passes); returns all of it. */
  static List<JsonNode> pullUntil(RouterService s, String sub, Predicate<List<JsonNode>> until) throws Exception {
    List<JsonNode> got = new ArrayList<>();
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!until.test(got)) {
      assertTrue(System.nanoTime() < deadline, () -> "not received in " + WAIT + "; got " + got);
      got.addAll(pull(s, sub, 100, 500));
    }
    return got;
  }

  static HttpResponse<String> settleRaw(RouterService s, String sub, String verb, String body) throws Exception {
    return HttpTestSupport.post(s, "/v1/subscriptions/" + sub + "/" + verb, body);
  }

  static JsonNode ack(RouterService s, String sub, Collection<String> deliveryIds) throws Exception {
    return ack(s.baseUrl(), sub, deliveryIds);
  }

  static JsonNode ack(String baseUrl, String sub, Collection<String> deliveryIds) throws Exception {
    RouterClient.Reply r = new RouterClient(baseUrl).ack(sub, deliveryIds);
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  /** Acks every delivery of {@code ds}, expecting all of them to be known. */
  static void ackAll(RouterService s, String sub, List<JsonNode> ds) throws Exception {
    ackAll(s.baseUrl(), sub, ds);
  }

  static void ackAll(String s, String sub, List<JsonNode> ds) throws Exception {
    if (ds.isEmpty()) return;
    List<String> ids = ds.stream().map(d -> d.get("deliveryId").asText()).toList();
    JsonNode r = ack(s, sub, ids);
    assertEquals(ids.size(), r.get("acked").asInt(), r.toString());
    assertEquals(0, r.get("unknown").size(), r.toString());
  }

  static JsonNode nack(RouterService s, String sub, String deliveryId, String error, boolean doNotRetry)
      throws Exception {
    RouterClient.Reply r = new RouterClient(s).nack(sub, List.of(deliveryId), error, doNotRetry);
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  /** A statistic that must be known: a JSON number (a null or missing field fails: unknown is not zero). */
  static long known(JsonNode statistic) {
    assertTrue(statistic != null && statistic.isNumber(), () -> "expected a number, got " + statistic);
    return statistic.asLong();
  }

  /** True when {@code statistic} is the number 0 (not null, not missing). */
  static boolean isZero(JsonNode statistic) {
    return statistic != null && statistic.isNumber() && statistic.asLong() == 0;
  }

  static String messageId(JsonNode delivery) {
    return delivery.get("messageId").asText();
  }

  /** Calls {@code probe} until {@code until} holds for its result; fails with the last result after {@link #WAIT}. */
  static <T> T await(String what, Callable<T> probe, Predicate<T> until) throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    T last = null;
    while (true) {
      last = probe.call();
      if (until.test(last)) return last;
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + WAIT + ": " + what + "; last: " + last);
      }
      Thread.sleep(20);
    }
  }

  /** GETs {@code path} (expecting 200) until {@code until} holds. */
  static JsonNode awaitJson(RouterService s, String path, Predicate<JsonNode> until) throws Exception {
    return awaitJson(s.baseUrl(), path, until);
  }

  static JsonNode awaitJson(String s, String path, Predicate<JsonNode> until) throws Exception {
    return await("GET " + path, () -> {
      HttpResponse<String> r = HttpTestSupport.get(s, path);
      assertEquals(200, r.statusCode(), r.body());
      return HttpTestSupport.json(r);
    }, until);
  }

  /** Waits until the subscription's statistics show nothing pending; returns them. */
  static JsonNode awaitNothingPending(RouterService s, String sub) throws Exception {
    return awaitNothingPending(s.baseUrl(), sub);
  }

  static JsonNode awaitNothingPending(String s, String sub) throws Exception {
    return awaitJson(s, "/v1/subscriptions/" + sub, b -> b.get("stats").get("pending").asLong() == 0);
  }

  /** The consumer group names on {@code channel}'s stream (empty when the stream does not exist). */
  static List<String> groups(RedisServer redis, String channel) {
    List<String> names = new ArrayList<>();
    if (redis.callLong("EXISTS", RedisKeys.stream(channel)) == 0) return names;
    for (Object g : redis.callList("XINFO", "GROUPS", RedisKeys.stream(channel))) {
      List<?> fields = (List<?>) g;
      for (int i = 0; i + 1 < fields.size(); i += 2) {
        if ("name".equals(str(fields.get(i)))) names.add(str(fields.get(i + 1)));
      }
    }
    return names;
  }

  private static String str(Object o) {
    return o instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : String.valueOf(o);
  }

  /** Asserts the checker lost nothing and logs its report. */
  static MessageChecker.Report report(MessageChecker checker, String test) {
    checker.logReport(test);
    MessageChecker.Report r = checker.report();
    assertEquals(0, r.lost(), () -> "lost: " + checker.lostIds());
    assertEquals(0, r.unexpected(), () -> "unexpected: " + checker.unexpectedIds());
    return r;
  }
}
