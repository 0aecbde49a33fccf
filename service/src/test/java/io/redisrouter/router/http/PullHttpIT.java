package io.redisrouter.router.http;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static io.redisrouter.router.http.ConsumeHttpSupport.ack;
import static io.redisrouter.router.http.ConsumeHttpSupport.ackAll;
import static io.redisrouter.router.http.ConsumeHttpSupport.awaitJson;
import static io.redisrouter.router.http.ConsumeHttpSupport.awaitNothingPending;
import static io.redisrouter.router.http.ConsumeHttpSupport.createPull;
import static io.redisrouter.router.http.ConsumeHttpSupport.messageId;
import static io.redisrouter.router.http.ConsumeHttpSupport.nack;
import static io.redisrouter.router.http.ConsumeHttpSupport.publish;
import static io.redisrouter.router.http.ConsumeHttpSupport.pull;
import static io.redisrouter.router.http.ConsumeHttpSupport.pullAsync;
import static io.redisrouter.router.http.ConsumeHttpSupport.pullRaw;
import static io.redisrouter.router.http.ConsumeHttpSupport.pullUntil;
import static io.redisrouter.router.http.ConsumeHttpSupport.settleRaw;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pull subscriptions over HTTP (server on port 0, own Redis): pull and ack many messages without loss, long polling,
 * nack (retry and dead letter), redelivery after the ack timeout, unknown delivery ids, 404 / 409 and field errors.
 */
class PullHttpIT {
  static final long MAX_PULL_WAIT_MS = 10_000;

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("pull-http")
      .config("redis-router.http.max-pull-wait = " + MAX_PULL_WAIT_MS + "ms\n"
          + "redis-router.http.max-pull-count = 200\n"
          // shorter than max-pull-wait, as by default (Pekko's 20 s against 30 s)
          + "pekko.http.server.request-timeout = 2s\n"
          + "redis-router.channels.overrides {\n"
          + "  \"pull-timeout\" { ack-timeout = 1s }\n"
          + "  \"pull-bulk\" { ack-timeout = 30s, max-in-flight = 200 }\n"
          + "}\n");

  @Test
  void everyPublishedMessageIsPulledAndAcked() throws Exception {
    String ch = "pull-bulk";
    createPull(node.service(), "pull-bulk", ch);
    MessageChecker checker = new MessageChecker();
    Set<String> published = new HashSet<>();
    for (int b = 0; b < 5; b++) published.addAll(publish(node.service(), ch, 100, "bulk-" + b, checker));
    assertEquals(500, published.size());

    long deadline = System.nanoTime() + ConsumeHttpSupport.WAIT.toNanos();
    Set<String> seen = new HashSet<>();
    boolean checkedShape = false;
    while (seen.size() < published.size()) {
      assertTrue(System.nanoTime() < deadline, () -> "only " + seen.size() + " of 500 pulled");
      List<JsonNode> got = pull(node.service(), "pull-bulk", 100, 500);
      assertTrue(got.size() <= 100, "at most maxMessages");
      for (JsonNode d : got) {
        checker.delivered(messageId(d));
        seen.add(messageId(d));
        if (!checkedShape) {
          checkedShape = true;
          assertDeliveryShape(d, "pull-bulk", ch);
        }
      }
      ackAll(node.service(), "pull-bulk", got);
    }
    awaitJson(node.service(), "/v1/subscriptions/pull-bulk", b -> b.get("stats").get("pending").asLong() == 0
        && ConsumeHttpSupport.isZero(b.get("stats").get("lag")));
    assertEquals(List.of(), pull(node.service(), "pull-bulk", 100, 0), "nothing left");
    MessageChecker.Report r = ConsumeHttpSupport.report(checker, "everyPublishedMessageIsPulledAndAcked");
    assertEquals(500, r.delivered());
    assertEquals(0, r.duplicated(), "ack timeout 30s: nothing was delivered twice");
  }

  static void assertDeliveryShape(JsonNode d, String subscription, String channel) {
    String deliveryId = d.get("deliveryId").asText();
    assertTrue(deliveryId.matches("\\d+-\\d+#1"), "deliveryId is streamId#attempt: " + d);
    assertEquals(subscription, d.get("subscription").asText(), d.toString());
    assertEquals(channel, d.get("channel").asText(), d.toString());
    assertEquals(1, d.get("attempt").asInt(), d.toString());
    Instant ackDeadline = Instant.parse(d.get("ackDeadline").asText());
    assertTrue(ackDeadline.isAfter(Instant.now()), "ack deadline ahead: " + d);
    assertEquals("application/json", d.get("contentType").asText(), d.toString());
    assertTrue(d.get("payload").has("n") && d.get("payload").has("tag"), d.toString());
    try {
      assertEquals(d.get("payload"), HttpTestSupport.JSON.readTree(
          Base64.getDecoder().decode(d.get("payloadBase64").asText())), "payloadBase64 is the same payload");
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void aLongPollWaitsAndReturnsAsSoonAsAMessageIsPublished() throws Exception {
    String ch = "pull-long";
    createPull(node.service(), "pull-long", ch);
    // an empty long poll lasts its waitMs and returns nothing
    long t0 = System.nanoTime();
    assertEquals(List.of(), pull(node.service(), "pull-long", 10, 300));
    assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(290), "the pull waited its waitMs");

    long start = System.nanoTime();
    CompletableFuture<HttpResponse<String>> waiting = pullAsync(node.service(), "pull-long",
        "{\"maxMessages\": 10, \"waitMs\": 8000}");
    assertThrows(TimeoutException.class, () -> waiting.get(300, TimeUnit.MILLISECONDS),
        "with nothing to take the pull waits");
    MessageChecker checker = new MessageChecker();
    String id = publish(node.service(), ch, 1, "long", checker).get(0);
    HttpResponse<String> r = waiting.get(8, TimeUnit.SECONDS);
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertEquals(200, r.statusCode(), r.body());
    JsonNode messages = HttpTestSupport.json(r).get("messages");
    assertEquals(1, messages.size(), r.body());
    assertEquals(id, messageId(messages.get(0)));
    // published 300 ms into the wait: answered then, long before the 8 s waitMs ends
    assertTrue(tookMs >= 300 && tookMs < 3000, "answered when the message came, not at the end of waitMs: " + tookMs
        + " ms");
    checker.delivered(id);
    ackAll(node.service(), "pull-long", List.of(messages.get(0)));
    ConsumeHttpSupport.report(checker, "aLongPollWaitsAndReturnsAsSoonAsAMessageIsPublished");
  }

  @Test
  void aLongPollIsNotCutByTheServersRequestTimeout() throws Exception {
    String ch = "pull-longer";
    createPull(node.service(), "pull-longer", ch);
    long t0 = System.nanoTime();
    // waits longer than pekko.http.server.request-timeout (2s), within max-pull-wait
    HttpResponse<String> r = pullRaw(node.service(), "pull-longer", "{\"maxMessages\": 5, \"waitMs\": 3000}");
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertEquals(200, r.statusCode(), "after " + tookMs + " ms: " + r.body());
    assertEquals(0, HttpTestSupport.json(r).get("messages").size(), r.body());
    assertTrue(tookMs >= 2900, "the pull waited its waitMs: " + tookMs + " ms");

    // and a message that comes late in such a wait reaches the client
    CompletableFuture<HttpResponse<String>> waiting = pullAsync(node.service(), "pull-longer",
        "{\"maxMessages\": 5, \"waitMs\": 5000}");
    assertThrows(TimeoutException.class, () -> waiting.get(2500, TimeUnit.MILLISECONDS),
        "still waiting past the request timeout");
    MessageChecker checker = new MessageChecker();
    String id = publish(node.service(), ch, 1, "late", checker).get(0);
    HttpResponse<String> late = waiting.get(5, TimeUnit.SECONDS);
    assertEquals(200, late.statusCode(), late.body());
    JsonNode messages = HttpTestSupport.json(late).get("messages");
    assertEquals(1, messages.size(), late.body());
    assertEquals(id, messageId(messages.get(0)));
    checker.delivered(id);
    ackAll(node.service(), "pull-longer", List.of(messages.get(0)));
    ConsumeHttpSupport.report(checker, "aLongPollIsNotCutByTheServersRequestTimeout");
  }

  @Test
  void aNackedMessageIsDeliveredAgainWithTheNextAttempt() throws Exception {
    String ch = "pull-nack";
    createPull(node.service(), "pull-nack", ch);
    MessageChecker checker = new MessageChecker();
    String id = publish(node.service(), ch, 1, "nack", checker).get(0);
    JsonNode first = pullUntil(node.service(), "pull-nack", l -> !l.isEmpty()).get(0);
    assertEquals(id, messageId(first));
    checker.delivered(id);
    JsonNode nacked = nack(node.service(), "pull-nack", first.get("deliveryId").asText(), "try again", false);
    assertEquals(1, nacked.get("nacked").asInt(), nacked.toString());
    assertEquals(0, nacked.get("unknown").size(), nacked.toString());

    List<JsonNode> again = pullUntil(node.service(), "pull-nack", l -> !l.isEmpty());
    assertEquals(1, again.size(), again.toString());
    JsonNode second = again.get(0);
    checker.delivered(messageId(second));
    assertEquals(id, messageId(second));
    assertEquals(2, second.get("attempt").asInt(), second.toString());
    String firstId = first.get("deliveryId").asText();
    String secondId = second.get("deliveryId").asText();
    assertNotEquals(firstId, secondId);
    assertEquals(firstId.substring(0, firstId.indexOf('#')) + "#2", secondId, "same stream entry, next attempt");
    // the old delivery id is answered already
    JsonNode stale = ack(node.service(), "pull-nack", List.of(firstId));
    assertEquals(0, stale.get("acked").asInt(), stale.toString());
    ackAll(node.service(), "pull-nack", again);
    awaitNothingPending(node.service(), "pull-nack");
    MessageChecker.Report r = ConsumeHttpSupport.report(checker, "aNackedMessageIsDeliveredAgainWithTheNextAttempt");
    assertEquals(1, r.duplicated());
  }

  @Test
  void aNackWithDoNotRetryDeadLettersTheMessageAsRejected() throws Exception {
    String ch = "pull-dead";
    createPull(node.service(), "pull-dead", ch);
    MessageChecker checker = new MessageChecker();
    String id = publish(node.service(), ch, 1, "dead", checker).get(0);
    JsonNode d = pullUntil(node.service(), "pull-dead", l -> !l.isEmpty()).get(0);
    checker.delivered(messageId(d));
    JsonNode nacked = nack(node.service(), "pull-dead", d.get("deliveryId").asText(), "cannot parse order", true);
    assertEquals(1, nacked.get("nacked").asInt(), nacked.toString());

    JsonNode page = awaitJson(node.service(), "/v1/channels/" + ch + "/dead-letters",
        b -> b.get("total").asLong() == 1 && b.get("items").size() == 1);
    JsonNode item = page.get("items").get(0);
    assertEquals("rejected", item.get("reason").asText(), item.toString());
    assertEquals(id, item.get("envelope").get("messageId").asText(), item.toString());
    checker.deadLettered(id);
    JsonNode one = HttpTestSupport.json(HttpTestSupport.get(node.service(),
        "/v1/channels/" + ch + "/dead-letters/" + item.get("id").asText()));
    assertEquals("pull-dead", one.get("subscription").asText(), one.toString());
    assertTrue(one.get("lastError").asText().contains("cannot parse order"), one.toString());
    awaitNothingPending(node.service(), "pull-dead");
    assertEquals(List.of(), pull(node.service(), "pull-dead", 10, 0), "a dead letter is not delivered again");
    ConsumeHttpSupport.report(checker, "aNackWithDoNotRetryDeadLettersTheMessageAsRejected");
  }

  @Test
  void anUnackedMessageIsDeliveredAgainAfterTheAckTimeout() throws Exception {
    String ch = "pull-timeout"; // ack timeout 1s
    createPull(node.service(), "pull-timeout", ch);
    MessageChecker checker = new MessageChecker();
    String id = publish(node.service(), ch, 1, "timeout", checker).get(0);
    JsonNode first = pullUntil(node.service(), "pull-timeout", l -> !l.isEmpty()).get(0);
    checker.delivered(messageId(first));
    Instant ackDeadline = Instant.parse(first.get("ackDeadline").asText());
    assertTrue(!ackDeadline.isAfter(Instant.now().plusSeconds(1)), "ack deadline within the 1s ack timeout: " + first);

    List<JsonNode> again = pullUntil(node.service(), "pull-timeout", l -> !l.isEmpty());
    Instant redeliveredAt = Instant.now();
    JsonNode second = again.get(0);
    checker.delivered(messageId(second));
    assertEquals(id, messageId(second));
    assertEquals(2, second.get("attempt").asInt(), second.toString());
    assertNotEquals(first.get("deliveryId").asText(), second.get("deliveryId").asText());
    assertFalse(redeliveredAt.isBefore(ackDeadline.minusMillis(50)),
        "not delivered again before the ack deadline " + ackDeadline + " (at " + redeliveredAt + ")");
    ackAll(node.service(), "pull-timeout", again);
    awaitNothingPending(node.service(), "pull-timeout");
    ConsumeHttpSupport.report(checker, "anUnackedMessageIsDeliveredAgainAfterTheAckTimeout");
  }

  @Test
  void aMessageWhoseDeadlinePassedIsNeverHandedOut() throws Exception {
    String ch = "pull-expiry";
    createPull(node.service(), "pull-expiry", ch);
    assertEquals(List.of(), pull(node.service(), "pull-expiry", 10, 0)); // joined: the router hands deliveries over now
    Instant before = Instant.now();
    HttpResponse<String> p = HttpTestSupport.post(node.service(), "/v1/channels/" + ch + "/messages",
        "{\"payload\": {\"n\": 1}, \"ttl\": \"500ms\"}");
    assertEquals(202, p.statusCode(), p.body());
    String id = HttpTestSupport.json(p).get("messageId").asText();
    MessageChecker checker = new MessageChecker();
    checker.sent(id);
    checker.accepted(id);
    // nobody pulls until the deadline has passed
    Instant deadline = before.plusMillis(500);
    ConsumeHttpSupport.await("the deadline passed", Instant::now, now -> now.isAfter(deadline.plusMillis(50)));
    assertEquals(List.of(), pull(node.service(), "pull-expiry", 10, 0), "an expired message is not handed out");

    JsonNode page = awaitJson(node.service(), "/v1/channels/" + ch + "/dead-letters",
        b -> b.get("total").asLong() == 1 && b.get("items").size() == 1);
    JsonNode item = page.get("items").get(0);
    assertEquals("expired", item.get("reason").asText(), item.toString());
    assertEquals(id, item.get("envelope").get("messageId").asText(), item.toString());
    checker.deadLettered(id);
    assertEquals(List.of(), pull(node.service(), "pull-expiry", 10, 300), "nor later");
    awaitNothingPending(node.service(), "pull-expiry");
    MessageChecker.Report r = ConsumeHttpSupport.report(checker, "aMessageWhoseDeadlinePassedIsNeverHandedOut");
    assertEquals(0, r.delivered());
  }

  @Test
  void anAckSentToAnotherRouterNodeAcknowledgesTheMessage() throws Exception {
    String ch = "pull-any-node";
    MessageChecker checker = new MessageChecker();
    String config = "redis-router.channels.overrides { \"pull-any-node\" { ack-timeout = 1s } }\n";
    RouterService a = HttpTestSupport.start("pull-http-node-a", node.redis(), config);
    RouterService b = HttpTestSupport.start("pull-http-node-b", node.redis(), config);
    try {
      createPull(a, "pull-any-node", ch);
      String id = publish(a, ch, 1, "any-node", checker).get(0);
      JsonNode d = pullUntil(a, "pull-any-node", l -> !l.isEmpty()).get(0);
      assertEquals(id, messageId(d));
      checker.delivered(id);
      // node b never handed it out: it acknowledges the entry in Redis
      JsonNode r = ack(b, "pull-any-node", List.of(d.get("deliveryId").asText()));
      assertEquals(1, r.get("acked").asInt(), r.toString());
      assertEquals(0, r.get("unknown").size(), r.toString());
      awaitNothingPending(a, "pull-any-node");
      // node a's ack timeout (1 s) passes: it finds the entry acknowledged and does not deliver it again. A wrong
      // redelivery would come after the ack timeout plus a backoff step (at most 400 ms) or a claim round (500 ms):
      // the window is twice that
      List<JsonNode> again = pull(a, "pull-any-node", 10, 4000);
      again.forEach(x -> checker.delivered(messageId(x)));
      assertEquals(List.of(), again, "delivered again after an ack through another node");
    } finally {
      a.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      b.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    MessageChecker.Report report = ConsumeHttpSupport.report(checker,
        "anAckSentToAnotherRouterNodeAcknowledgesTheMessage");
    assertEquals(0, report.lost());
    assertEquals(0, report.duplicated());
  }

  @Test
  void anIdleSubscriptionIsLeftAndWhatItHeldIsDeliveredAgainOnTheNextPull() throws Exception {
    String ch = "pull-idle";
    MessageChecker checker = new MessageChecker();
    RouterService other = HttpTestSupport.start("pull-http-idle", node.redis(),
        "redis-router.http.pull-idle-release = 300ms\n"
            + "redis-router.channels.overrides { \"pull-idle\" { ack-timeout = 1s } }\n");
    try (LogCapture logs = LogCapture.everything(Level.INFO)) {
      createPull(other, "pull-idle", ch);
      assertEquals(List.of(), pull(other, "pull-idle", 10, 0)); // joins
      // reach the node's gateway, but nobody pulls them
      Set<String> expected = new HashSet<>(publish(other, ch, 3, "held", checker));
      ConsumeHttpSupport.await("the idle subscription was left on this node", () -> logs.linesContaining(
          "subscription 'pull-idle' of channel '" + ch + "': no subscriber left"), l -> !l.isEmpty());
      // published while nobody consumes on any node
      expected.addAll(publish(other, ch, 2, "unread", checker));

      Set<String> seen = new HashSet<>();
      long deadline = System.nanoTime() + ConsumeHttpSupport.WAIT.toNanos();
      while (!seen.containsAll(expected)) {
        assertTrue(System.nanoTime() < deadline, () -> "got only " + seen + " of " + expected);
        List<JsonNode> got = pull(other, "pull-idle", 10, 500);
        got.forEach(d -> {
          checker.delivered(messageId(d));
          seen.add(messageId(d));
        });
        ackAll(other, "pull-idle", got);
      }
      awaitNothingPending(other, "pull-idle");
    } finally {
      other.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    MessageChecker.Report r = ConsumeHttpSupport.report(checker,
        "anIdleSubscriptionIsLeftAndWhatItHeldIsDeliveredAgainOnTheNextPull");
    assertEquals(5, r.delivered());
  }

  @Test
  void unknownDeliveryIdsAreListed() throws Exception {
    String ch = "pull-unknown";
    createPull(node.service(), "pull-unknown", ch);
    MessageChecker checker = new MessageChecker();
    publish(node.service(), ch, 1, "unknown", checker);
    JsonNode d = pullUntil(node.service(), "pull-unknown", l -> !l.isEmpty()).get(0);
    checker.delivered(messageId(d));
    String real = d.get("deliveryId").asText();
    JsonNode r = ack(node.service(), "pull-unknown", List.of(real, "1-0#1", "not-a-delivery"));
    assertEquals(1, r.get("acked").asInt(), r.toString());
    List<String> unknown = new ArrayList<>();
    r.get("unknown").forEach(u -> unknown.add(u.asText()));
    assertEquals(List.of("1-0#1", "not-a-delivery"), unknown);
    assertFalse(r.get("note").asText().isBlank(), r.toString());

    JsonNode twice = ack(node.service(), "pull-unknown", List.of(real));
    assertEquals(0, twice.get("acked").asInt(), twice.toString());
    assertEquals(real, twice.get("unknown").get(0).asText());
    HttpResponse<String> nackUnknown = settleRaw(node.service(), "pull-unknown", "nack",
        "{\"deliveryIds\": [\"x#1\"]}");
    assertEquals(200, nackUnknown.statusCode(), nackUnknown.body());
    assertEquals(0, HttpTestSupport.json(nackUnknown).get("nacked").asInt());
    assertEquals("x#1", HttpTestSupport.json(nackUnknown).get("unknown").get(0).asText());
    awaitNothingPending(node.service(), "pull-unknown");
    ConsumeHttpSupport.report(checker, "unknownDeliveryIdsAreListed");
  }

  @Test
  void unknownSubscriptionsAre404AndWebhookSubscriptionsCannotBePulled() throws Exception {
    for (String verb : List.of("pull", "ack", "nack")) {
      HttpResponse<String> r = settleRaw(node.service(), "pull-nope", verb, "{\"deliveryIds\": [\"1-0#1\"]}");
      if (verb.equals("pull")) r = pullRaw(node.service(), "pull-nope", "{\"waitMs\": 0}");
      assertEquals(404, r.statusCode(), verb + ": " + r.body());
      assertEquals("not-found", HttpTestSupport.json(r).get("code").asText());
    }
    assertEquals(404, HttpTestSupport.get(node.service(), "/v1/subscriptions/pull-nope/events").statusCode());

    HttpResponse<String> hook = HttpTestSupport.post(node.service(), "/v1/subscriptions", "{\"name\": \"pull-hook\","
        + " \"channel\": \"pull-hooked\", \"webhook\": {\"url\": \"http://127.0.0.1:1/hook\"}}");
    assertEquals(201, hook.statusCode(), hook.body());
    HttpResponse<String> r = pullRaw(node.service(), "pull-hook", "{\"waitMs\": 0}");
    assertEquals(409, r.statusCode(), r.body());
    assertEquals("push-subscription", HttpTestSupport.json(r).get("code").asText());
    HttpResponse<String> ev = HttpTestSupport.get(node.service(), "/v1/subscriptions/pull-hook/events");
    assertEquals(409, ev.statusCode(), ev.body());
    assertEquals("push-subscription", HttpTestSupport.json(ev).get("code").asText());
  }

  record Bad(String verb, String body, String field, String code) {}

  @Test
  void invalidPullAndSettleBodiesAre400NamingTheField() throws Exception {
    createPull(node.service(), "pull-valid", "pull-valid");
    List<Bad> cases = List.of(
        new Bad("pull", "{\"maxMessages\": 0}", "maxMessages", "out-of-range"),
        new Bad("pull", "{\"maxMessages\": 201}", "maxMessages", "out-of-range"),
        new Bad("pull", "{\"maxMessages\": \"ten\"}", "maxMessages", "out-of-range"),
        new Bad("pull", "{\"waitMs\": " + (MAX_PULL_WAIT_MS + 1) + "}", "waitMs", "out-of-range"),
        new Bad("pull", "{\"waitMs\": -1}", "waitMs", "out-of-range"),
        new Bad("pull", "{\"max\": 5}", "max", "unknown-field"),
        new Bad("pull", "[5]", "body", "invalid"), // not an object: the body is named
        new Bad("ack", "{}", "deliveryIds", "required"),
        new Bad("ack", "{\"deliveryIds\": []}", "deliveryIds", "required"),
        new Bad("ack", "{\"deliveryIds\": \"1-0#1\"}", "deliveryIds", "required"),
        new Bad("ack", "{\"deliveryIds\": [1]}", "deliveryIds", "invalid"),
        new Bad("ack", "{\"deliveryIds\": [\"1-0#1\"], \"error\": \"x\"}", "error", "unknown-field"),
        new Bad("nack", "{}", "deliveryIds", "required"),
        new Bad("nack", "{\"deliveryIds\": [\"1-0#1\"], \"doNotRetry\": \"yes\"}", "doNotRetry", "invalid"),
        new Bad("nack", "{\"deliveryIds\": [\"1-0#1\"], \"error\": \"" + "e".repeat(1025) + "\"}", "error",
            "too-long"));
    for (Bad c : cases) {
      HttpResponse<String> r = settleRaw(node.service(), "pull-valid", c.verb(), c.body());
      assertEquals(400, r.statusCode(), c + " -> " + r.body());
      JsonNode body = HttpTestSupport.json(r);
      assertEquals("invalid", body.get("code").asText(), r.body());
      boolean named = false;
      for (JsonNode e : body.get("errors")) {
        named |= c.field().equals(e.get("field").asText()) && c.code().equals(e.get("code").asText());
      }
      assertTrue(named, c + " must name " + c.field() + "/" + c.code() + ": " + r.body());
    }
    for (String verb : List.of("pull", "ack", "nack")) {
      HttpResponse<String> r = settleRaw(node.service(), "pull-valid", verb, "{\"maxMessages\": ");
      assertEquals(400, r.statusCode(), verb + ": " + r.body());
      assertEquals("invalid-json", HttpTestSupport.json(r).get("code").asText());
    }
    // no body at all is a pull with the defaults
    HttpResponse<String> defaults = HttpTestSupport.send(
        HttpTestSupport.request(node.service(), "/v1/subscriptions/pull-valid/pull")
            .POST(HttpRequest.BodyPublishers.noBody()).build());
    assertEquals(200, defaults.statusCode(), defaults.body());
    assertEquals(0, HttpTestSupport.json(defaults).get("messages").size());
  }
}
