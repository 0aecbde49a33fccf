package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The admin API over real HTTP (server on port 0, own Redis): channel stats, dead letters (paging, inspect, replay one
 * and all, delete, purge) and the admin scope.
 */
class AdminHttpIT {
  static final String CONSUME_TOKEN = "test-token-consume-only";
  static final Duration WAIT = Duration.ofSeconds(15);

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("admin-http").config("redis-router.http.auth.tokens = [\n"
      + "  { name = test, token = \"" + HttpTestSupport.TOKEN + "\", scopes = [publish, consume, admin] }\n"
      + "  { name = consumer, token = \"" + CONSUME_TOKEN + "\", scopes = [consume] }\n"
      + "]\n"
      + "redis-router.channels.overrides {\n"
      + "  \"adm-stats\" { ack-timeout = 60s }\n"
      + "  \"adm-bc\" { mode = broadcast }\n"
      + "}\n");

  // ---- helpers ----------------------------------------------------------------------------------------------------

  static TestProbe<Delivery> subscribe(String channel, String subscription) {
    TestProbe<Delivery> probe = node.kit().createTestProbe();
    // a probe: the test answers its deliveries later, several at a time
    SubscribeReply r = RouterTestSupport.subscribe(node.kit(), node.service().runtime().router(), channel, subscription,
        probe.getRef(), io.redisrouter.protocol.RouterCommand.Subscribe.MAX_PREFETCH);
    assertInstanceOf(SubscribeReply.Subscribed.class, r);
    return probe;
  }

  static String publish(String channel, String body) throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/channels/" + channel + "/messages", body);
    assertEquals(202, r.statusCode(), r.body());
    return HttpTestSupport.json(r).get("messageId").asText();
  }

  static List<Delivery> receive(TestProbe<Delivery> probe, int n) {
    List<Delivery> out = new ArrayList<>();
    for (int i = 0; i < n; i++) out.add(probe.receiveMessage(WAIT));
    return out;
  }

  static String streamId(Delivery d) {
    return d.deliveryId().substring(0, d.deliveryId().indexOf('#'));
  }

  static JsonNode getJson(String path, int status) throws Exception {
    HttpResponse<String> r = HttpTestSupport.get(node.service(), path);
    assertEquals(status, r.statusCode(), r.body());
    return HttpTestSupport.json(r);
  }

  /** GETs {@code path} until {@code until} holds (the XACK and dead-lettering are asynchronous). */
  static JsonNode awaitJson(String path, Predicate<JsonNode> until) {
    JsonNode[] last = {null};
    node.kit().createTestProbe().awaitAssert(WAIT, () -> {
      try {
        last[0] = getJson(path, 200);
      } catch (Exception e) {
        throw new AssertionError(e);
      }
      assertTrue(until.test(last[0]), () -> "not yet: " + last[0]);
      return null;
    });
    return last[0];
  }

  record DeadLettered(TestProbe<Delivery> subscriber, List<String> messageIds) {}

  /**
   * Dead-letters {@code n} messages on {@code channel}: published over HTTP, delivered to a new subscriber that rejects
   * them (do not retry). Returns the subscriber (still subscribed) and the message ids.
   */
  static DeadLettered deadLetter(String channel, String subscription, int n, String extraFields) throws Exception {
    TestProbe<Delivery> sub = subscribe(channel, subscription);
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ids.add(publish(channel, "{\"payload\": {\"n\": " + i + "}" + extraFields + "}"));
    }
    for (Delivery d : receive(sub, n)) d.replyTo().tell(d.nack("cannot handle " + d.envelope().id(), true));
    awaitJson("/v1/channels/" + channel + "/dead-letters",
        b -> b.get("total").asLong() == n && b.get("items").size() == Math.min(n, 100));
    return new DeadLettered(sub, ids);
  }

  static HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
    return HttpTestSupport.send(b.build());
  }

  // ---- channels ---------------------------------------------------------------------------------------------------

  @Test
  void channelStatsReflectPublishedPendingAndDeadLetters() throws Exception {
    String ch = "adm-stats";
    TestProbe<Delivery> sub = subscribe(ch, "billing");
    for (int i = 0; i < 5; i++) publish(ch, "{\"payload\": {\"n\": " + i + "}}");
    List<Delivery> ds = receive(sub, 5);
    ds.get(0).replyTo().tell(ds.get(0).ack());
    ds.get(1).replyTo().tell(ds.get(1).ack());
    ds.get(2).replyTo().tell(ds.get(2).nack("bad order", true));

    JsonNode stats = awaitJson("/v1/channels/" + ch, b -> b.get("deadLetters").asLong() == 1
        && b.get("subscriptions").size() == 1 && b.get("subscriptions").get(0).get("pending").asLong() == 2);
    assertEquals("reliable", stats.get("mode").asText());
    assertTrue(stats.get("configured").asBoolean());
    assertTrue(stats.get("exists").asBoolean());
    assertEquals(60_000, stats.get("policy").get("ackTimeoutMs").asLong());
    assertEquals(5, stats.get("length").asLong(), stats.toString());
    assertEquals(5, stats.get("published").get("total").asLong(), stats.toString());
    assertTrue(stats.get("published").get("perSecond").asDouble() > 0, stats.toString());
    assertEquals(2, stats.get("acked").get("total").asLong(), stats.toString());
    JsonNode s = stats.get("subscriptions").get(0);
    assertEquals("billing", s.get("name").asText());
    assertTrue(s.get("consumers").asLong() >= 1, s.toString());
    assertEquals(streamId(ds.get(4)), s.get("lastDeliveredId").asText(), s.toString());
    assertEquals(0, ConsumeHttpSupport.known(s.get("lag")),
        "everything was delivered: lag 0 (reported by Redis 7, counted by the router on 6.2); " + s);
    assertEquals(streamId(ds.get(3)), s.get("oldestPendingId").asText(), s.toString());
    long age = s.get("oldestPendingAgeMs").asLong();
    long sincePublish = System.currentTimeMillis() - io.redisrouter.router.redis.StreamIds.millis(streamId(ds.get(3)));
    assertTrue(age >= 0 && age <= sincePublish, age + " vs " + sincePublish);

    JsonNode list = getJson("/v1/channels", 200);
    Map<String, JsonNode> byName = new java.util.HashMap<>();
    list.get("channels").forEach(c -> byName.put(c.get("channel").asText(), c));
    assertTrue(byName.get(ch).get("stream").asBoolean(), list.toString());
    assertEquals(5, byName.get(ch).get("length").asLong(), list.toString());
    assertEquals(1, byName.get(ch).get("deadLetters").asLong(), list.toString());
    assertEquals("broadcast", byName.get("adm-bc").get("mode").asText(), list.toString());
    assertFalse(list.get("truncated").asBoolean());

    for (Delivery d : ds.subList(3, 5)) d.replyTo().tell(d.ack());
    awaitJson("/v1/channels/" + ch, b -> b.get("subscriptions").get(0).get("pending").asLong() == 0
        && b.get("acked").get("total").asLong() == 4);
  }

  @Test
  void unknownAndInvalidChannelsAre404And400() throws Exception {
    assertEquals("not-found", getJson("/v1/channels/adm-never-used", 404).get("code").asText());
    JsonNode bad = getJson("/v1/channels/bad*name", 400);
    assertEquals("channel", bad.get("errors").get(0).get("field").asText(), bad.toString());
    JsonNode bc = getJson("/v1/channels/adm-bc", 200);
    assertEquals("broadcast", bc.get("mode").asText());
    assertEquals(0, bc.get("subscriptions").size());
  }

  // ---- dead letters -----------------------------------------------------------------------------------------------

  @Test
  void deadLettersArePagedInspectedDeletedAndPurged() throws Exception {
    String ch = "adm-dead";
    List<String> published = deadLetter(ch, "ops", 5, ", \"headers\": {\"trace\": \"t-1\"}").messageIds();
    String base = "/v1/channels/" + ch + "/dead-letters";

    List<String> ids = new ArrayList<>();
    Set<String> messageIds = new HashSet<>();
    String after = null;
    List<Integer> pageSizes = new ArrayList<>();
    for (int page = 0; page < 10; page++) {
      JsonNode p = getJson(base + "?limit=2" + (after == null ? "" : "&after=" + after), 200);
      assertEquals(5, p.get("total").asLong());
      pageSizes.add(p.get("items").size());
      for (JsonNode item : p.get("items")) {
        ids.add(item.get("id").asText());
        messageIds.add(item.get("envelope").get("messageId").asText());
        assertEquals("rejected", item.get("reason").asText());
        assertFalse(item.get("envelope").has("payloadBase64"), "pages leave payloads out");
      }
      if (p.get("nextAfter").isNull()) break;
      after = p.get("nextAfter").asText();
    }
    assertEquals(List.of(2, 2, 1), pageSizes);
    assertEquals(Set.copyOf(published), messageIds);
    assertEquals(5, new HashSet<>(ids).size());

    JsonNode one = getJson(base + "/" + ids.get(0), 200);
    assertEquals(ids.get(0), one.get("id").asText());
    assertEquals("ops", one.get("subscription").asText());
    assertEquals("rejected", one.get("reason").asText());
    assertEquals(1, one.get("attempts").asInt());
    JsonNode env = one.get("envelope");
    assertTrue(one.get("lastError").asText().contains("cannot handle " + env.get("messageId").asText()),
        one.toString());
    assertTrue(Instant.parse(one.get("at").asText()).isAfter(Instant.now().minusSeconds(60)), one.toString());
    assertEquals("t-1", env.get("headers").get("trace").asText());
    assertEquals("application/json", env.get("contentType").asText());
    JsonNode payload = HttpTestSupport.JSON.readTree(Base64.getDecoder().decode(env.get("payloadBase64").asText()));
    assertEquals(env.get("payload"), payload);
    assertTrue(env.get("payload").has("n"), env.toString());

    assertEquals(404, HttpTestSupport.get(node.service(), base + "/1-1").statusCode());
    assertEquals(400, HttpTestSupport.get(node.service(), base + "/not-an-id").statusCode());
    assertEquals(400, HttpTestSupport.get(node.service(), base + "?limit=0").statusCode());
    assertEquals(400, HttpTestSupport.get(node.service(), base + "?after=x").statusCode());

    assertEquals(204, HttpTestSupport.delete(node.service(), base + "/" + ids.get(0)).statusCode());
    assertEquals(404, HttpTestSupport.get(node.service(), base + "/" + ids.get(0)).statusCode());
    assertEquals(404, HttpTestSupport.delete(node.service(), base + "/" + ids.get(0)).statusCode());

    HttpResponse<String> purge = HttpTestSupport.delete(node.service(), base);
    assertEquals(200, purge.statusCode(), purge.body());
    assertEquals(4, HttpTestSupport.json(purge).get("purged").asLong());
    assertEquals(0, getJson(base, 200).get("total").asLong());
    assertEquals(0, node.redis().callLong("XLEN", RedisKeys.deadLetters(ch)));
  }

  @Test
  void replayingOneDeliversItAgainWithAFreshDeadlineAndDeletesTheDeadLetter() throws Exception {
    String ch = "adm-replay";
    TestProbe<Delivery> sub = subscribe(ch, "worker");
    String original = publish(ch, "{\"payload\": {\"order\": 7}, \"ttl\": \"10s\", \"partitionKey\": \"pk-7\","
        + " \"headers\": {\"trace\": \"t-7\"}}");
    Delivery first = sub.receiveMessage(WAIT);
    first.replyTo().tell(first.nack("downstream is down", true));
    JsonNode page = awaitJson("/v1/channels/" + ch + "/dead-letters",
        b -> b.get("total").asLong() == 1 && b.get("items").size() == 1);
    String id = page.get("items").get(0).get("id").asText();
    String base = "/v1/channels/" + ch + "/dead-letters/" + id;

    Instant before = Instant.now();
    HttpResponse<String> r = HttpTestSupport.post(node.service(), base + "/replay", "{\"ttl\": \"45s\"}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode body = HttpTestSupport.json(r);
    assertEquals(id, body.get("deadLetterId").asText());
    assertEquals(original, body.get("originalMessageId").asText());
    assertEquals(io.redisrouter.router.admin.DeadLetterAdmin.REPLAY_ID_PREFIX + id, body.get("messageId").asText());
    assertFalse(body.get("duplicate").asBoolean());
    assertTrue(body.get("deleted").asBoolean(), body.toString());

    Delivery again = sub.receiveMessage(WAIT);
    assertEquals(io.redisrouter.router.admin.DeadLetterAdmin.REPLAY_ID_PREFIX + id, again.envelope().id());
    assertEquals(1, again.envelope().attempt());
    assertEquals("{\"order\":7}", new String(again.envelope().payload(), StandardCharsets.UTF_8));
    assertEquals(first.envelope().contentType(), again.envelope().contentType());
    assertEquals(Map.of("trace", "t-7"), again.envelope().headers());
    assertEquals("pk-7", again.envelope().partitionKey());
    assertFalse(again.envelope().publishedAt().isBefore(before.minusMillis(1)), again.envelope().toString());
    assertEquals(Duration.ofSeconds(45), Duration.between(again.envelope().publishedAt(), again.envelope().deadline()));
    assertTrue(again.envelope().deadline().isAfter(first.envelope().deadline()));
    again.replyTo().tell(again.ack());

    assertEquals(404, HttpTestSupport.get(node.service(), base).statusCode());
    assertEquals(0, getJson("/v1/channels/" + ch + "/dead-letters", 200).get("total").asLong());
    assertEquals(404, HttpTestSupport.post(node.service(), base + "/replay", "").statusCode());
    JsonNode badTtl = HttpTestSupport
        .json(HttpTestSupport.post(node.service(), base + "/replay", "{\"ttl\": \"soon\"}"));
    assertEquals("ttl", badTtl.get("errors").get(0).get("field").asText(), badTtl.toString());
    sub.expectNoMessage(Duration.ofMillis(300));
  }

  @Test
  void replayingAllRepublishesEveryDeadLetterInBoundedRequests() throws Exception {
    String ch = "adm-replay-all";
    DeadLettered dl = deadLetter(ch, "batch", 3, "");
    String path = "/v1/channels/" + ch + "/dead-letters/replay";

    HttpResponse<String> r1 = HttpTestSupport.post(node.service(), path, "{\"max\": 2}");
    assertEquals(200, r1.statusCode(), r1.body());
    JsonNode b1 = HttpTestSupport.json(r1);
    assertEquals(2, b1.get("replayed").asInt(), b1.toString());
    assertEquals(0, b1.get("failed").asInt());
    assertEquals(1, b1.get("remaining").asLong());
    assertEquals("max", b1.get("stoppedBecause").asText());
    assertFalse(b1.get("complete").asBoolean());

    HttpResponse<String> r2 = HttpTestSupport.post(node.service(), path, "");
    JsonNode b2 = HttpTestSupport.json(r2);
    assertEquals(200, r2.statusCode(), r2.body());
    assertEquals(1, b2.get("replayed").asInt(), b2.toString());
    assertEquals(0, b2.get("remaining").asLong());
    assertTrue(b2.get("complete").asBoolean(), b2.toString());
    assertEquals(0, node.redis().callLong("XLEN", RedisKeys.deadLetters(ch)));

    // nothing left: an empty replay is fine
    JsonNode b3 = HttpTestSupport.json(HttpTestSupport.post(node.service(), path, ""));
    assertEquals(0, b3.get("replayed").asInt());
    assertTrue(b3.get("complete").asBoolean());

    Set<String> payloads = new HashSet<>();
    Set<String> ids = new HashSet<>();
    for (Delivery d : receive(dl.subscriber(), 3)) {
      ids.add(d.envelope().id());
      assertTrue(d.envelope().id().startsWith(io.redisrouter.router.admin.DeadLetterAdmin.REPLAY_ID_PREFIX),
          d.envelope().toString());
      // no ttl given: the channel's time-to-live (default 1h) from the replay on
      assertEquals(Duration.ofHours(1), Duration.between(d.envelope().publishedAt(), d.envelope().deadline()));
      payloads.add(new String(d.envelope().payload(), StandardCharsets.UTF_8));
      d.replyTo().tell(d.ack());
    }
    assertEquals(3, ids.size());
    assertEquals(Set.of("{\"n\":0}", "{\"n\":1}", "{\"n\":2}"), payloads);
    assertEquals(3, dl.messageIds().size());
    awaitJson("/v1/channels/" + ch, b -> b.get("subscriptions").get(0).get("pending").asLong() == 0);
    assertEquals(0, getJson("/v1/channels/" + ch + "/dead-letters", 200).get("total").asLong());
  }

  // ---- auth and documentation -------------------------------------------------------------------------------------

  @Test
  void adminEndpointsNeedTheAdminScope() throws Exception {
    String[] paths = {"/v1/channels", "/v1/channels/adm-auth", "/v1/channels/adm-auth/dead-letters",
        "/v1/channels/adm-auth/dead-letters/1-0"};
    for (String p : paths) {
      HttpResponse<String> consumeOnly = send(HttpRequest.newBuilder(URI.create(node.service().baseUrl() + p))
          .header("Authorization", "Bearer " + CONSUME_TOKEN).GET());
      assertEquals(403, consumeOnly.statusCode(), p + ": " + consumeOnly.body());
      assertEquals("forbidden", HttpTestSupport.json(consumeOnly).get("code").asText());
      HttpResponse<String> none = send(HttpRequest.newBuilder(URI.create(node.service().baseUrl() + p)).GET());
      assertEquals(401, none.statusCode(), p + ": " + none.body());
    }
    HttpResponse<String> purge = send(HttpRequest.newBuilder(
        URI.create(node.service().baseUrl() + "/v1/channels/adm-auth/dead-letters"))
        .header("Authorization", "Bearer " + CONSUME_TOKEN).DELETE());
    assertEquals(403, purge.statusCode(), purge.body());
    HttpResponse<String> replay = send(HttpRequest.newBuilder(
        URI.create(node.service().baseUrl() + "/v1/channels/adm-auth/dead-letters/replay"))
        .header("Authorization", "Bearer " + CONSUME_TOKEN).POST(HttpRequest.BodyPublishers.noBody()));
    assertEquals(403, replay.statusCode(), replay.body());
  }

  @Test
  void everyAdminEndpointIsDocumented() throws Exception {
    Set<String> served = new HashSet<>(node.service().http().endpoints().all());
    Set<String> documented = new HashSet<>(OpenApi.operations(getJson("/v1/openapi.json", 200)));
    List<String> mine = List.of("GET /v1/channels", "GET /v1/channels/{channel}",
        "GET /v1/channels/{channel}/dead-letters", "DELETE /v1/channels/{channel}/dead-letters",
        "POST /v1/channels/{channel}/dead-letters/replay", "GET /v1/channels/{channel}/dead-letters/{id}",
        "DELETE /v1/channels/{channel}/dead-letters/{id}", "POST /v1/channels/{channel}/dead-letters/{id}/replay",
        "GET /metrics");
    for (String e : mine) {
      assertTrue(served.contains(e), "not served: " + e);
      assertTrue(documented.contains(e), "not documented: " + e);
    }
    JsonNode doc = getJson("/v1/openapi.json", 200);
    assertNotNull(doc.get("paths").get("/v1/channels/{channel}/dead-letters/{id}/replay").get("post").get("security"));
    assertEquals(0, doc.get("paths").get("/metrics").get("get").get("security").size(), "metrics is open");
  }
}
