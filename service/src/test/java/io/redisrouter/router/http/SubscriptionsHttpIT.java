package io.redisrouter.router.http;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.redisrouter.router.http.ConsumeHttpSupport.ackAll;
import static io.redisrouter.router.http.ConsumeHttpSupport.await;
import static io.redisrouter.router.http.ConsumeHttpSupport.awaitJson;
import static io.redisrouter.router.http.ConsumeHttpSupport.awaitNothingPending;
import static io.redisrouter.router.http.ConsumeHttpSupport.createPull;
import static io.redisrouter.router.http.ConsumeHttpSupport.groups;
import static io.redisrouter.router.http.ConsumeHttpSupport.messageId;
import static io.redisrouter.router.http.ConsumeHttpSupport.pull;
import static io.redisrouter.router.http.ConsumeHttpSupport.pullUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Subscriptions over HTTP (server on port 0, own Redis): create / repeat / conflict, field errors, list, stats, delete
 * (with its consumer group), scopes, and that subscriptions and their messages survive a router restart.
 */
class SubscriptionsHttpIT {
  static final String CONSUME_TOKEN = "test-token-consume-only";

  static final String CONFIG = "redis-router.http.auth.tokens = [\n"
      + "  { name = test, token = \"" + HttpTestSupport.TOKEN + "\", scopes = [publish, consume, admin] }\n"
      + "  { name = consumer, token = \"" + CONSUME_TOKEN + "\", scopes = [consume] }\n"
      + "]\n"
      + "redis-router.channels.overrides {\n"
      + "  \"subs-bc\" { mode = broadcast }\n"
      + "}\n"
      // consumers poll often: a consumer that outlives its deleted group recreates it within ms
      + "redis-router.consumer.poll-interval = 2ms\n";

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("subscriptions-http").config(CONFIG);

  /** The configuration of {@link #node}, on another Redis (the restart test's own). */
  static Config config(RedisServer r) {
    return HttpTestSupport.config(r, CONFIG);
  }

  static HttpResponse<String> create(RouterService s, String body) throws Exception {
    return HttpTestSupport.post(s, "/v1/subscriptions", body);
  }

  static HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
    return HttpTestSupport.send(b.build());
  }

  // ---- create -----------------------------------------------------------------------------------------------------

  @Test
  void createIs201ThenTheSameIs200AndAnotherDefinitionIs409() throws Exception {
    HttpResponse<String> first = create(node.service(), "{\"name\": \"subs-billing\", \"channel\": \"subs-orders\"}");
    assertEquals(201, first.statusCode(), first.body());
    JsonNode created = HttpTestSupport.json(first);
    assertEquals("subs-billing", created.get("name").asText());
    assertEquals("subs-orders", created.get("channel").asText());
    assertEquals("pull", created.get("type").asText());
    Instant createdAt = Instant.parse(created.get("createdAt").asText());
    assertNotNull(node.redis().call("HGET", RedisKeys.SUBSCRIPTIONS, "subs-billing"), "stored in Redis");
    assertTrue(groups(node.redis(), "subs-orders").contains("subs-billing"), "the consumer group is created with it");

    HttpResponse<String> again = create(node.service(), "{\"name\": \"subs-billing\", \"channel\": \"subs-orders\"}");
    assertEquals(200, again.statusCode(), again.body());
    assertEquals(createdAt, Instant.parse(HttpTestSupport.json(again).get("createdAt").asText()),
        "the existing definition is returned, not a new one");

    HttpResponse<String> otherChannel = create(node.service(),
        "{\"name\": \"subs-billing\", \"channel\": \"subs-other\"}");
    assertEquals(409, otherChannel.statusCode(), otherChannel.body());
    assertEquals("conflict", HttpTestSupport.json(otherChannel).get("code").asText());
    HttpResponse<String> withWebhook = create(node.service(),
        "{\"name\": \"subs-billing\", \"channel\": \"subs-orders\","
            + " \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\"}}");
    assertEquals(409, withWebhook.statusCode(), withWebhook.body());
    assertFalse(groups(node.redis(), "subs-other").contains("subs-billing"), "a conflict creates no group");

    HttpResponse<String> hook = create(node.service(), "{\"name\": \"subs-hook\", \"channel\": \"subs-orders\","
        + " \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\", \"timeoutMs\": 2500, \"parallelism\": 3}}");
    assertEquals(201, hook.statusCode(), hook.body());
    JsonNode w = HttpTestSupport.json(hook);
    assertEquals("webhook", w.get("type").asText());
    assertEquals("http://127.0.0.1:1/hook", w.get("webhook").get("url").asText());
    assertEquals(2500, w.get("webhook").get("timeoutMs").asLong());
    assertEquals(3, w.get("webhook").get("parallelism").asInt());
    HttpResponse<String> hookAgain = create(node.service(), "{\"name\": \"subs-hook\", \"channel\": \"subs-orders\","
        + " \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\", \"timeoutMs\": 2500, \"parallelism\": 3}}");
    assertEquals(200, hookAgain.statusCode(), hookAgain.body());
    HttpResponse<String> hookOtherTimeout = create(node.service(),
        "{\"name\": \"subs-hook\", \"channel\": \"subs-orders\","
            + " \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\", \"timeoutMs\": 2600, \"parallelism\": 3}}");
    assertEquals(409, hookOtherTimeout.statusCode(), hookOtherTimeout.body());
  }

  @Test
  void aNameTakenByAConsumerGroupThatIsNotAnHttpSubscriptionIs409AndNothingIsStored() throws Exception {
    // an embedded subscriber's group (or one left behind) on the channel's stream
    node.redis().call("XGROUP", "CREATE", RedisKeys.stream("subs-shared"), "subs-embedded", "$", "MKSTREAM");
    HttpResponse<String> r = create(node.service(), "{\"name\": \"subs-embedded\", \"channel\": \"subs-shared\"}");
    assertEquals(409, r.statusCode(), r.body());
    assertEquals("group-exists", HttpTestSupport.json(r).get("code").asText());
    assertTrue(HttpTestSupport.json(r).get("message").asText().contains("pick another name"), r.body());
    assertEquals(null, node.redis().call("HGET", RedisKeys.SUBSCRIPTIONS, "subs-embedded"), "nothing stored");
    assertEquals(404, HttpTestSupport.get(node.service(), "/v1/subscriptions/subs-embedded").statusCode());
    assertTrue(groups(node.redis(), "subs-shared").contains("subs-embedded"), "the other group is left alone");
  }

  @Test
  void aSubscriptionDeletedThroughAnotherNodeLeavesNoConsumerGroupBehind() throws Exception {
    // node b learns of the deletion seconds later (its refresh); a consumer may have recreated the group meanwhile
    RouterService a = HttpTestSupport.start("subscriptions-node-a", node.redis(), "");
    RouterService b = HttpTestSupport.start("subscriptions-node-b", node.redis(),
        "redis-router.http.subscription-refresh = 3s\n");
    try {
      HttpResponse<String> created = create(a, "{\"name\": \"subs-two-nodes\", \"channel\": \"subs-two\","
          + " \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\", \"timeoutMs\": 500}}");
      assertEquals(201, created.statusCode(), created.body());
      // both nodes push it: their consumers poll the group (and recreate it when they find it gone)
      // a lookup through node b makes it serve the subscription now (not at its next refresh)
      assertEquals(409, ConsumeHttpSupport.pullRaw(b, "subs-two-nodes", "{\"waitMs\": 0}").statusCode());
      ConsumeHttpSupport.publish(a, "subs-two", 1, "two-nodes", new io.redisrouter.testkit.MessageChecker());
      awaitJson(a, "/v1/subscriptions/subs-two-nodes", x -> x.get("stats").path("consumers").asLong() >= 1);
      assertEquals(204, HttpTestSupport.delete(a, "/v1/subscriptions/subs-two-nodes").statusCode());
      // what a node that still consumes it does when it finds the group gone (NOGROUP): it creates it again
      try {
        node.redis().call("XGROUP", "CREATE", RedisKeys.stream("subs-two"), "subs-two-nodes", "$", "MKSTREAM");
      } catch (io.redisrouter.testkit.RedisServer.RedisError e) {
        // node b found the group gone and created it again already: the case this test is about
        assertTrue(String.valueOf(e.getMessage()).contains("BUSYGROUP"), e::toString);
      }
      // node b recreates the group until it learns of the deletion (refresh), then removes it: the group must end
      // up gone for good (absent for a second, several refreshes, in a row)
      // every node that served it removes it at its next refresh (node b: 3 s; the class's node: 10 s)
      long deadline = System.nanoTime() + java.time.Duration.ofSeconds(25).toNanos();
      long goneSince = -1;
      while (true) {
        long now = System.nanoTime();
        boolean present = groups(node.redis(), "subs-two").contains("subs-two-nodes");
        if (present) {
          goneSince = -1;
        } else if (goneSince < 0) {
          goneSince = now;
        } else if (now - goneSince > java.time.Duration.ofSeconds(1).toNanos()) {
          break;
        }
        assertTrue(now < deadline, "the deleted subscription's consumer group is still (or again) on the channel");
        Thread.onSpinWait();
      }
    } finally {
      a.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      b.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  record Bad(String body, String field, String code) {}

  @Test
  void invalidBodiesAre400NamingTheField() throws Exception {
    List<Bad> cases = List.of(
        new Bad("{\"name\": \"bad name*\", \"channel\": \"subs-c\"}", "name", "invalid-name"),
        new Bad("{\"channel\": \"subs-c\"}", "name", "required"),
        new Bad("{\"name\": \"subs-bad-1\"}", "channel", "required"),
        new Bad("{\"name\": \"subs-bad-2\", \"channel\": \"subs-bc\"}", "channel", "broadcast-channel"),
        new Bad("{\"name\": \"subs-bad-3\", \"channel\": \"subs-c\", \"webhook\": {\"url\": \"ftp://h/x\"}}",
            "webhook.url", "invalid-url"),
        new Bad("{\"name\": \"subs-bad-4\", \"channel\": \"subs-c\", \"webhook\": {\"url\": \"/relative\"}}",
            "webhook.url", "invalid-url"),
        new Bad("{\"name\": \"subs-bad-5\", \"channel\": \"subs-c\", \"webhook\": {}}", "webhook.url", "required"),
        new Bad("{\"name\": \"subs-bad-6\", \"channel\": \"subs-c\", \"webhook\": \"http://h/x\"}", "webhook",
            "invalid"),
        new Bad("{\"name\": \"subs-bad-7\", \"channel\": \"subs-c\", \"mode\": \"pull\"}", "mode", "unknown-field"),
        new Bad("{\"name\": \"subs-bad-8\", \"channel\": \"subs-c\", \"webhook\": {\"url\": \"http://h/x\","
            + " \"retries\": 3}}", "webhook.retries", "unknown-field"),
        new Bad("{\"name\": \"subs-bad-9\", \"channel\": \"subs-c\", \"webhook\": {\"url\": \"http://h/x\","
            + " \"timeoutMs\": 0}}", "webhook.timeoutMs", "out-of-range"),
        new Bad("{\"name\": \"subs-bad-10\", \"channel\": \"subs-c\", \"webhook\": {\"url\": \"http://h/x\","
            + " \"timeoutMs\": 300001}}", "webhook.timeoutMs", "out-of-range"),
        new Bad("{\"name\": \"subs-bad-11\", \"channel\": \"subs-c\", \"webhook\": {\"url\": \"http://h/x\","
            + " \"parallelism\": 0}}", "webhook.parallelism", "out-of-range"),
        new Bad("[1, 2]", "body", "invalid")); // not an object: the body is named
    for (Bad c : cases) {
      HttpResponse<String> r = create(node.service(), c.body());
      assertEquals(400, r.statusCode(), c.body() + " -> " + r.body());
      JsonNode body = HttpTestSupport.json(r);
      assertEquals("invalid", body.get("code").asText(), r.body());
      assertFalse(body.get("message").asText().isBlank(), r.body());
      boolean named = false;
      for (JsonNode e : body.get("errors")) {
        named |= c.field().equals(e.get("field").asText()) && c.code().equals(e.get("code").asText());
      }
      assertTrue(named, c.body() + " must name " + c.field() + "/" + c.code() + ": " + r.body());
    }
    HttpResponse<String> notJson = create(node.service(), "{\"name\": ");
    assertEquals(400, notJson.statusCode(), notJson.body());
    assertEquals("invalid-json", HttpTestSupport.json(notJson).get("code").asText());

    // nothing of it was stored
    for (int i = 1; i <= 11; i++) {
      HttpResponse<String> g = HttpTestSupport.get(node.service(), "/v1/subscriptions/subs-bad-" + i);
      assertEquals(404, g.statusCode(), g.body());
    }
  }

  // ---- read -------------------------------------------------------------------------------------------------------

  @Test
  void listShowsEverySubscriptionSortedByName() throws Exception {
    createPull(node.service(), "subs-list-b", "subs-list");
    createPull(node.service(), "subs-list-a", "subs-list");
    HttpResponse<String> r = HttpTestSupport.get(node.service(), "/v1/subscriptions");
    assertEquals(200, r.statusCode(), r.body());
    List<String> names = new ArrayList<>();
    for (JsonNode s : HttpTestSupport.json(r).get("subscriptions")) names.add(s.get("name").asText());
    assertTrue(names.containsAll(List.of("subs-list-a", "subs-list-b")), names.toString());
    List<String> sorted = new ArrayList<>(names);
    sorted.sort(null);
    assertEquals(sorted, names);
  }

  @Test
  void getShowsTheDefinitionWithLagPendingAndConsumers() throws Exception {
    String ch = "subs-stats";
    createPull(node.service(), "subs-stats", ch);
    MessageChecker checker = new MessageChecker();
    ConsumeHttpSupport.publish(node.service(), ch, 3, "stats", checker);
    String path = "/v1/subscriptions/subs-stats";
    JsonNode before = awaitJson(node.service(), path, b -> b.get("stats").has("lag"));
    assertEquals("subs-stats", before.get("name").asText());
    assertEquals(ch, before.get("channel").asText());
    assertEquals(3, ConsumeHttpSupport.known(before.get("stats").get("lag")), before.toString());
    assertEquals(0, before.get("stats").get("pending").asLong(), before.toString());

    // pulled but not acked: read by the router's consumer, pending in the group
    List<JsonNode> got = pullUntil(node.service(), "subs-stats", l -> l.size() >= 3);
    got.forEach(d -> checker.delivered(messageId(d)));
    JsonNode during = awaitJson(node.service(), path, b -> b.get("stats").get("pending").asLong() == 3);
    assertEquals(0, ConsumeHttpSupport.known(during.get("stats").get("lag")), during.toString());
    assertTrue(during.get("stats").get("consumers").asLong() >= 1, during.toString());

    ackAll(node.service(), "subs-stats", got);
    awaitJson(node.service(), path, b -> b.get("stats").get("pending").asLong() == 0);
    ConsumeHttpSupport.report(checker, "getShowsTheDefinitionWithLagPendingAndConsumers");

    HttpResponse<String> missing = HttpTestSupport.get(node.service(), "/v1/subscriptions/subs-nope");
    assertEquals(404, missing.statusCode(), missing.body());
    assertEquals("not-found", HttpTestSupport.json(missing).get("code").asText());
  }

  // ---- delete -----------------------------------------------------------------------------------------------------

  @Test
  void deleteIs204ThenGoneWithItsConsumerGroup() throws Exception {
    String ch = "subs-del";
    createPull(node.service(), "subs-del-keep", ch);
    MessageChecker checker = new MessageChecker();
    // INFO of every logger: the consumer's "no subscriber left" line is logged under the actor cell's logger
    try (LogCapture logs = LogCapture.everything(Level.INFO)) {
      // several rounds: the consumer polls every few ms, so one that still runs when the group is destroyed creates
      // it again most of the time
      for (int round = 0; round < 8; round++) {
        String name = "subs-del-" + round;
        createPull(node.service(), name, ch);
        // a client pulls and acks: the router's consumer of the group runs while the subscription is deleted
        List<String> ids = ConsumeHttpSupport.publish(node.service(), ch, 1, "del", checker);
        List<JsonNode> got = pullUntil(node.service(), name, l -> !l.isEmpty());
        assertEquals(ids.get(0), messageId(got.get(0)));
        checker.delivered(messageId(got.get(0)));
        ackAll(node.service(), name, got);
        awaitJson(node.service(), "/v1/subscriptions/" + name, b -> b.get("stats").path("consumers").asLong() >= 1
            && b.get("stats").path("pending").asLong() == 0);

        HttpResponse<String> del = HttpTestSupport.delete(node.service(), "/v1/subscriptions/" + name);
        assertEquals(204, del.statusCode(), del.body());
        assertEquals(404, HttpTestSupport.get(node.service(), "/v1/subscriptions/" + name).statusCode());
        assertEquals(404, HttpTestSupport.delete(node.service(), "/v1/subscriptions/" + name).statusCode());
        assertEquals(404, ConsumeHttpSupport.pullRaw(node.service(), name, "{}").statusCode());
        assertEquals(null, node.redis().call("HGET", RedisKeys.SUBSCRIPTIONS, name));
        // once this node's consumer of the group has stopped, the group must be gone (not created again by it)
        awaitStopped(logs, name, ch);
        assertFalse(groups(node.redis(), ch).contains(name), () -> "group still there: " + groups(node.redis(), ch));
      }

      // the same for a webhook subscription (its pusher consumes the group from its creation on)
      assertEquals(201, create(node.service(), "{\"name\": \"subs-del-hook\", \"channel\": \"" + ch + "\","
          + " \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\"}}").statusCode());
      await("the pusher joined", () -> logs.linesContaining("webhook subscription 'subs-del-hook'"), l -> !l.isEmpty());
      assertEquals(204, HttpTestSupport.delete(node.service(), "/v1/subscriptions/subs-del-hook").statusCode());
      awaitStopped(logs, "subs-del-hook", ch);
      assertFalse(groups(node.redis(), ch).contains("subs-del-hook"),
          () -> "group still there: " + groups(node.redis(), ch));
    }
    assertTrue(groups(node.redis(), ch).contains("subs-del-keep"), "the other subscription's group is untouched");
    assertEquals(200, HttpTestSupport.get(node.service(), "/v1/subscriptions/subs-del-keep").statusCode());
    ConsumeHttpSupport.report(checker, "deleteIs204ThenGoneWithItsConsumerGroup");

    // the name can be used again: a new group at the end of the stream, which receives what is published next
    createPull(node.service(), "subs-del-0", ch);
    assertTrue(groups(node.redis(), ch).contains("subs-del-0"));
    String next = ConsumeHttpSupport.publish(node.service(), ch, 1, "again", null).get(0);
    List<JsonNode> got = pullUntil(node.service(), "subs-del-0", l -> !l.isEmpty());
    assertEquals(List.of(next), got.stream().map(ConsumeHttpSupport::messageId).toList());
    ackAll(node.service(), "subs-del-0", got);
  }

  private static void awaitStopped(LogCapture logs, String subscription, String channel) throws Exception {
    await("the router's consumer of " + subscription + " stopped",
        () -> logs.linesContaining("subscription '" + subscription + "' of channel '" + channel
            + "': no subscriber left"),
        l -> !l.isEmpty());
  }

  // ---- auth -------------------------------------------------------------------------------------------------------

  @Test
  void tokensAndScopesAreChecked() throws Exception {
    createPull(node.service(), "subs-auth", "subs-auth");
    URI base = URI.create(node.service().baseUrl() + "/v1/subscriptions");
    String body = "{\"name\": \"subs-auth-2\", \"channel\": \"subs-auth\"}";

    HttpResponse<String> none = send(HttpRequest.newBuilder(base).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)));
    assertEquals(401, none.statusCode(), none.body());
    assertEquals("unauthorized", HttpTestSupport.json(none).get("code").asText());
    assertEquals(401, send(HttpRequest.newBuilder(base).GET()).statusCode());
    assertEquals(401, send(HttpRequest.newBuilder(URI.create(base + "/subs-auth/pull"))
        .POST(HttpRequest.BodyPublishers.ofString("{}"))).statusCode());
    assertEquals(401, send(HttpRequest.newBuilder(URI.create(base + "/subs-auth")).DELETE()).statusCode());
    assertEquals(401, send(HttpRequest.newBuilder(URI.create(base + "/subs-auth")).header("Authorization",
        "Bearer wrong-token").GET()).statusCode());

    HttpResponse<String> consumeCreate = send(HttpRequest.newBuilder(base).header("Content-Type", "application/json")
        .header("Authorization", "Bearer " + CONSUME_TOKEN).POST(HttpRequest.BodyPublishers.ofString(body)));
    assertEquals(403, consumeCreate.statusCode(), consumeCreate.body());
    assertEquals("forbidden", HttpTestSupport.json(consumeCreate).get("code").asText());
    HttpResponse<String> consumeDelete = send(HttpRequest.newBuilder(URI.create(base + "/subs-auth"))
        .header("Authorization", "Bearer " + CONSUME_TOKEN).DELETE());
    assertEquals(403, consumeDelete.statusCode(), consumeDelete.body());
    assertEquals(404, HttpTestSupport.get(node.service(), "/v1/subscriptions/subs-auth-2").statusCode(), "not created");
    assertEquals(200, HttpTestSupport.get(node.service(), "/v1/subscriptions/subs-auth").statusCode(), "not deleted");

    // consume scope reads and pulls
    assertEquals(200, send(HttpRequest.newBuilder(base).header("Authorization", "Bearer " + CONSUME_TOKEN).GET())
        .statusCode());
    HttpResponse<String> consumePull = send(HttpRequest.newBuilder(URI.create(base + "/subs-auth/pull"))
        .header("Authorization", "Bearer " + CONSUME_TOKEN)
        .POST(HttpRequest.BodyPublishers.ofString("{\"waitMs\": 0}")));
    assertEquals(200, consumePull.statusCode(), consumePull.body());
  }

  // ---- restart ----------------------------------------------------------------------------------------------------

  @Test
  void subscriptionsAndTheirMessagesSurviveARestart() throws Exception {
    String ch = "subs-restart";
    MessageChecker checker = new MessageChecker();
    try (RedisServer own = RedisServer.start()) {
      RouterService first = HttpTestSupport.awaitReady(RouterService.start("subscriptions-restart-1", config(own)));
      RouterService second = null;
      try {
        JsonNode created = createPull(first, "subs-restart", ch);
        assertEquals(201, create(first, "{\"name\": \"subs-restart-hook\", \"channel\": \"subs-restart-idle\","
            + " \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\"}}").statusCode());

        // published through the first router, pulled and not acked before it stops
        List<String> pulledIds = ConsumeHttpSupport.publish(first, ch, 5, "pulled", checker);
        List<JsonNode> unacked = new ArrayList<>();
        RouterService s1 = first;
        await("the first 5 pulled", () -> {
          unacked.addAll(pull(s1, "subs-restart", 5, 500));
          return unacked.size();
        }, n -> n >= 5);
        assertEquals(Set.copyOf(pulledIds), unacked.stream().map(ConsumeHttpSupport::messageId)
            .collect(java.util.stream.Collectors.toSet()));
        unacked.forEach(d -> checker.delivered(messageId(d)));
        // published through the first router and never handed to a client (the router may have read them)
        Set<String> neverPulled = new HashSet<>(ConsumeHttpSupport.publish(first, ch, 20, "before", checker));
        first.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
        first = null;

        // published while no router runs (as another router node would: the envelope added to the stream)
        List<String> whileDown = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
          String id = "down-" + UUID.randomUUID();
          Envelope e = new Envelope(id, ch, null, ("{\"n\": " + i + "}").getBytes(StandardCharsets.UTF_8),
              "application/json", Map.of(), Instant.now(), Instant.now().plusSeconds(600), 1);
          own.call("XADD", RedisKeys.stream(ch), "*", RedisKeys.FIELD_ENVELOPE,
              new String(EnvelopeCodec.encodeJson(e), StandardCharsets.UTF_8)); // the harness sends text: the JSON form
          checker.sent(id);
          checker.accepted(id);
          whileDown.add(id);
        }

        // the new router starts while Redis does not answer yet; its periodic re-read of the subscriptions is far
        // off, yet the webhook subscription is served as soon as Redis answers
        try (LogCapture logs = LogCapture.everything(Level.INFO)) {
          own.pause();
          try {
            second = RouterService.start("subscriptions-restart-2", ConfigFactory.parseString(
                "redis-router.http.subscription-refresh = 60s").withFallback(config(own)));
          } finally {
            own.resume();
          }
          await("the webhook subscription is served after the restart", () -> logs.linesContaining(
              "webhook subscription 'subs-restart-hook' of channel 'subs-restart-idle' pushes to"), l -> !l.isEmpty());
        }
        HttpResponse<String> list = HttpTestSupport.get(second, "/v1/subscriptions");
        assertEquals(200, list.statusCode(), list.body());
        List<String> names = new ArrayList<>();
        for (JsonNode s : HttpTestSupport.json(list).get("subscriptions")) names.add(s.get("name").asText());
        assertEquals(List.of("subs-restart", "subs-restart-hook"), names);
        JsonNode again = HttpTestSupport.json(HttpTestSupport.get(second, "/v1/subscriptions/subs-restart"));
        assertEquals(created.get("createdAt"), again.get("createdAt"));
        assertEquals("webhook", HttpTestSupport.json(HttpTestSupport.get(second,
            "/v1/subscriptions/subs-restart-hook")).get("type").asText());

        Set<String> expected = new HashSet<>(neverPulled);
        expected.addAll(pulledIds); // come back once their ack timeout passed (claimed from the stopped consumer)
        expected.addAll(whileDown);
        Set<String> seen = new HashSet<>();
        RouterService s2 = second;
        long deadline = System.nanoTime() + ConsumeHttpSupport.WAIT.toNanos();
        while (!seen.containsAll(expected)) {
          assertTrue(System.nanoTime() < deadline, () -> "missing after restart: " + missing(expected, seen));
          List<JsonNode> got = pull(s2, "subs-restart", 100, 500);
          for (JsonNode d : got) {
            checker.delivered(messageId(d));
            seen.add(messageId(d));
          }
          ackAll(s2, "subs-restart", got);
        }
        awaitNothingPending(second, "subs-restart");
        MessageChecker.Report r = ConsumeHttpSupport.report(checker, "subscriptionsAndTheirMessagesSurviveARestart");
        assertEquals(35, r.delivered());
        for (String id : neverPulled) assertEquals(1, checker.deliveryCount(id), id + " was handed out once");
        for (String id : whileDown) assertEquals(1, checker.deliveryCount(id), id + " was handed out once");
      } finally {
        if (first != null) first.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
        if (second != null) second.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }

  private static Set<String> missing(Set<String> expected, Set<String> seen) {
    Set<String> m = new HashSet<>(expected);
    m.removeAll(seen);
    return m;
  }
}
