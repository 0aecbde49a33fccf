package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.redisrouter.protocol.PublishReply;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every reason a publish can be rejected for reaches the API: its code is one the OpenAPI document lists for a
 * publish result, and its status is one the document lists; {@code not-replicated} (a {@code replica(N)} channel
 * whose replicas did not confirm) is a 503 that keeps its retry-after.
 */
class PublishResultTest {

  private static JsonNode publishResultSchema() throws Exception {
    try (InputStream in = PublishResultTest.class.getResourceAsStream("/openapi/publish.json")) {
      return new ObjectMapper().readTree(in).at("/components/schemas/PublishResult/properties");
    }
  }

  @Test
  void everyRejectReasonHasADocumentedCodeAndStatus() throws Exception {
    JsonNode props = publishResultSchema();
    Set<String> codes = new HashSet<>();
    props.at("/code/enum").forEach(n -> codes.add(n.asText()));
    Set<Integer> statuses = new HashSet<>();
    props.at("/status/enum").forEach(n -> statuses.add(n.asInt()));
    assertTrue(codes.size() > 3 && statuses.size() > 3, props::toString);
    for (PublishReply.RejectReason reason : PublishReply.RejectReason.values()) {
      PublishResult r = PublishResult.of(new PublishReply.Rejected("m-1", reason, "why", List.of(),
          Duration.ofSeconds(1)));
      assertTrue(codes.contains(r.code()), reason + ": code " + r.code() + " is not in the document's " + codes);
      assertTrue(statuses.contains(r.status()), reason + ": status " + r.status() + " not in " + statuses);
    }
  }

  @Test
  void notReplicatedIsA503WithItsRetryAfter() {
    PublishResult r = PublishResult.of(new PublishReply.Rejected("m-1", PublishReply.RejectReason.NOT_REPLICATED,
        "confirmed on 0 of 1 replicas within 500 ms", List.of(), Duration.ofMillis(1500)));
    assertEquals(503, r.status());
    assertEquals("not-replicated", r.code());
    assertEquals(1500L, r.retryAfterMs());
  }
}
