package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Readiness tells the truth about the publish ingress: once its stream is gone, the node is not ready. */
class ReadinessIT {
  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("readiness");

  @Test
  void aNodeWhoseIngressStoppedIsNotReadyAndSaysWhy() throws Exception {
    HttpResponse<String> before = HttpTestSupport.get(node.service(), "/health/ready");
    assertEquals(200, before.statusCode(), before.body());
    assertEquals("running", HttpTestSupport.json(before).get("ingress").asText());

    // the fault: the ingress stream ends (here the way shutdown ends it) while the node goes on serving HTTP
    node.service().runtime().drainPublishes().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertFalse(node.service().runtime().ingressRunning(), "the ingress stream ended");

    HttpResponse<String> after = HttpTestSupport.get(node.service(), "/health/ready");
    assertEquals(503, after.statusCode(), after.body());
    JsonNode body = HttpTestSupport.json(after);
    assertEquals("not-ready", body.get("status").asText());
    assertTrue(body.get("ingress").asText().startsWith("stopped: "), body.toString());
    assertEquals("up", body.get("redis").get("default").asText(), "not ready for the ingress alone");
    HttpResponse<String> publish = HttpTestSupport.post(node.service(), "/v1/channels/ready.ch/messages",
        "{\"payload\": \"x\"}");
    assertEquals(503, publish.statusCode(), publish.body());
  }
}
