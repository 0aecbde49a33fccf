package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading request bodies into records: unknown fields with their paths, wrong types, empty bodies, bad JSON. */
class JsonBodiesTest {
  private static <T> JsonBodies.Parsed.Ok<T> ok(String body, JsonBodies.Spec<T> spec) {
    return assertInstanceOf(JsonBodies.Parsed.Ok.class, JsonBodies.read(ByteString.fromString(body), spec));
  }

  private static String invalid(String body, JsonBodies.Spec<?> spec) {
    JsonBodies.Parsed.Invalid<?> bad = assertInstanceOf(JsonBodies.Parsed.Invalid.class,
        JsonBodies.read(ByteString.fromString(body), spec));
    assertEquals(400, bad.response().status().intValue());
    return ((org.apache.pekko.http.javadsl.model.HttpEntity.Strict) bad.response().entity()).getData().utf8String();
  }

  @Test
  void unknownFieldsAreCollectedWithTheirPathsAndTheKnownOnes() {
    JsonBodies.Parsed.Ok<SubscriptionBody> r = ok("{\"name\": \"a\", \"channel\": \"c\", \"mode\": 1,"
        + " \"webhook\": {\"url\": \"http://h/x\", \"retries\": [1, [2, 3], {\"x\": 4}, 5]}}", SubscriptionBody.SPEC);
    List<FieldError> unknown = r.unknownFields();
    assertEquals(List.of("mode", "webhook.retries"), unknown.stream().map(FieldError::field).sorted().toList());
    FieldError retries = unknown.stream().filter(e -> e.field().equals("webhook.retries")).findFirst().orElseThrow();
    assertTrue(retries.message().contains("webhook.url"), retries.message());
    List<FieldError> inBatch = ok("{\"messages\": [{\"payload\": 1}, {\"payload\": 2, \"color\": {\"a\": 1}}]}",
        PublishBody.Batch.SPEC).unknownFields();
    assertEquals(List.of("messages[1].color"), inBatch.stream().map(FieldError::field).toList());
    assertEquals("http://h/x", r.value().webhook().url(), "the known fields after an unknown one are read");
  }

  @Test
  void aValueOfTheWrongTypeIsTheFieldErrorTheSpecGives() {
    assertTrue(invalid("{\"maxMessages\": \"ten\"}", PullBody.spec(settings())).contains("\"out-of-range\""));
    assertTrue(invalid("{\"deliveryIds\": [1]}", SettleBody.ACK).contains("\"field\":\"deliveryIds\""));
    assertTrue(invalid("{\"deliveryIds\": [\"1-0#1\"], \"doNotRetry\": \"yes\"}", SettleBody.NACK)
        .contains("\"field\":\"doNotRetry\""));
    assertTrue(invalid("{\"payload\": 1, \"headers\": {\"h\": 5}}", PublishBody.SPEC)
        .contains("\"invalid-header-value\""));
    assertTrue(invalid("[1, 2]", SubscriptionBody.SPEC).contains("\"field\":\"body\""));
    assertTrue(invalid("{\"messages\": [{\"payload\": 1}, {\"payload\": 2, \"ttl\": 30}]}", PublishBody.Batch.SPEC)
        .contains("\"field\":\"messages[1].ttl\""));
  }

  @Test
  void anEmptyBodyIsTheSpecsDefaultOrRequired() {
    assertNull(ok("", PullBody.spec(settings())).value().maxMessages());
    assertNull(ok("null", ReplayBody.SPEC).value().ttl());
    assertTrue(invalid("", SettleBody.ACK).contains("\"required\""));
  }

  @Test
  void textThatIsNotJsonIsInvalidJson() {
    String body = invalid("{\"payload\": ", PublishBody.SPEC);
    assertTrue(body.contains("\"code\":\"invalid-json\""), body);
  }

  @Test
  void aJsonNullPayloadIsKeptAsAValue() {
    PublishBody b = ok("{\"payload\": null}", PublishBody.SPEC).value();
    assertTrue(b.payload() != null && b.payload().isNull(), "payload: null is the JSON value null");
  }

  private static HttpSettings settings() {
    return HttpSettings.load(com.typesafe.config.ConfigFactory.parseString("redis-router.http.auth.enabled = false")
        .withFallback(com.typesafe.config.ConfigFactory.defaultReference()).resolve());
  }
}
