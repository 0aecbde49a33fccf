package io.redisrouter.router.http;

import static io.redisrouter.router.http.ConsumeHttpSupport.ackAll;
import static io.redisrouter.router.http.ConsumeHttpSupport.awaitJson;
import static io.redisrouter.router.http.ConsumeHttpSupport.createPull;
import static io.redisrouter.router.http.ConsumeHttpSupport.pull;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * "Did B get everything A sent?" over real HTTP: producer A publishes sequence numbers 1..1000 skipping ten chosen
 * ones and sending five again with new message ids, producer C publishes 1..200 complete (one by one, as raw
 * bodies with the X-Router-* headers); a pull subscription takes and acknowledges everything; the audit API lists
 * exactly the ten skipped numbers as gaps (as ranges) and the five repeats as duplicates, C with none, and
 * /metrics shows the same counts. Bad producer ids and sequences are 400s naming the field.
 */
class LossAuditHttpIT {
  private static final Logger log = LoggerFactory.getLogger(LossAuditHttpIT.class);

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("loss-audit");

  private static final String CHANNEL = "audit.orders";
  private static final String SUB = "audit-b";
  /** The skipped numbers: two runs (100-101, 500-503) and four single ones. */
  private static final Set<Long> SKIPPED = new TreeSet<>(List.of(7L, 100L, 101L, 333L, 500L, 501L, 502L, 503L,
      777L, 999L));
  private static final List<Long> REPEATED = List.of(1L, 250L, 600L, 800L, 1000L);

  private static HttpResponse<String> batch(List<ObjectNode> messages) throws Exception {
    ObjectNode body = HttpTestSupport.JSON.createObjectNode();
    ArrayNode arr = body.putArray("messages");
    messages.forEach(arr::add);
    return HttpTestSupport.post(node.service(), "/v1/channels/" + CHANNEL + "/messages/batch", body.toString());
  }

  private static ObjectNode message(String producer, long seq, String tag) {
    ObjectNode m = HttpTestSupport.JSON.createObjectNode();
    m.putObject("payload").put("seq", seq).put("tag", tag);
    m.put("producerId", producer);
    m.put("sequence", seq);
    return m;
  }

  @Test
  void theAuditNamesTheSkippedNumbersAndTheRepeats() throws Exception {
    createPull(node.service(), SUB, CHANNEL);
    int sent = 0;
    List<ObjectNode> pending = new ArrayList<>();
    for (long s = 1; s <= 1000; s++) {
      if (SKIPPED.contains(s)) continue;
      pending.add(message("A", s, "first"));
      if (REPEATED.contains(s)) pending.add(message("A", s, "again")); // a new message id: the producer's duplicate
      if (pending.size() >= 100) {
        HttpResponse<String> r = batch(pending);
        assertEquals(202, r.statusCode(), r.body());
        sent += pending.size();
        pending.clear();
      }
    }
    HttpResponse<String> last = batch(pending);
    assertEquals(202, last.statusCode(), last.body());
    sent += pending.size();
    for (long s = 1; s <= 200; s++) { // producer C, raw bodies, everything
      HttpResponse<String> r = HttpTestSupport.send(HttpTestSupport.request(node.service(), "/v1/channels/" + CHANNEL
          + "/messages").header("Content-Type", "text/plain").header("X-Router-Producer-Id", "C")
          .header("X-Router-Sequence", Long.toString(s)).POST(HttpRequest.BodyPublishers.ofString("c" + s)).build());
      assertEquals(202, r.statusCode(), r.body());
      sent++;
    }
    assertEquals(1000 - SKIPPED.size() + REPEATED.size() + 200, sent);

    int received = 0;
    long deadline = System.nanoTime() + ConsumeHttpSupport.WAIT.toNanos();
    while (received < sent) {
      assertTrue(System.nanoTime() < deadline, "received " + received + " of " + sent);
      List<JsonNode> ds = pull(node.service(), SUB, 100, 500);
      for (JsonNode d : ds) {
        assertTrue(d.path("producerId").isTextual() && d.path("sequence").isIntegralNumber(), d::toString);
      }
      ackAll(node.service(), SUB, ds);
      received += ds.size();
    }

    int total = sent;
    JsonNode audit = awaitJson(node.service(), "/v1/channels/" + CHANNEL + "/subscriptions/" + SUB + "/audit",
        j -> j.path("received").asLong() == total);
    log.info("loss audit: sent {}, received {}, audit {}", sent, received, audit);
    assertEquals(sent, audit.get("received").asLong(), audit::toString);
    assertEquals(SKIPPED.size(), audit.get("gaps").asLong(), audit::toString);
    assertEquals(REPEATED.size(), audit.get("duplicates").asLong(), audit::toString);
    assertEquals(0, audit.get("missing").asLong() + audit.get("redeliveries").asLong() + audit.get("late").asLong());
    assertEquals(2, audit.get("producerCount").asInt());
    assertEquals("node", audit.get("scope").asText());

    JsonNode a = audit.get("producers").get(0);
    assertEquals("A", a.get("producerId").asText());
    assertEquals(1, a.get("lowestSequence").asLong());
    assertEquals(1000, a.get("highestSequence").asLong());
    Set<Long> listed = new TreeSet<>();
    List<String> ranges = new ArrayList<>();
    for (JsonNode g : a.get("gapRanges")) {
      ranges.add(g.get("from").asLong() + "-" + g.get("to").asLong());
      for (long s = g.get("from").asLong(); s <= g.get("to").asLong(); s++) listed.add(s);
    }
    assertEquals(SKIPPED, listed, ranges::toString);
    assertEquals(List.of("7-7", "100-101", "333-333", "500-503", "777-777", "999-999"), ranges);
    assertEquals(REPEATED.size(), a.get("duplicates").asLong());
    JsonNode c = audit.get("producers").get(1);
    assertEquals("C", c.get("producerId").asText());
    assertEquals(200, c.get("received").asLong());
    assertEquals(0, c.get("gaps").asLong() + c.get("duplicates").asLong() + c.get("gapRanges").size(), c::toString);

    String metrics = HttpTestSupport.get(node.service(), "/metrics").body();
    assertEquals(SKIPPED.size(), metric(metrics, "redis_router_audit_gaps"), metrics);
    assertEquals(REPEATED.size(), metric(metrics, "redis_router_audit_duplicates_total"));
    assertEquals(sent, metric(metrics, "redis_router_audit_received_total"));
    assertEquals(2, metric(metrics, "redis_router_audit_producers"));
    log.info("LossAuditHttpIT: sent {}, acknowledged {}, delivered {}, lost 0 (the {} gaps are the numbers never"
        + " sent), duplicated {} (the producer's)", sent, received, received, SKIPPED.size(), REPEATED.size());
  }

  private static long metric(String text, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + "\\{channel=\"" + Pattern.quote(CHANNEL) + "\",subscription=\""
        + SUB + "\"} ([0-9.eE+]+)$").matcher(text);
    assertTrue(m.find(), () -> name + " not in /metrics");
    return (long) Double.parseDouble(m.group(1));
  }

  @Test
  void badProducerIdsAndSequencesAreNamed() throws Exception {
    String path = "/v1/channels/" + CHANNEL + "/messages";
    record Case(String body, String field, String code) {}
    for (Case k : List.of(
        new Case("{\"payload\": 1, \"producerId\": \"a b\", \"sequence\": 1}", "producerId", "invalid-producer-id"),
        new Case("{\"payload\": 1, \"producerId\": \"A\", \"sequence\": -3}", "sequence", "invalid-sequence"),
        new Case("{\"payload\": 1, \"producerId\": \"A\", \"sequence\": 1.5}", "sequence", "invalid-sequence"),
        new Case("{\"payload\": 1, \"producerId\": \"A\", \"sequence\": 99999999999999999999}", "sequence",
            "invalid-sequence"),
        new Case("{\"payload\": 1, \"producerId\": \"A\"}", "sequence", "required"),
        new Case("{\"payload\": 1, \"sequence\": 4}", "producerId", "required"))) {
      HttpResponse<String> r = HttpTestSupport.post(node.service(), path, k.body());
      assertEquals(400, r.statusCode(), r.body());
      JsonNode e = HttpTestSupport.json(r).get("errors").get(0);
      assertEquals(k.field(), e.get("field").asText(), r.body());
      assertEquals(k.code(), e.get("code").asText(), r.body());
    }
    HttpResponse<String> batch = HttpTestSupport.post(node.service(), path + "/batch",
        "{\"messages\": [{\"payload\": 1, \"producerId\": \"A\", \"sequence\": \"x\"}]}");
    assertTrue(batch.body().contains("messages[0].sequence"), batch.body());
    HttpResponse<String> raw = HttpTestSupport.send(HttpTestSupport.request(node.service(), path)
        .header("Content-Type", "text/plain").header("X-Router-Producer-Id", "A")
        .header("X-Router-Sequence", "-1").POST(HttpRequest.BodyPublishers.ofString("x")).build());
    assertEquals(400, raw.statusCode(), raw.body());
    assertEquals("X-Router-Sequence", HttpTestSupport.json(raw).get("errors").get(0).get("field").asText());
  }
}
