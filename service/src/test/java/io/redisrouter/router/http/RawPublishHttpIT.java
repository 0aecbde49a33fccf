package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Raw-body publish over real HTTP: any content type but JSON (or a form) publishes the body as it is, with the
 * metadata in headers; what a subscriber receives is checked byte for byte, and bad headers are a 400 naming them.
 */
class RawPublishHttpIT {
  static final Duration WAIT = Duration.ofSeconds(15);

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("raw-publish-http")
      .config("redis-router.limits.max-payload-bytes = 1000");

  /** Subscribes a probe to {@code channel} (from now on). */
  static TestProbe<Delivery> subscriber(String channel) {
    TestProbe<Delivery> sub = node.kit().createTestProbe();
    assertInstanceOf(SubscribeReply.Subscribed.class, RouterTestSupport.subscribe(node.kit(),
        node.service().runtime().router(), channel, "raw", sub.getRef()));
    return sub;
  }

  static HttpResponse<String> post(String channel, String contentType, byte[] body, String... headers)
      throws Exception {
    HttpRequest.Builder b = HttpTestSupport.request(node.service(), "/v1/channels/" + channel + "/messages")
        .POST(HttpRequest.BodyPublishers.ofByteArray(body));
    if (contentType != null) b.header("Content-Type", contentType);
    for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
    return HttpTestSupport.send(b.build());
  }

  static Envelope received(TestProbe<Delivery> sub) {
    Delivery d = sub.receiveMessage(WAIT);
    d.replyTo().tell(d.ack());
    return d.envelope();
  }

  @Test
  void theBodyIsThePayloadAndTheHeadersAreItsMetadata() throws Exception {
    TestProbe<Delivery> sub = subscriber("raw-bytes");
    byte[] bytes = {0, 1, 2, (byte) 0xff, '{', '"'}; // not JSON, not UTF-8
    Instant deadline = Instant.now().plusSeconds(120);
    HttpResponse<String> r = post("raw-bytes", "application/x-protobuf", bytes,
        "Idempotency-Key", "raw-1", "X-Router-Partition-Key", "order-42",
        "X-Router-Deadline", deadline.toString(), "X-Router-Header-trace", "t-1", "X-Router-Header-Tenant", "acme");
    assertEquals(202, r.statusCode(), r.body());
    JsonNode reply = HttpTestSupport.json(r);
    assertEquals("raw-1", reply.get("messageId").asText(), r.body());
    Envelope e = received(sub);
    assertEquals("raw-1", e.id());
    assertArrayEquals(bytes, e.payload());
    assertEquals("application/x-protobuf", e.contentType());
    assertEquals("order-42", e.partitionKey());
    assertEquals(Map.of("trace", "t-1", "Tenant", "acme"), e.headers());
    assertEquals(deadline.toEpochMilli(), e.deadline().toEpochMilli());

    // the same key again: a duplicate, not delivered twice
    HttpResponse<String> again = post("raw-bytes", "application/x-protobuf", bytes, "Idempotency-Key", "raw-1");
    assertEquals(202, again.statusCode(), again.body());
    assertTrue(HttpTestSupport.json(again).get("duplicate").asBoolean(), again.body());
    sub.expectNoMessage(Duration.ofMillis(300));
  }

  @Test
  void textIsKeptWithItsCharsetAndATtlHeaderSetsTheDeadline() throws Exception {
    TestProbe<Delivery> sub = subscriber("raw-text");
    Instant before = Instant.now();
    HttpResponse<String> r = post("raw-text", "text/plain; charset=UTF-8", "grüße {not json".getBytes(
        java.nio.charset.StandardCharsets.UTF_8), "X-Router-TTL", "45s");
    assertEquals(202, r.statusCode(), r.body());
    Envelope e = received(sub);
    assertEquals("grüße {not json", new String(e.payload(), java.nio.charset.StandardCharsets.UTF_8));
    assertEquals("text/plain; charset=UTF-8", e.contentType());
    assertNull(e.partitionKey());
    long ttlMs = e.deadline().toEpochMilli() - before.toEpochMilli();
    assertTrue(ttlMs >= 44_000 && ttlMs <= 47_000, "deadline 45 s after the publish: " + ttlMs + " ms");
  }

  @Test
  void jsonAFormAndNoContentTypeOrOctetStreamStillReadTheJsonForm() throws Exception {
    TestProbe<Delivery> sub = subscriber("raw-json");
    byte[] json = "{\"payload\": \"p\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    for (String type : new String[]{"application/json", "application/x-www-form-urlencoded", null}) {
      HttpResponse<String> r = post("raw-json", type, json);
      assertEquals(202, r.statusCode(), type + ": " + r.body());
      Envelope e = received(sub);
      assertEquals("p", new String(e.payload(), java.nio.charset.StandardCharsets.UTF_8), "with " + type);
      assertEquals("text/plain; charset=utf-8", e.contentType(), "with " + type);
    }
  }

  @Test
  void badMetadataIs400NamingTheHeader() throws Exception {
    HttpResponse<String> ttl = post("raw-bad", "text/plain", "x".getBytes(), "X-Router-TTL", "soon");
    assertEquals(400, ttl.statusCode(), ttl.body());
    assertTrue(ttl.body().contains("\"field\":\"X-Router-TTL\"") && ttl.body().contains("invalid-ttl"), ttl.body());

    HttpResponse<String> deadline = post("raw-bad", "text/plain", "x".getBytes(), "X-Router-Deadline", "tomorrow");
    assertEquals(400, deadline.statusCode(), deadline.body());
    assertTrue(deadline.body().contains("\"field\":\"X-Router-Deadline\""), deadline.body());

    HttpResponse<String> unknown = post("raw-bad", "text/plain", "x".getBytes(), "X-Router-Priority", "high");
    assertEquals(400, unknown.statusCode(), unknown.body());
    assertTrue(unknown.body().contains("\"field\":\"X-Router-Priority\"") && unknown.body().contains(
        "X-Router-Header-"), unknown.body());

    HttpResponse<String> big = post("raw-bad", "application/x-binary", new byte[1001]);
    assertEquals(413, big.statusCode(), big.body());
    assertTrue(big.body().contains("\"field\":\"body\""), big.body());

    // octet-stream is what HTTP takes a body without a type to be: read as JSON, and the error says how to go raw
    HttpResponse<String> octets = post("raw-bad", "application/octet-stream", new byte[]{0, 1, 2});
    assertEquals(400, octets.statusCode(), octets.body());
    assertTrue(octets.body().contains("invalid-json") && octets.body().contains("Content-Type naming the payload"),
        octets.body());

    HttpResponse<String> name = post("bad*name", "text/plain", "x".getBytes());
    assertEquals(400, name.statusCode(), name.body());
    assertTrue(name.body().contains("\"field\":\"channel\""), name.body());
  }
}
