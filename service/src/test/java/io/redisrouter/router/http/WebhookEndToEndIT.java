package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The acceptance scenario of webhook push, end to end over HTTP.
 *
 * <p>Service A publishes 10,000 messages to the router over HTTP: 8,000 in batches of 100 from 4 threads and 2,000
 * single publishes from 8 threads, all at once; each message carries an idempotency key (its message id), so a publish
 * refused with 429/503 is sent again without making a second message. Service B is a webhook receiver that answers
 * 20% of the calls with a random 500 and is down for 5 seconds in the middle (its HTTP server is stopped once 30% of
 * the messages were delivered and started again on the same port 5 s later).
 *
 * <p>Counted by message id: sent (accepted by the router), delivered (answered 2xx at least once), duplicated (2xx
 * answers beyond the first for the same id), lost (accepted but never answered 2xx). Lost must be 0, nothing may be
 * dead-lettered and the subscription's pending count must drop to 0; duplicates are reported and bounded. The report
 * line, the time from the first publish to the last first delivery and the rate are logged (timings are reported,
 * not asserted).
 */
class WebhookEndToEndIT {
  private static final Logger log = LoggerFactory.getLogger(WebhookEndToEndIT.class);

  static final String CHANNEL = "e2e-orders";
  static final String SUBSCRIPTION = "service-b";
  static final int BATCHES = 80;
  static final int BATCH_SIZE = 100;
  static final int SINGLES = 2_000;
  static final int TOTAL = BATCHES * BATCH_SIZE + SINGLES;
  static final int PARALLELISM = 32;
  static final double FAILURE_RATE = 0.2;
  static final Duration OUTAGE = Duration.ofSeconds(5);
  static final Duration WAIT = Duration.ofSeconds(60);

  // Enough attempts and a short backoff that nothing legitimately dead-letters: a message fails 20% of its calls
  // and every call during the 5 s outage; at 20 ms-500 ms backoff an outage costs a message about 10-15 attempts,
  // far from 100, and the 10 minute time-to-live is far beyond the test. The ack timeout (10 s) is longer than the
  // webhook timeout (2 s), so only the webhook's answer (or its timeout) decides an attempt.
  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("webhook-e2e")
      .config("redis-router.channels.overrides.\"" + CHANNEL + "\" {\n"
          + "  max-attempts = 100\n"
          + "  backoff { min = 20ms, max = 500ms, jitter = 0.2 }\n"
          + "  time-to-live = 10m\n"
          + "  ack-timeout = 10s\n"
          + "  max-in-flight = 256\n"
          + "}\n");

  @Test
  void everyMessageIsDeliveredDespiteFailuresAndAnOutage() throws Exception {
    MessageChecker checker = new MessageChecker();
    AtomicInteger retriedCalls = new AtomicInteger();
    // service B: 20% random 500s
    WebhookReceiver serviceB = WebhookReceiver.start(PARALLELISM * 2, c -> {
      if (c.attempt() > 1) retriedCalls.incrementAndGet();
      return ThreadLocalRandom.current().nextDouble() < FAILURE_RATE ? 500 : 200;
    });
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    ExecutorService publishers = Executors.newFixedThreadPool(12);
    TestProbe<Object> probe = node.kit().createTestProbe();
    try {
      HttpResponse<String> created = HttpTestSupport.post(node.service(), "/v1/subscriptions", "{\"name\": \""
          + SUBSCRIPTION + "\", \"channel\": \"" + CHANNEL + "\", \"webhook\": {\"url\": \"" + serviceB.url()
          + "\", \"timeoutMs\": 2000, \"parallelism\": " + PARALLELISM + "}}");
      assertEquals(201, created.statusCode(), created.body());

      // service A: batches and single publishes, concurrently
      long t0 = System.nanoTime();
      scheduler.scheduleAtFixedRate(() -> log.info("progress after {} s: {} published, {} delivered, {} calls to"
          + " service B ({} errors), router in flight {}", secs(System.nanoTime() - t0),
          node.service().runtime().metrics().snapshot().publishAccepted(), serviceB.okById().size(),
          serviceB.calls.size(),
          serviceB.errorAnswers(), node.service().runtime().metrics().snapshot().inFlight()), 5, 5, TimeUnit.SECONDS);
      AtomicLong publishRetries = new AtomicLong();
      List<Future<?>> publishing = new ArrayList<>();
      AtomicInteger nextBatch = new AtomicInteger();
      for (int t = 0; t < 4; t++) {
        publishing.add(publishers.submit(() -> {
          for (int b; (b = nextBatch.getAndIncrement()) < BATCHES;) {
            publishBatch(b, checker, publishRetries);
          }
          return null;
        }));
      }
      AtomicInteger nextSingle = new AtomicInteger();
      for (int t = 0; t < 8; t++) {
        publishing.add(publishers.submit(() -> {
          for (int i; (i = nextSingle.getAndIncrement()) < SINGLES;) {
            publishOne("s-" + i, i, checker, publishRetries);
          }
          return null;
        }));
      }

      // the outage: once 30% were delivered, service B goes down for 5 s
      probe.awaitAssert(WAIT, () -> {
        assertTrue(serviceB.okById().size() >= TOTAL * 3 / 10, () -> "delivered " + serviceB.okById().size());
        return null;
      });
      serviceB.stop();
      long downAt = System.nanoTime();
      int deliveredAtOutage = serviceB.okById().size();
      long retriedBeforeOutage = node.service().runtime().metrics().snapshot().retried();
      CompletableFuture<Long> backUp = new CompletableFuture<>();
      // retries counted from 1 s into the outage (past any backoff of an error answered before it) until B is back:
      // those can only come from calls that B, being down, refused
      long[] retriedInOutage = new long[2];
      int[] callsInOutage = new int[2];
      scheduler.schedule(() -> {
        retriedInOutage[0] = node.service().runtime().metrics().snapshot().retried();
        callsInOutage[0] = serviceB.calls.size();
      }, 1000, TimeUnit.MILLISECONDS);
      scheduler.schedule(() -> {
        try {
          retriedInOutage[1] = node.service().runtime().metrics().snapshot().retried();
          callsInOutage[1] = serviceB.calls.size();
          serviceB.restart(); // on the same port
          backUp.complete(System.nanoTime());
        } catch (RuntimeException e) {
          backUp.completeExceptionally(e);
        }
      }, OUTAGE.toMillis(), TimeUnit.MILLISECONDS);
      log.info("service B down after {} of {} messages delivered", deliveredAtOutage, TOTAL);
      assertTrue(deliveredAtOutage < TOTAL, "the outage must come in the middle");

      for (Future<?> f : publishing) f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
      long published = System.nanoTime();
      long upAt = backUp.get(WAIT.toSeconds(), TimeUnit.SECONDS);
      long retriedDuringOutage = node.service().runtime().metrics().snapshot().retried() - retriedBeforeOutage;

      // every accepted message answered 2xx at least once
      probe.awaitAssert(WAIT, () -> {
        Map<String, AtomicInteger> ok = serviceB.okById();
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < BATCHES * BATCH_SIZE && missing.size() < 5; i++) {
          if (!ok.containsKey(batchId(i))) missing.add(batchId(i));
        }
        for (int i = 0; i < SINGLES && missing.size() < 5; i++) {
          if (!ok.containsKey("s-" + i)) missing.add("s-" + i);
        }
        assertTrue(missing.isEmpty(), () -> (TOTAL - ok.size()) + " not delivered yet, e.g. " + missing);
        return null;
      });
      long delivered = System.nanoTime();
      // and settled in Redis: nothing pending, nothing unread
      probe.awaitAssert(WAIT, () -> {
        JsonNode stats = getJson("/v1/subscriptions/" + SUBSCRIPTION).get("stats");
        assertEquals(0, stats.get("pending").asLong(), stats::toString);
        assertEquals(0, ConsumeHttpSupport.known(stats.get("lag")), stats::toString);
        return null;
      });
      long settled = System.nanoTime();

      serviceB.okById().forEach((id, n) -> {
        for (int i = 0; i < n.get(); i++) checker.delivered(id);
      });
      MessageChecker.Report report = checker.report();
      checker.logReport("WebhookEndToEndIT");
      double seconds = (delivered - t0) / 1e9;
      log.info("WebhookEndToEndIT: {} messages published in {} s ({} publish retries), all delivered after {} s"
          + " ({} msg/s including the {} s outage), settled in Redis after {} s; service B answered {} calls"
          + " ({} with 2xx, {} with an error, {} retried calls); outage {} s, the router retried {} deliveries"
          + " meanwhile", TOTAL, secs(published - t0), publishRetries.get(), secs(delivered - t0),
          Math.round(TOTAL / seconds), OUTAGE.toSeconds(), secs(settled - t0), serviceB.calls.size(),
          serviceB.okAnswers(), serviceB.errorAnswers(), retriedCalls.get(), secs(upAt - downAt),
          retriedDuringOutage);

      assertEquals(TOTAL, report.sent());
      assertEquals(TOTAL, report.accepted(), "every publish accepted");
      assertEquals(0, report.lost(), () -> "lost: " + checker.lostIds().stream().limit(10).toList());
      assertEquals(0, report.unexpected());
      assertEquals(TOTAL, report.delivered());
      assertEquals(0, getJson("/v1/channels/" + CHANNEL + "/dead-letters").get("total").asLong(),
          "nothing may be dead-lettered");
      // the faults did happen: error answers near 20%, retries, and calls that failed during the outage
      assertTrue(serviceB.errorAnswers() > TOTAL / 10, "error answers: " + serviceB.errorAnswers());
      assertTrue(retriedDuringOutage > 0, "retries while service B was down");
      // the outage happened: B took no call while down, and the router's attempts meanwhile failed and were retried
      assertEquals(callsInOutage[0], callsInOutage[1], "calls service B answered while it was down");
      assertTrue(retriedInOutage[1] - retriedInOutage[0] > 0, "retries of calls refused during the outage: "
          + (retriedInOutage[1] - retriedInOutage[0]));
      // a duplicate needs a 2xx the router never got: a message is in at most one call at a time and a 2xx after
      // the timeout still acks it, so only the calls cut off when service B went down (at most the parallelism)
      assertTrue(report.duplicated() <= PARALLELISM, report::toString);
    } finally {
      publishers.shutdownNow();
      scheduler.shutdownNow();
      serviceB.close();
    }
  }

  static String batchId(int i) {
    return "b-" + i;
  }

  private static void publishBatch(int b, MessageChecker checker, AtomicLong retries) throws Exception {
    List<Integer> todo = new ArrayList<>();
    for (int i = b * BATCH_SIZE; i < (b + 1) * BATCH_SIZE; i++) todo.add(i);
    todo.forEach(i -> checker.sent(batchId(i)));
    while (!todo.isEmpty()) {
      ObjectNode body = HttpTestSupport.JSON.createObjectNode();
      ArrayNode messages = body.putArray("messages");
      for (int i : todo) messages.add(message(batchId(i), i));
      HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/channels/" + CHANNEL + "/messages/batch",
          body.toString());
      List<Integer> again = new ArrayList<>();
      if (r.statusCode() == 202 || r.statusCode() == 207) {
        JsonNode results = HttpTestSupport.json(r).get("results");
        for (int k = 0; k < todo.size(); k++) {
          JsonNode res = results.get(k);
          if (res.get("status").asInt() == 202) {
            assertEquals(batchId(todo.get(k)), res.get("messageId").asText());
            checker.accepted(batchId(todo.get(k)));
          } else {
            again.add(todo.get(k));
          }
        }
      } else if (r.statusCode() == 429 || r.statusCode() == 503) {
        again.addAll(todo);
      } else {
        throw new AssertionError("batch publish failed: " + r.statusCode() + " " + r.body());
      }
      if (!again.isEmpty()) {
        retries.addAndGet(again.size());
        java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(50).toNanos()); // the client's backoff
      }
      todo = again;
    }
  }

  private static void publishOne(String id, int n, MessageChecker checker, AtomicLong retries) throws Exception {
    checker.sent(id);
    while (true) {
      HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/channels/" + CHANNEL + "/messages",
          message(id, n).toString());
      if (r.statusCode() == 202) {
        checker.accepted(id);
        return;
      }
      if (r.statusCode() != 429 && r.statusCode() != 503) {
        throw new AssertionError("publish failed: " + r.statusCode() + " " + r.body());
      }
      retries.incrementAndGet();
      java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(50).toNanos()); // the client's backoff
    }
  }

  private static ObjectNode message(String id, int n) {
    ObjectNode m = HttpTestSupport.JSON.createObjectNode();
    m.put("idempotencyKey", id);
    ObjectNode payload = m.putObject("payload");
    payload.put("order", n);
    payload.put("customer", "customer-" + (n % 97));
    payload.put("note", "an order from service A");
    return m;
  }

  private static JsonNode getJson(String path) throws Exception {
    HttpResponse<String> r = HttpTestSupport.get(node.service(), path);
    assertEquals(200, r.statusCode(), r.body());
    return HttpTestSupport.json(r);
  }

  private static String secs(long nanos) {
    return String.format("%.1f", nanos / 1e9);
  }
}
