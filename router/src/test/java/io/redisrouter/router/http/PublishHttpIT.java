package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.RedisServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Publishing over HTTP against a server bound on port 0: status codes and JSON bodies. */
class PublishHttpIT {
  static RedisServer redis;
  static RouterService service;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisServer.start();
    service = HttpTestSupport.start("publish-http", redis, "redis-router.limits.max-payload-bytes = 1000");
  }

  @AfterAll
  static void stop() throws Exception {
    service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    redis.close();
  }

  @Test
  void oneMessageIsAcceptedWith202AndWrittenToTheStream() throws Exception {
    long before = redis.callLong("XLEN", RedisKeys.stream("http-orders"));
    HttpResponse<String> r = HttpTestSupport.post(service, "/v1/channels/http-orders/messages",
        "{\"payload\": {\"order\": 42}, \"ttl\": \"30s\", \"headers\": {\"trace\": \"t1\"}}");
    assertEquals(202, r.statusCode(), r.body());
    JsonNode body = HttpTestSupport.json(r);
    assertFalse(body.get("messageId").asText().isEmpty());
    assertFalse(body.get("duplicate").asBoolean());
    assertEquals(before + 1, redis.callLong("XLEN", RedisKeys.stream("http-orders")));
  }

  @Test
  void aRepeatedIdempotencyKeyIsADuplicate() throws Exception {
    HttpResponse<String> first = HttpTestSupport.post(service, "/v1/channels/http-dedup/messages",
        "{\"payload\": \"x\", \"idempotencyKey\": \"key-1\"}");
    HttpResponse<String> second = HttpTestSupport.post(service, "/v1/channels/http-dedup/messages",
        "{\"payload\": \"x\", \"idempotencyKey\": \"key-1\"}");
    assertEquals(202, first.statusCode());
    assertEquals(202, second.statusCode());
    assertTrue(HttpTestSupport.json(second).get("duplicate").asBoolean(), second.body());
    assertEquals(HttpTestSupport.json(first).get("streamId"), HttpTestSupport.json(second).get("streamId"));
  }

  @Test
  void invalidInputIs400WithFieldErrors() throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(service, "/v1/channels/bad*name/messages",
        "{\"payload\": \"x\", \"ttl\": \"soon\"}");
    assertEquals(400, r.statusCode(), r.body());
    JsonNode body = HttpTestSupport.json(r);
    assertEquals("invalid", body.get("code").asText());
    String fields = body.get("errors").toString();
    assertTrue(fields.contains("\"channel\"") && fields.contains("\"ttl\""), fields);
  }

  @Test
  void aTimeToLiveBeyondTheMaximumIs400NamingTheField() throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(service, "/v1/channels/http-ttl-max/messages",
        "{\"payload\": \"x\", \"ttl\": \"1000000000000d\"}");
    assertEquals(400, r.statusCode(), r.body());
    JsonNode body = HttpTestSupport.json(r);
    assertEquals("invalid", body.get("code").asText());
    assertTrue(body.get("errors").toString().contains("ttl-too-long") && r.body().contains("365"), r.body());
  }

  @Test
  void anOversizedPayloadIs413() throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(service, "/v1/channels/http-big/messages",
        "{\"payload\": \"" + "y".repeat(1001) + "\"}");
    assertEquals(413, r.statusCode(), r.body());
    assertEquals("payload-too-large", HttpTestSupport.json(r).get("code").asText());
  }

  @Test
  void aBatchIsAcceptedWith202() throws Exception {
    HttpResponse<String> r = HttpTestSupport.post(service, "/v1/channels/http-batch/messages/batch",
        "{\"messages\": [{\"payload\": \"a\"}, {\"payload\": \"b\"}, {\"payloadBase64\": \"AAEC\"}]}");
    assertEquals(202, r.statusCode(), r.body());
    assertEquals(3, HttpTestSupport.json(r).get("accepted").asInt());
    assertEquals(3L, redis.callLong("XLEN", RedisKeys.stream("http-batch")));
  }

  @Test
  void withoutATokenItIs401() throws Exception {
    HttpResponse<String> r = HttpTestSupport.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create(service.baseUrl() + "/v1/channels/x/messages"))
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
      HttpTestSupport.post(service, "/v1/channels/http-threads/messages", "{\"payload\": \"warm\"}");
    }
    long before = threads.getTotalStartedThreadCount();
    int requests = 300;
    for (int i = 0; i < requests; i++) {
      HttpResponse<String> r = HttpTestSupport.post(service, "/v1/channels/http-threads/messages",
          "{\"payload\": \"n" + i + "\"}");
      assertEquals(202, r.statusCode(), r.body());
      assertEquals(200, HttpTestSupport.get(service, "/health/live").statusCode());
    }
    long started = threads.getTotalStartedThreadCount() - before;
    assertTrue(started < requests / 10, started + " threads started for " + 2 * requests + " requests (commonPool"
        + " parallelism " + java.util.concurrent.ForkJoinPool.getCommonPoolParallelism() + ")");
  }
}
