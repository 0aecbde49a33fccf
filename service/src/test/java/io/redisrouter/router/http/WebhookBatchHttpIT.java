package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.router.consume.HttpSubscription;
import io.redisrouter.router.service.RouterService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.redisrouter.router.http.WebhookHttpIT.deadLetters;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batched webhook push ({@code webhook.batchSize} above 1): a call carries up to that many deliveries as a JSON array
 * in delivery order (the receiver checks every call against the OpenAPI {@code deliveryBatch} callback), and its answer
 * settles all of them alike: a 2xx acks each once, a 5xx has each retried (a later call, attempt 2), a rejecting 4xx
 * dead-letters each. The size is validated (1-1000, naming the field) and shown with the defaults filled in.
 */
class WebhookBatchHttpIT {

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("webhook-batch")
      .config("redis-router.channels.overrides {\n"
          + "  \"whb-order\" { ack-timeout = 30s, max-in-flight = 256 }\n"
          + "  \"whb-5xx\" { ack-timeout = 30s }\n"
          + "}\n");

  static void createBatchWebhook(RouterService s, String name, String channel, String url, int parallelism,
      int batchSize) throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(s, "/v1/subscriptions", "{\"name\": \"" + name
        + "\", \"channel\": \"" + channel + "\", \"webhook\": {\"url\": \"" + url + "\", \"timeoutMs\": 5000"
        + ", \"parallelism\": " + parallelism + ", \"batchSize\": " + batchSize + "}}");
    assertEquals(201, r.statusCode(), r.body());
    assertEquals(batchSize, HttpTestSupport.json(r).path("webhook").path("batchSize").asInt(), r.body());
  }

  /** Publishes {@code n} messages in one batch request; their message ids in publish order. */
  static List<String> publishBatch(RouterService s, String channel, int n) throws Exception {
    ObjectNode body = HttpTestSupport.JSON.createObjectNode();
    ArrayNode messages = body.putArray("messages");
    for (int i = 0; i < n; i++) messages.addObject().putObject("payload").put("i", i);
    HttpResponse<String> r = HttpTestSupport.post(s, "/v1/channels/" + channel + "/messages/batch", body.toString());
    assertEquals(202, r.statusCode(), r.body());
    List<String> ids = new ArrayList<>();
    for (JsonNode res : HttpTestSupport.json(r).get("results")) ids.add(res.get("messageId").asText());
    assertEquals(n, ids.size());
    return ids;
  }

  static void await(Runnable assertion) {
    node.kit().createTestProbe().awaitAssert(WebhookHttpIT.WAIT, () -> {
      assertion.run();
      return null;
    });
  }

  /** GETs {@code path} until {@code until} holds. */
  static JsonNode awaitJson(RouterService s, String path, java.util.function.Predicate<JsonNode> until) {
    JsonNode[] last = {null};
    await(() -> {
      try {
        last[0] = WebhookHttpIT.getJson(s, path);
      } catch (Exception e) {
        throw new AssertionError(e);
      }
      assertTrue(until.test(last[0]), () -> "not yet: " + last[0]);
    });
    return last[0];
  }

  /** Waits until nothing of subscription {@code name} is pending or unread. */
  static void awaitSettled(RouterService s, String name) {
    awaitJson(s, "/v1/subscriptions/" + name, b -> b.path("stats").path("pending").asLong(-1) == 0
        && ConsumeHttpSupport.isZero(b.path("stats").path("lag")));
  }

  static int sizeOfAll(List<WebhookReceiver.Batch> batches) {
    return batches.stream().mapToInt(b -> b.messageIds().size()).sum();
  }

  @Test
  void aCallCarriesUpToBatchSizeDeliveriesInPublishOrderAndItsAnswerAcksThemAll() throws Exception {
    int messages = 300;
    int batchSize = 50;
    CountDownLatch published = new CountDownLatch(1);
    AtomicInteger calls = new AtomicInteger();
    // the first call is held until every message is published, so that the next calls find many waiting
    try (WebhookReceiver hook = WebhookReceiver.start(4, c -> {
      if (calls.getAndIncrement() == 0) published.await(20, TimeUnit.SECONDS);
      return 200;
    })) {
      // one call at a time: the calls' order is the delivery order
      createBatchWebhook(node.service(), "whb-order-sub", "whb-order", hook.url(), 1, batchSize);
      List<String> ids = publishBatch(node.service(), "whb-order", messages);
      published.countDown();

      await(() -> assertEquals(messages, hook.okById().size(), "messages acked"));
      awaitSettled(node.service(), "whb-order-sub");
      List<WebhookReceiver.Batch> batches = hook.batches();
      List<String> inCallOrder = new ArrayList<>();
      int largest = 0;
      for (WebhookReceiver.Batch b : batches) {
        inCallOrder.addAll(b.messageIds());
        largest = Math.max(largest, b.messageIds().size());
        assertTrue(b.messageIds().size() <= batchSize, "a call over batchSize: " + b.messageIds().size());
        assertTrue(b.attempts().stream().allMatch(a -> a == 1), "only first attempts: " + b.attempts());
      }
      System.out.printf("batched webhook: sent=%d acked=%d delivered=%d lost=%d duplicated=%d in %d calls"
          + " (largest %d)%n", messages, hook.okById().size(), inCallOrder.size(),
          ids.stream().filter(id -> hook.okFor(id) == 0).count(), inCallOrder.size() - messages, batches.size(),
          largest);
      assertEquals(ids, inCallOrder, "every message once, in publish order, across the calls");
      for (String id : ids) assertEquals(1, hook.okFor(id), id);
      assertTrue(batches.size() < messages / 2, "calls for " + messages + " messages: " + batches.size());
      assertTrue(largest > 1, "largest call: " + largest);
      assertEquals(0, deadLetters(node.service(), "whb-order"));
    }
  }

  @Test
  void a5xxHasEveryDeliveryOfTheBatchRetriedAndA2xxLaterAcksEach() throws Exception {
    CountDownLatch published = new CountDownLatch(1);
    AtomicInteger calls = new AtomicInteger();
    // the first call is held until every message is published and acked; the second, which then carries many, fails
    try (WebhookReceiver hook = WebhookReceiver.start(4, c -> {
      int n = calls.getAndIncrement();
      if (n == 0) published.await(20, TimeUnit.SECONDS);
      return n == 1 ? 503 : 200;
    })) {
      createBatchWebhook(node.service(), "whb-5xx-sub", "whb-5xx", hook.url(), 1, 20);
      List<String> ids = publishBatch(node.service(), "whb-5xx", 20);
      published.countDown();

      await(() -> assertEquals(20, hook.okById().size(), "messages acked"));
      awaitSettled(node.service(), "whb-5xx-sub");
      List<WebhookReceiver.Batch> batches = hook.batches();
      List<String> failed = batches.get(1).messageIds();
      assertTrue(failed.size() > 1, "the failed call carried a batch: " + failed);
      // the fault happened: the second call was answered 503
      assertEquals(503, hook.answered().get(1).status());
      for (String id : ids) {
        boolean wasFailed = failed.contains(id);
        assertEquals(wasFailed ? 2 : 1, hook.callsFor(id), id + (wasFailed ? " was in the 503 call" : ""));
        assertEquals(1, hook.okFor(id), id);
      }
      // each failed one came again as attempt 2
      int retried = 0;
      for (WebhookReceiver.Batch b : batches.subList(2, batches.size())) {
        for (int k = 0; k < b.messageIds().size(); k++) {
          if (failed.contains(b.messageIds().get(k))) {
            assertEquals(2, b.attempts().get(k), b.messageIds().get(k));
            retried++;
          }
        }
      }
      System.out.printf("batched webhook 5xx: sent=20 acked=%d delivered=%d lost=%d duplicated=0 retried=%d%n",
          hook.okById().size(), hook.okById().size(), 20 - hook.okById().size(), retried);
      assertEquals(failed.size(), retried);
      assertEquals(0, deadLetters(node.service(), "whb-5xx"));
    }
  }

  @Test
  void aRejecting4xxDeadLettersEveryDeliveryOfTheBatchWithoutARetry() throws Exception {
    try (WebhookReceiver hook = WebhookReceiver.start(4, c -> 422)) {
      createBatchWebhook(node.service(), "whb-4xx-sub", "whb-4xx", hook.url(), 2, 10);
      List<String> ids = publishBatch(node.service(), "whb-4xx", 10);

      JsonNode dl = awaitJson(node.service(), "/v1/channels/whb-4xx/dead-letters",
          b -> b.path("total").asLong() == 10);
      assertEquals(10, dl.path("items").size(), dl.toString());
      for (JsonNode entry : dl.path("items")) {
        assertEquals("rejected", entry.path("reason").asText(), entry.toString());
      }
      assertEquals(10, sizeOfAll(hook.batches()), "each message in one call");
      for (String id : ids) assertEquals(1, hook.callsFor(id), id + ": not retried");
      assertEquals(0, hook.okAnswers());
    }
  }

  @Test
  void theBatchSizeIsValidatedNamingTheFieldAndShownWithTheDefault() throws Exception {
    for (String bad : List.of("0", "1001", "-5", "\"ten\"")) {
      HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/subscriptions", "{\"name\": \"whb-bad\","
          + " \"channel\": \"whb-bad\", \"webhook\": {\"url\": \"http://127.0.0.1:9/hook\", \"batchSize\": " + bad
          + "}}");
      assertEquals(400, r.statusCode(), bad + ": " + r.body());
      JsonNode err = HttpTestSupport.json(r).path("errors").get(0);
      assertEquals("webhook.batchSize", err.path("field").asText(), r.body());
      assertTrue(err.path("message").asText().contains("1-1000"), r.body());
    }
    HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/subscriptions", "{\"name\": \"whb-default\","
        + " \"channel\": \"whb-default\", \"webhook\": {\"url\": \"http://127.0.0.1:9/hook\"}}");
    assertEquals(201, r.statusCode(), r.body());
    assertEquals(1, HttpTestSupport.json(r).path("webhook").path("batchSize").asInt(), r.body());
    JsonNode shown = WebhookHttpIT.getJson(node.service(), "/v1/subscriptions/whb-default");
    assertEquals(1, shown.path("webhook").path("batchSize").asInt(), shown.toString());
  }

  @Test
  void aDefinitionStoredBeforeBatchesReadsAsOneDeliveryPerCall() {
    String stored = "{\"name\":\"old\",\"channel\":\"c\",\"type\":\"webhook\",\"webhook\":{\"url\":"
        + "\"http://b:8080/hook\",\"timeoutMs\":1000,\"parallelism\":4},\"createdAt\":\"2026-12-01T10:15:30Z\"}";
    HttpSubscription s = HttpSubscription.decode(stored.getBytes(StandardCharsets.UTF_8));
    assertEquals(1, s.webhook().batchSize());
    assertEquals(4, s.webhook().parallelism());
    HttpSubscription again = HttpSubscription.decode(s.encode());
    assertTrue(again.sameDefinition(s), "round trip: " + again);
  }
}
