package io.redisrouter.router.http;

import io.redisrouter.router.http.RouterClient.Message;
import io.redisrouter.router.http.RouterClient.Reply;
import io.redisrouter.router.redis.RedisKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Publishing over HTTP against a server bound on port 0: status codes and JSON bodies. */
class PublishHttpIT {

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("publish-http")
      .config("redis-router.limits.max-payload-bytes = 1000");

  @Test
  void oneMessageIsAcceptedWith202AndWrittenToTheStream() throws Exception {
    long before = node.redis().callLong("XLEN", RedisKeys.stream("http-orders"));
    Reply r = node.client().publish("http-orders",
        Message.json(Map.of("order", 42)).withTtl("30s").withHeaders(Map.of("trace", "t1")));
    assertEquals(202, r.status(), r.body());
    assertFalse(r.get("messageId").asText().isEmpty());
    assertFalse(r.get("duplicate").asBoolean());
    assertEquals(before + 1, node.redis().callLong("XLEN", RedisKeys.stream("http-orders")));
  }

  @Test
  void aRepeatedIdempotencyKeyIsADuplicate() throws Exception {
    Reply first = node.client().publish("http-dedup", Message.json("x").withKey("key-1"));
    Reply second = node.client().publish("http-dedup", Message.json("x").withKey("key-1"));
    assertEquals(202, first.status(), first.body());
    assertEquals(202, second.status(), second.body());
    assertFalse(first.get("duplicate").asBoolean(), first.body());
    assertTrue(second.get("duplicate").asBoolean(), second.body());
    assertEquals(first.get("streamId"), second.get("streamId"));
  }

  @Test
  void invalidInputIs400WithFieldErrors() throws Exception {
    Reply r = node.client().publish("bad*name", Message.json("x").withTtl("soon"));
    assertEquals(400, r.status(), r.body());
    assertEquals("invalid", r.get("code").asText());
    String fields = r.get("errors").toString();
    assertTrue(fields.contains("\"channel\"") && fields.contains("\"ttl\""), fields);
  }

  @Test
  void aTimeToLiveBeyondTheMaximumIs400NamingTheField() throws Exception {
    Reply r = node.client().publish("http-ttl-max", Message.json("x").withTtl("1000000000000d"));
    assertEquals(400, r.status(), r.body());
    assertEquals("invalid", r.get("code").asText());
    assertTrue(r.get("errors").toString().contains("ttl-too-long") && r.body().contains("365"), r.body());
  }

  @Test
  void anOversizedPayloadIs413() throws Exception {
    Reply r = node.client().publish("http-big", Message.json("y".repeat(1001)));
    assertEquals(413, r.status(), r.body());
    assertEquals("payload-too-large", r.get("code").asText());
  }

  @Test
  void aBatchIsAcceptedWith202() throws Exception {
    Reply r = node.client().publishBatch("http-batch",
        List.of(Message.json("a"), Message.json("b"), Message.base64("AAEC", null)));
    assertEquals(202, r.status(), r.body());
    assertEquals(3, r.get("accepted").asInt());
    assertEquals(3L, node.redis().callLong("XLEN", RedisKeys.stream("http-batch")));
  }

  @Test
  void withoutATokenItIs401() throws Exception {
    HttpResponse<String> r = HttpTestSupport.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create(node.service().baseUrl() + "/v1/channels/x/messages"))
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"payload\":1}")).build());
    assertEquals(401, r.statusCode());
    assertEquals("unauthorized", HttpTestSupport.json(r).get("code").asText());
  }

  /**
   * Requests must not start threads: a Scala-backed completion stage (Pekko's route results, asks) chained with the
   * non-async methods runs each action on ForkJoinPool.commonPool(), which on a 2-core machine falls back to a new
   * thread per action (it once cost 15 ms per request and 3,000 threads per second).
   */
  @Test
  void requestsDoNotStartAThreadEach() throws Exception {
    // the fallback this guards against (an async stage on the common pool) starts a thread per task only when the
    // common pool's parallelism is 1: the build sets it so on every machine (surefire argLine)
    assertEquals(1, java.util.concurrent.ForkJoinPool.getCommonPoolParallelism(),
        "run with -Djava.util.concurrent.ForkJoinPool.common.parallelism=1 (the build's surefire argLine)");
    java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
    for (int i = 0; i < 20; i++) { // warm up: pools start their threads
      node.client().publish("http-threads", Message.json("warm"));
    }
    long before = threads.getTotalStartedThreadCount();
    int requests = 300;
    for (int i = 0; i < requests; i++) {
      Reply r = node.client().publish("http-threads", Message.json("n" + i));
      assertEquals(202, r.status(), r.body());
      assertEquals(200, node.client().get("/health/live").status());
    }
    long started = threads.getTotalStartedThreadCount() - before;
    assertTrue(started < requests / 10, started + " threads started for " + 2 * requests + " requests (commonPool"
        + " parallelism " + java.util.concurrent.ForkJoinPool.getCommonPoolParallelism() + ")");
  }
}
