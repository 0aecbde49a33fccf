package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Webhook push over real HTTP: a router service (port 0, own Redis) pushes to a {@link WebhookReceiver}. The answer
 * decides the outcome: 2xx acks, 4xx (other than 408/429) dead-letters as {@code rejected} without a retry, 5xx /
 * 408 / 429 / no answer within the timeout are retried with backoff; a webhook subscription survives a router
 * restart; the parallelism bounds the calls a receiver sees at once, also when it is slower than the timeout (a late
 * 2xx acks, a message is never in two calls at once); a delivery that waited too long for a slot (the core gave up on
 * it) is not pushed.
 */
class WebhookHttpIT {
  static final Duration WAIT = Duration.ofSeconds(20);

  // defaults of HttpTestSupport: ack timeout 2 s, backoff 50-400 ms, max-attempts 5; the parallelism channels
  // get a long ack timeout so that their slow receivers never see a redelivery of a message still being handled
  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("webhook-http")
      .config("redis-router.channels.overrides {\n"
          + "  \"wh-par\" { ack-timeout = 30s }\n"
          + "  \"wh-par-slow\" { ack-timeout = 30s, max-attempts = 100 }\n"
          + "  \"wh-stale\" { ack-timeout = 1s, max-attempts = 1 }\n"
          + "}\n");

  // ---- helpers ----------------------------------------------------------------------------------------------------

  static void createWebhook(RouterService s, String name, String channel, String url, long timeoutMs,
      int parallelism) throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(s, "/v1/subscriptions", "{\"name\": \"" + name
        + "\", \"channel\": \"" + channel + "\", \"webhook\": {\"url\": \"" + url + "\", \"timeoutMs\": " + timeoutMs
        + ", \"parallelism\": " + parallelism + "}}");
    assertEquals(201, r.statusCode(), r.body());
    assertEquals("webhook", HttpTestSupport.json(r).get("type").asText(), r.body());
  }

  static String publish(RouterService s, String channel, String payloadJson) throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(s, "/v1/channels/" + channel + "/messages",
        "{\"payload\": " + payloadJson + "}");
    assertEquals(202, r.statusCode(), r.body());
    return HttpTestSupport.json(r).get("messageId").asText();
  }

  static JsonNode getJson(RouterService s, String path) throws Exception {
    HttpResponse<String> r = HttpTestSupport.get(s, path);
    assertEquals(200, r.statusCode(), r.body());
    return HttpTestSupport.json(r);
  }

  /** GETs {@code path} until {@code until} holds. */
  static JsonNode awaitJson(RouterService s, String path, Predicate<JsonNode> until) {
    JsonNode[] last = {null};
    node.kit().createTestProbe().awaitAssert(WAIT, () -> {
      try {
        last[0] = getJson(s, path);
      } catch (Exception e) {
        throw new AssertionError(e);
      }
      assertTrue(until.test(last[0]), () -> "not yet: " + last[0]);
      return null;
    });
    return last[0];
  }

  /** Waits until nothing of subscription {@code name} is pending or unread (every delivery was settled). */
  static void awaitSettled(RouterService s, String name) {
    awaitJson(s, "/v1/subscriptions/" + name, b -> b.path("stats").path("pending").asLong(-1) == 0
        && ConsumeHttpSupport.isZero(b.path("stats").path("lag")));
  }

  static void await(Runnable assertion) {
    node.kit().createTestProbe().awaitAssert(WAIT, () -> {
      assertion.run();
      return null;
    });
  }

  static long deadLetters(RouterService s, String channel) throws Exception {
    return getJson(s, "/v1/channels/" + channel + "/dead-letters").get("total").asLong();
  }

  static List<Integer> attempts(List<WebhookReceiver.Call> calls) {
    return calls.stream().map(WebhookReceiver.Call::attempt).toList();
  }

  // ---- answers ----------------------------------------------------------------------------------------------------

  @Test
  void a2xxAcksTheMessageOnce() throws Exception {
    try (WebhookReceiver hook = WebhookReceiver.start(8, c -> 200)) {
      createWebhook(node.service(), "wh-ok-sub", "wh-ok", hook.url(), 1000, 4);
      String id = publish(node.service(), "wh-ok", "{\"order\": 7}");

      await(() -> assertEquals(1, hook.okFor(id)));
      awaitSettled(node.service(), "wh-ok-sub");
      assertEquals(1, hook.callsFor(id), "one call, acked at once");
      assertEquals(0, deadLetters(node.service(), "wh-ok"));

      WebhookReceiver.Call call = hook.callsOf(id).get(0);
      assertEquals(1, call.attempt());
      assertEquals("wh-ok-sub", call.subscription());
      assertFalse(call.deadline() == null || call.deadline().isEmpty(), "X-Router-Deadline is set");
      assertEquals(call.deliveryId(), call.body().get("deliveryId").asText());
      assertEquals(id, call.body().get("messageId").asText());
      assertEquals(1, call.body().get("attempt").asInt());
      assertEquals(7, call.body().get("payload").get("order").asInt(), call.body().toString());
      assertEquals("{\"order\":7}", new String(java.util.Base64.getDecoder().decode(
          call.body().get("payloadBase64").asText()), StandardCharsets.UTF_8));
    }
  }

  @Test
  void a404IsDeadLetteredAsRejectedAfterExactlyOneCall() throws Exception {
    try (WebhookReceiver hook = WebhookReceiver.start(8, c -> 404)) {
      createWebhook(node.service(), "wh-404-sub", "wh-404", hook.url(), 1000, 4);
      String id = publish(node.service(), "wh-404", "\"not for me\"");

      JsonNode dead = awaitJson(node.service(), "/v1/channels/wh-404/dead-letters",
          b -> b.get("total").asLong() == 1 && b.get("items").size() == 1);
      JsonNode item = dead.get("items").get(0);
      assertEquals("rejected", item.get("reason").asText(), item.toString());
      assertEquals(id, item.get("envelope").get("messageId").asText());
      assertEquals("wh-404-sub", item.get("subscription").asText());
      assertEquals(1, item.get("attempts").asInt(), item.toString());
      assertTrue(item.get("lastError").asText().contains("404"), item.toString());
      awaitSettled(node.service(), "wh-404-sub");
      assertEquals(1, hook.callsFor(id), "a rejected message is not retried");
    }
  }

  @Test
  void a500ThenA200IsRetriedAndAcked() throws Exception {
    try (WebhookReceiver hook = WebhookReceiver.start(8, c -> c.attempt() == 1 ? 500 : 200)) {
      createWebhook(node.service(), "wh-500-sub", "wh-500", hook.url(), 1000, 4);
      String id = publish(node.service(), "wh-500", "\"retry me\"");

      await(() -> assertEquals(1, hook.okFor(id)));
      awaitSettled(node.service(), "wh-500-sub");
      List<WebhookReceiver.Call> calls = hook.callsOf(id);
      assertEquals(List.of(1, 2), attempts(calls), "X-Router-Attempt of each call");
      assertEquals(2, calls.get(1).body().get("attempt").asInt());
      assertNotEquals(calls.get(0).deliveryId(), calls.get(1).deliveryId(), "each attempt has its delivery id");
      assertEquals(0, deadLetters(node.service(), "wh-500"));
    }
  }

  @Test
  void a429AndA408AreRetried() throws Exception {
    try (WebhookReceiver hook = WebhookReceiver.start(8,
        c -> c.attempt() == 1 ? 429 : c.attempt() == 2 ? 408 : 200)) {
      createWebhook(node.service(), "wh-429-sub", "wh-429", hook.url(), 1000, 4);
      String id = publish(node.service(), "wh-429", "\"slow down\"");

      await(() -> assertEquals(1, hook.okFor(id)));
      awaitSettled(node.service(), "wh-429-sub");
      assertEquals(List.of(1, 2, 3), attempts(hook.callsOf(id)));
      assertEquals(0, deadLetters(node.service(), "wh-429"));
    }
  }

  @Test
  void noAnswerWithinTheTimeoutIsRetried() throws Exception {
    // the first attempt is never answered (held open): the router gives up on it after timeoutMs and retries
    try (WebhookReceiver hook = WebhookReceiver.start(8, c -> c.attempt() == 1 ? WebhookReceiver.NO_ANSWER : 200)) {
      createWebhook(node.service(), "wh-timeout-sub", "wh-timeout", hook.url(), 300, 4);
      var metrics = node.service().runtime().metrics();
      long nacksBefore = metrics.snapshot().nacked();
      long timeoutsBefore = metrics.snapshot().ackTimeouts();
      String id = publish(node.service(), "wh-timeout", "\"are you there\"");
      await(() -> assertEquals(1, hook.callsFor(id)));
      long firstCall = hook.callsOf(id).get(0).receivedNanos();
      // the webhook timeout (300 ms), not the 2 s ack timeout, ends the first attempt: a nack at about 300 ms
      long nackMs = -1;
      while (nackMs < 0 && System.nanoTime() - firstCall < TimeUnit.SECONDS.toNanos(5)) {
        if (metrics.snapshot().nacked() > nacksBefore) nackMs = (System.nanoTime() - firstCall) / 1_000_000;
        else
          java.util.concurrent.locks.LockSupport.parkNanos(1_000_000); // polling with a deadline, 1 ms steps
      }
      long nackedAfter = nackMs;
      assertTrue(nackedAfter >= 290 && nackedAfter < 1500, "the unanswered call was nacked " + nackedAfter
          + " ms after it started (webhook timeout 300 ms, ack timeout 2000 ms)");
      assertEquals(timeoutsBefore, metrics.snapshot().ackTimeouts(), "no ack timeout ended it");

      await(() -> assertEquals(1, hook.okFor(id)));
      awaitSettled(node.service(), "wh-timeout-sub");
      assertEquals(List.of(1, 2), attempts(hook.callsOf(id)));
      assertEquals(0, deadLetters(node.service(), "wh-timeout"));
    }
  }

  // ---- restart ----------------------------------------------------------------------------------------------------

  @Test
  void aWebhookSubscriptionSurvivesARouterRestart() throws Exception {
    try (RedisServer own = RedisServer.start();
        WebhookReceiver hook = WebhookReceiver.start(8, c -> 200)) {
      RouterService first = HttpTestSupport.start("webhook-restart-1", own, "");
      String before;
      try {
        createWebhook(first, "wh-restart-sub", "wh-restart", hook.url(), 1000, 4);
        before = publish(first, "wh-restart", "\"before\"");
        await(() -> assertEquals(1, hook.okFor(before)));
        awaitSettled(first, "wh-restart-sub");
      } finally {
        first.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }

      // while no router with the webhook runs, another service (an embedded router: no HTTP subscriptions) publishes
      ActorRef<RouterCommand> publisher = node.kit().spawn(RedisRouter.create(RouterTestSupport.settings(own, "")),
          "restart-publisher");
      List<String> whileDown = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        PublishReply r = RouterTestSupport.publish(node.kit(), publisher,
            PublishRequest.of("wh-restart", ("down-" + i).getBytes(StandardCharsets.UTF_8)));
        assertInstanceOf(PublishReply.Accepted.class, r);
        whileDown.add(r.messageId());
      }
      node.kit().stop(publisher);

      RouterService second = HttpTestSupport.start("webhook-restart-2", own, "");
      try {
        // the new service loads the subscription from Redis and pushes what was published meanwhile
        await(() -> whileDown.forEach(id -> assertTrue(hook.okFor(id) >= 1, "not pushed yet: " + id)));
        String after = publish(second, "wh-restart", "\"after\"");
        await(() -> assertEquals(1, hook.okFor(after)));
        awaitSettled(second, "wh-restart-sub");
        assertEquals(1, hook.callsFor(before), "acked before the restart: not pushed again");
        JsonNode sub = getJson(second, "/v1/subscriptions/wh-restart-sub");
        assertEquals(hook.url(), sub.get("webhook").get("url").asText());
        assertEquals(0, deadLetters(second, "wh-restart"));
      } finally {
        second.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
  }

  // ---- parallelism ------------------------------------------------------------------------------------------------

  @Test
  void parallelismBoundsTheCallsInFlight() throws Exception {
    // every call takes 100 ms: 40 messages keep the 4 slots busy for about a second
    try (WebhookReceiver hook = WebhookReceiver.start(64, c -> {
      Thread.sleep(100);
      return 200;
    })) {
      createWebhook(node.service(), "wh-par-sub", "wh-par", hook.url(), 5000, 4);
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < 40; i++) ids.add(publish(node.service(), "wh-par", Integer.toString(i)));

      await(() -> ids.forEach(id -> assertEquals(1, hook.okFor(id), id)));
      awaitSettled(node.service(), "wh-par-sub");
      assertEquals(4, hook.highestConcurrency(), "calls in flight at once (parallelism 4, always work waiting)");
      assertEquals(40, hook.calls.size(), "no retries: every call answered 200 within the timeout");
    }
  }

  @Test
  void aReceiverSlowerThanTheTimeoutGetsNoMoreCallsAtOnceAndALate2xxAcks() throws Exception {
    // each call takes 600 ms but the router waits only 200 ms: it nacks every call at 200 ms (the core retries on
    // schedule), yet the call keeps its slot until the answer comes; the retry waits for it, and the late 200 acks
    // the message. A struggling receiver never gets more than 4 calls at once, nor the same message twice.
    try (WebhookReceiver hook = WebhookReceiver.start(64, c -> {
      Thread.sleep(600);
      return 200;
    })) {
      createWebhook(node.service(), "wh-par-slow-sub", "wh-par-slow", hook.url(), 200, 4);
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < 8; i++) ids.add(publish(node.service(), "wh-par-slow", Integer.toString(i)));

      await(() -> ids.forEach(id -> assertEquals(1, hook.okFor(id), id)));
      awaitSettled(node.service(), "wh-par-slow-sub");
      assertEquals(4, hook.highestConcurrency(), "calls at once (parallelism 4)");
      ids.forEach(id -> assertEquals(List.of(1), attempts(hook.callsOf(id)), "calls of " + id));
      assertEquals(0, deadLetters(node.service(), "wh-par-slow"));
    }
  }
  @Test
  void aMessageWaitingForTheSlotIsPushedOnceOrDeadLetteredNeverBoth() throws Exception {
    // one slot; the first message's call hangs (the receiver never answers it); one attempt per message, 1 s ack
    // timeout, 500 ms webhook timeout. The pusher takes one delivery at a time (its parallelism): when the hung call
    // times out (nacked, dead-lettered) the next message is handed over, but the slot stays taken until the hung
    // call's connection closes (idle for the ack timeout): by then a call may no longer end within that message's
    // ack timeout (the slot comes free at about the end of that message's budget: a race), so it is either pushed or
    // dead-lettered, never both. The messages after it waited in the core, where waiting burns no attempt: they are
    // pushed once the slot is free. No message is ever pushed after it was dead-lettered, none twice.
    try (WebhookReceiver hook = WebhookReceiver.start(8, c -> "hang".equals(c.body().path("payload").asText())
        ? WebhookReceiver.NO_ANSWER
        : 200)) {
      createWebhook(node.service(), "wh-stale-sub", "wh-stale", hook.url(), 500, 1);
      String hung = publish(node.service(), "wh-stale", "\"hang\"");
      await(() -> assertEquals(1, hook.callsFor(hung)));
      List<String> waiting = new ArrayList<>();
      for (int i = 0; i < 5; i++) waiting.add(publish(node.service(), "wh-stale", "\"wait " + i + "\""));

      // every message settles: pushed (2xx) or dead-lettered
      JsonNode dead = awaitJson(node.service(), "/v1/channels/wh-stale/dead-letters", b -> {
        java.util.Set<String> deadIds = new java.util.HashSet<>();
        b.get("items").forEach(item -> deadIds.add(item.get("envelope").get("messageId").asText()));
        return deadIds.contains(hung) && waiting.stream().allMatch(id -> deadIds.contains(id) || hook.okFor(id) == 1);
      });
      awaitSettled(node.service(), "wh-stale-sub");
      java.util.Map<String, String> errors = new java.util.HashMap<>();
      for (JsonNode item : dead.get("items")) {
        assertEquals("max-attempts", item.get("reason").asText(), item.toString());
        errors.put(item.get("envelope").get("messageId").asText(), item.get("lastError").asText());
      }
      assertTrue(errors.get(hung).contains("no answer within 500 ms"), errors.toString());
      int pushed = 0;
      for (String id : waiting) {
        if (errors.containsKey(id)) {
          // handed over while the hung call still held the slot, and the slot came free too late for its attempt:
          // refused before it took a slot, or by the pool's start-by check once it had one (the same race)
          String error = errors.get(id);
          assertTrue(error.contains("call slots: too close to the ack timeout") || error.contains("TooLateToCall"),
              errors.toString());
          assertEquals(0, hook.callsFor(id), id + " was dead-lettered, so never pushed: " + errors);
        } else {
          assertEquals(1, hook.callsFor(id), id + " pushed once");
          pushed++;
        }
      }
      // only the first waiting message can be handed over while the slot is held (the pusher takes one delivery at
      // a time); the others waited in the core, where waiting burns no attempt, and are pushed
      assertTrue(pushed >= waiting.size() - 1, "pushed " + pushed + " of " + waiting.size() + "; " + errors);
    }
  }

}
