package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.fault.DeadLettersView;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A router node in a JVM of its own ({@link NodeProcess}) is killed with SIGKILL mid-stream and started again:
 * an HTTP publisher (each message with its idempotency key, sent again until accepted, to whichever node is up), a
 * webhook, a pull subscription and an embedded subscriber inside the node process consume. The new process takes
 * over what the dead one held (idle past the ack timeout) and every accepted message reaches every consumer: lost =
 * 0, duplicates bounded by what the dead node had in flight.
 */
class RouterNodeKillRestartIT {
  private static final String CHANNEL = "node-kill";

  @Test
  void aKilledNodeRestartedLosesNothing() throws Exception {
    MessageChecker checker = new MessageChecker();
    MessageChecker.Consumer embedded = checker.consumer("embedded");
    MessageChecker.Consumer hooked = checker.consumer("webhook");
    MessageChecker.Consumer pulled = checker.consumer("pull");
    AtomicBoolean publishing = new AtomicBoolean(true);
    AtomicBoolean pulling = new AtomicBoolean(true);
    AtomicReference<String> base = new AtomicReference<>();
    try (RedisServer redis = RedisServer.builder().appendOnly("always").start();
        WebhookReceiver hook = WebhookReceiver.start(8, c -> {
          hooked.delivered(c.messageId());
          hooked.acked(c.messageId());
          return 200;
        })) {
      int clusterPort = ClusteredHttpIT.freePort();
      NodeProcess first = start("first", redis, clusterPort, embedded);
      base.set(first.baseUrl());
      assertEquals(201, new RouterClient(base.get()).createSubscription(RouterClient.Subscription.pull(CHANNEL
          + "-pull", CHANNEL)).status());
      HttpResponse<String> created = HttpTestSupport.send(HttpTestSupport.request(base.get(), "/v1/subscriptions")
          .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"name\": \""
              + CHANNEL + "-hook\", \"channel\": \"" + CHANNEL + "\", \"webhook\": {\"url\": \"" + hook.url()
              + "\", \"timeoutMs\": 2000, \"parallelism\": 8}}"))
          .build());
      assertEquals(201, created.statusCode(), created.body());
      Thread publisher = new Thread(() -> {
        for (long seq = 0; publishing.get(); seq++) {
          String id = MessageChecker.id("http", seq);
          checker.attempted(id);
          while (publishing.get()) {
            String why = publish(base.get(), id);
            if (why == null) {
              checker.accepted(id);
              break;
            }
            checker.refused(id, why);
            LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // the node is down: try again shortly
          }
          LockSupport.parkNanos(Duration.ofMillis(4).toNanos());
        }
      }, "node-kill-publisher");
      Thread puller = new Thread(() -> {
        while (pulling.get()) {
          try {
            List<JsonNode> got = ConsumeHttpSupport.pull(base.get(), CHANNEL + "-pull", 100, 300);
            for (JsonNode d : got) pulled.delivered(ConsumeHttpSupport.messageId(d));
            ConsumeHttpSupport.ackAll(base.get(), CHANNEL + "-pull", got);
            for (JsonNode d : got) pulled.acked(ConsumeHttpSupport.messageId(d));
          } catch (Throwable e) {
            LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // the node is down
          }
        }
      }, "node-kill-puller");
      publisher.start();
      puller.start();
      NodeProcess second = null;
      try {
        ConsumeHttpSupport.await("300 accepted and consumed before the kill", checker::report,
            r -> r.accepted() >= 300 && r.consumers().stream().allMatch(c -> c.delivered() >= 200));
        first.signal("KILL");
        assertTrue(first.process().waitFor(10, java.util.concurrent.TimeUnit.SECONDS), "the node process died");
        assertEquals(137, first.process().exitValue(), "killed by SIGKILL");
        long acceptedAtKill = checker.report().accepted();
        second = start("second", redis, clusterPort, embedded);
        base.set(second.baseUrl());
        ConsumeHttpSupport.await("300 more accepted on the new node", () -> checker.report().accepted(),
            n -> n >= acceptedAtKill + 300);
        publishing.set(false);
        publisher.join(30_000);
        long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
        while (!checker.lostIds().isEmpty() && System.nanoTime() < deadline) {
          DeadLettersView.bySubscription(redis, CHANNEL).forEach((sub, ids) -> ids.forEach((id, reason) -> checker
              .consumer(sub.endsWith("-pull") ? "pull" : sub.endsWith("-hook") ? "webhook" : "embedded")
              .deadLettered(id, reason)));
          Thread.sleep(200); // polling the checker, bounded
        }
        MessageChecker.Report r = checker.assertPasses("router node SIGKILL + restart", 200);
        assertFalse(r.refusedByReason().isEmpty(), "publishes were refused while no node was up: " + r);
      } finally {
        publishing.set(false);
        pulling.set(false);
        puller.join(10_000);
        first.close();
        if (second != null) second.close();
      }
    }
  }

  private static NodeProcess start(String label, RedisServer redis, int clusterPort, MessageChecker.Consumer c)
      throws Exception {
    NodeProcess n = NodeProcess.start(label, "node-kill", redis.uri(), clusterPort, clusterPort, List.of(CHANNEL),
        (id, at) -> {
          c.delivered(id);
          c.acked(id);
        });
    long by = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (n.baseUrl() == null || n.subscribed() < 1
        || HttpTestSupport.get(n.baseUrl(), "/health/ready").statusCode() != 200) {
      assertTrue(System.nanoTime() < by, () -> n + " not ready with its subscriber within 60 s: " + n.tail());
      Thread.sleep(100); // polling the start-up, bounded
    }
    return n;
  }

  /** Null when accepted, else why not. */
  private static String publish(String base, String id) {
    try {
      HttpResponse<String> r = HttpTestSupport.send(HttpRequest.newBuilder(URI.create(base + "/v1/channels/" + CHANNEL
          + "/messages")).timeout(Duration.ofSeconds(10))
          .header("Authorization", "Bearer " + HttpTestSupport.TOKEN).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"payload\": {\"id\": \"" + id + "\"}, \"idempotencyKey\": \""
              + id + "\"}"))
          .build());
      return r.statusCode() == 202 ? null : "http " + r.statusCode();
    } catch (Exception e) {
      return e.getClass().getSimpleName();
    }
  }
}
