package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static io.redisrouter.router.http.ConsumeHttpSupport.ack;
import static io.redisrouter.router.http.ConsumeHttpSupport.await;
import static io.redisrouter.router.http.ConsumeHttpSupport.awaitJson;
import static io.redisrouter.router.http.ConsumeHttpSupport.awaitNothingPending;
import static io.redisrouter.router.http.ConsumeHttpSupport.createPull;
import static io.redisrouter.router.http.ConsumeHttpSupport.messageId;
import static io.redisrouter.router.http.ConsumeHttpSupport.publish;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Server-sent events of pull subscriptions over real HTTP (server on port 0, own Redis): events with increasing ids
 * and the delivery JSON, acked over POST; heartbeats on an idle stream; resuming with Last-Event-ID.
 */
class EventsHttpIT {
  /** HTTP/1.1: every stream has its own connection, and closing the stream closes it. */
  static final HttpClient SSE_CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  /** The node's ack timeout: a delivery left unacked is delivered again after this, rightly. */
  static final Duration ACK_TIMEOUT = Duration.ofSeconds(30);
  /** The heartbeat interval of the node's event streams. */
  static final Duration HEARTBEAT = Duration.ofMillis(200);
  /**
   * How long a "nothing more arrives" check watches a stream: a wrong extra event (a delivery sent to both streams, an
   * event before Last-Event-ID sent again) would be sent with the right ones, within milliseconds; well inside
   * {@link #ACK_TIMEOUT}, after which an unacked delivery would rightly come again.
   */
  static final Duration QUIET = Duration.ofSeconds(1);

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("events-http")
      .config("redis-router.http.sse-heartbeat = " + HEARTBEAT.toMillis() + "ms\n"
      // long ack timeouts: what the tests see again comes from the resume, not from the core's redelivery
          + "redis-router.channels.defaults.ack-timeout = " + ACK_TIMEOUT.toSeconds() + "s\n"
          // more in flight than a stream's buffer (64): the gateway holds a backlog the stream must drain
          + "redis-router.channels.overrides { \"ev-burst\" { max-in-flight = 1000 } }\n");

  /** One server-sent event; a heartbeat has neither data nor id (an empty line, or a comment line). */
  record Event(String id, String type, String data, List<String> comments) {
    boolean isHeartbeat() {
      return id == null && (data == null || data.isEmpty());
    }

    JsonNode json() {
      try {
        return HttpTestSupport.JSON.readTree(data);
      } catch (IOException e) {
        throw new AssertionError("event data is not JSON: " + data, e);
      }
    }
  }

  /** A server-sent-event stream read on its own thread. */
  static final class Sse implements AutoCloseable {
    final HttpResponse<InputStream> response;
    final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    final AtomicInteger heartbeats = new AtomicInteger();
    /** When each heartbeat was read ({@link System#nanoTime()}). */
    final List<Long> heartbeatNanos = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** How the stream ended: "eof" (the server ended it), "error: ..." (cut), or null while open. */
    final AtomicReference<String> ended = new AtomicReference<>();
    final Thread reader;

    Sse(String subscription, String lastEventId) throws Exception {
      this(node.service(), subscription, lastEventId);
    }

    Sse(RouterService target, String subscription, String lastEventId) throws Exception {
      HttpRequest.Builder b = HttpTestSupport.request(target, "/v1/subscriptions/" + subscription + "/events")
          .timeout(Duration.ofSeconds(60)).header("Accept", "text/event-stream").GET();
      if (lastEventId != null) b.header("Last-Event-ID", lastEventId);
      response = SSE_CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
      reader = new Thread(this::read, "sse-" + subscription);
      reader.setDaemon(true);
      if (response.statusCode() == 200) reader.start();
    }

    private void read() {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
        String id = null;
        String type = null;
        StringBuilder data = null;
        List<String> comments = new ArrayList<>();
        String line;
        while ((line = in.readLine()) != null) {
          if (line.isEmpty()) { // dispatch
            Event e = new Event(id, type, data == null ? null : data.toString(), List.copyOf(comments));
            if (e.isHeartbeat()) {
              heartbeatNanos.add(System.nanoTime());
              heartbeats.incrementAndGet();
            } else
              events.add(e);
            id = null;
            type = null;
            data = null;
            comments.clear();
          } else if (line.startsWith(":")) {
            comments.add(line);
          } else if (line.startsWith("data:")) {
            String v = value(line, 5);
            if (data == null) data = new StringBuilder(v);
            else
              data.append('\n').append(v);
          } else if (line.startsWith("id:")) {
            id = value(line, 3);
          } else if (line.startsWith("event:")) {
            type = value(line, 6);
          }
        }
        ended.set("eof");
      } catch (IOException e) {
        ended.set("error: " + e); // or closed by the test
      }
    }

    private static String value(String line, int from) {
      String v = line.substring(from);
      return v.startsWith(" ") ? v.substring(1) : v;
    }

    /** The next {@code n} message events. */
    List<Event> take(int n) throws InterruptedException {
      List<Event> out = new ArrayList<>();
      long deadline = System.nanoTime() + ConsumeHttpSupport.WAIT.toNanos();
      while (out.size() < n) {
        Event e = events.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (e == null)
          throw new AssertionError("only " + out.size() + " of " + n + " events within "
              + ConsumeHttpSupport.WAIT + ": " + out);
        out.add(e);
      }
      return out;
    }

    /** Fails if a message event arrives within {@code window}. */
    void assertNothingMoreWithin(Duration window, String what) throws InterruptedException {
      Event extra = events.poll(window.toMillis(), TimeUnit.MILLISECONDS);
      assertTrue(extra == null, what + " (watched for " + window + "): " + extra);
    }

    @Override
    public void close() throws Exception {
      response.body().close();
      reader.join(TimeUnit.SECONDS.toMillis(5));
    }
  }

  static List<String> deliveryIds(List<Event> events) {
    return events.stream().map(e -> e.json().get("deliveryId").asText()).toList();
  }

  static void assertIncreasingIds(List<Event> events, long after) {
    long prev = after;
    for (Event e : events) {
      assertEquals("message", e.type(), e.toString());
      assertNotNull(e.id(), e.toString());
      long id = Long.parseLong(e.id());
      assertTrue(id > prev, "event ids increase: " + events);
      prev = id;
    }
  }

  @Test
  void eventsCarryIncreasingIdsAndTheDeliveryAndAreAckedOverPost() throws Exception {
    String ch = "ev-basic";
    createPull(node.service(), "ev-basic", ch);
    MessageChecker checker = new MessageChecker();
    try (Sse sse = new Sse("ev-basic", null)) {
      assertEquals(200, sse.response.statusCode());
      assertTrue(sse.response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"),
          sse.response.headers().toString());
      java.time.Instant beforePublish = java.time.Instant.now();
      Set<String> published = new HashSet<>(publish(node.service(), ch, 30, "sse", checker));
      List<Event> events = sse.take(30);
      java.time.Instant received = java.time.Instant.now();
      assertIncreasingIds(events, 0);
      Set<String> seen = new HashSet<>();
      for (Event e : events) {
        JsonNode d = e.json();
        checker.delivered(messageId(d));
        seen.add(messageId(d));
        assertEquals("ev-basic", d.get("subscription").asText(), d.toString());
        assertEquals(1, d.get("attempt").asInt(), d.toString());
        assertTrue(d.get("deliveryId").asText().endsWith("#1"), d.toString());
        assertTrue(d.hasNonNull("ackDeadline") && d.get("payload").has("n"), d.toString());
        // the ack deadline is the ack timeout from when the router read it: bounded on both sides
        java.time.Instant ackDeadline = java.time.Instant.parse(d.get("ackDeadline").asText());
        assertFalse(ackDeadline.isBefore(beforePublish.plus(ACK_TIMEOUT).minusMillis(50)),
            "ack deadline not before publish + " + ACK_TIMEOUT + " (" + beforePublish + "): " + d);
        assertFalse(ackDeadline.isAfter(received.plus(ACK_TIMEOUT).plusMillis(50)),
            "ack deadline not after receipt + " + ACK_TIMEOUT + " (" + received + "): " + d);
      }
      assertEquals(published, seen);
      JsonNode acked = ack(node.service(), "ev-basic", deliveryIds(events));
      assertEquals(30, acked.get("acked").asInt(), acked.toString());
      assertEquals(0, acked.get("unknown").size(), acked.toString());
    }
    awaitJson(node.service(), "/v1/subscriptions/ev-basic", b -> b.get("stats").get("pending").asLong() == 0
        && ConsumeHttpSupport.isZero(b.get("stats").get("lag")));
    MessageChecker.Report r = ConsumeHttpSupport.report(checker,
        "eventsCarryIncreasingIdsAndTheDeliveryAndAreAckedOverPost");
    assertEquals(0, r.duplicated());
  }

  /**
   * A burst larger than the stream's buffer flows at the stream's pace: the gateway, finding the stream's queue full,
   * is told when it drained to half and offers more at once, instead of waiting for its 200 ms housekeeping tick or
   * the next arrival (without the signal the 2,000 took 4.2 s after the last publish; with it 0.5 s).
   */
  @Test
  void aBurstLargerThanTheStreamBufferFlowsAtTheStreamsPace() throws Exception {
    int n = 2_000;
    createPull(node.service(), "ev-burst", "ev-burst");
    MessageChecker checker = new MessageChecker();
    try (Sse sse = new Sse("ev-burst", null)) {
      assertEquals(200, sse.response.statusCode());
      com.fasterxml.jackson.databind.node.ObjectNode body = HttpTestSupport.JSON.createObjectNode();
      com.fasterxml.jackson.databind.node.ArrayNode messages = body.putArray("messages");
      for (int i = 0; i < 1_000; i++) messages.addObject().putObject("payload").put("i", i);
      for (int b = 0; b < n / 1_000; b++) {
        HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/channels/ev-burst/messages/batch",
            body.toString());
        assertEquals(202, r.statusCode(), r.body());
        for (JsonNode res : HttpTestSupport.json(r).get("results")) checker.sent(res.get("messageId").asText());
        for (JsonNode res : HttpTestSupport.json(r).get("results")) checker.accepted(res.get("messageId").asText());
      }
      long published = System.nanoTime();
      List<String> batch = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Event e = sse.take(1).get(0);
        checker.delivered(messageId(e.json()));
        batch.add(e.json().get("deliveryId").asText());
        if (batch.size() == 200) {
          ack(node.service(), "ev-burst", batch);
          batch.clear();
        }
      }
      long tookMs = (System.nanoTime() - published) / 1_000_000;
      if (!batch.isEmpty()) ack(node.service(), "ev-burst", batch);
      System.out.printf("burst of %d over one stream: all received %d ms after the last publish%n", n, tookMs);
      assertTrue(tookMs < 2_500, n + " events took " + tookMs + " ms after the last publish");
    }
    awaitNothingPending(node.service(), "ev-burst");
    MessageChecker.Report r = ConsumeHttpSupport.report(checker,
        "aBurstLargerThanTheStreamBufferFlowsAtTheStreamsPace");
    assertEquals(0, r.lost());
    assertEquals(0, r.duplicated());
  }

  @Test
  void anIdleStreamGetsHeartbeats() throws Exception {
    createPull(node.service(), "ev-idle", "ev-idle");
    long opened = System.nanoTime(); // before the request: the heartbeats can only come later
    try (Sse sse = new Sse("ev-idle", null)) {
      assertEquals(200, sse.response.statusCode());
      await("heartbeats on an idle stream (every " + HEARTBEAT.toMillis() + " ms)", sse.heartbeats::get,
          n -> n >= 3);
      // every 200 ms, bounded on both sides: the 3rd not before 3 intervals (less 50 ms of timer slack), and not
      // later than 3 s (a heartbeat every second or rarer fails)
      long third = TimeUnit.NANOSECONDS.toMillis(sse.heartbeatNanos.get(2) - opened);
      assertTrue(third >= 3 * HEARTBEAT.toMillis() - 50, "3rd heartbeat after " + third + " ms: too early");
      assertTrue(third <= 3000, "3rd heartbeat after " + third + " ms: too late");
      assertTrue(sse.events.isEmpty(), "no message events while heartbeats came (" + third + " ms): "
          + sse.events);
    }
  }

  @Test
  void twoStreamsShareTheDeliveries() throws Exception {
    String ch = "ev-shared";
    createPull(node.service(), "ev-shared", ch);
    MessageChecker checker = new MessageChecker();
    try (Sse a = new Sse("ev-shared", null); Sse b = new Sse("ev-shared", null)) {
      Set<String> published = new HashSet<>(publish(node.service(), ch, 20, "shared", checker));
      List<String> seen = new ArrayList<>();
      List<Event> all = new ArrayList<>();
      int[] perStream = new int[2];
      await("20 events over both streams", () -> {
        perStream[0] += a.events.drainTo(all);
        perStream[1] += b.events.drainTo(all);
        return all.size();
      }, n -> n >= 20);
      // and nothing more on either stream: a delivery sent to both would have come with the first copy
      a.assertNothingMoreWithin(QUIET, "no more events on stream a");
      b.assertNothingMoreWithin(Duration.ZERO, "no more events on stream b");
      // shared: each stream got a part (round robin), neither all of them
      assertTrue(perStream[0] >= 1 && perStream[1] >= 1, "per stream: " + perStream[0] + " / " + perStream[1]);
      for (Event e : all) {
        checker.delivered(messageId(e.json()));
        seen.add(messageId(e.json()));
      }
      assertEquals(20, seen.size(), "each delivery went to one stream only: " + seen);
      assertEquals(published, new HashSet<>(seen));
      JsonNode acked = ack(node.service(), "ev-shared", deliveryIds(all));
      assertEquals(20, acked.get("acked").asInt(), acked.toString());
    }
    awaitNothingPending(node.service(), "ev-shared");
    ConsumeHttpSupport.report(checker, "twoStreamsShareTheDeliveries");
  }

  @Test
  void aResumedStreamGetsTheUnackedEventsAfterLastEventIdAgain() throws Exception {
    String ch = "ev-resume";
    createPull(node.service(), "ev-resume", ch);
    MessageChecker checker = new MessageChecker();
    List<Event> first;
    try (Sse sse = new Sse("ev-resume", null)) {
      publish(node.service(), ch, 10, "resume", checker);
      first = sse.take(10);
      assertIncreasingIds(first, 0);
      first.forEach(e -> checker.delivered(messageId(e.json())));
      // the client processed the first three and acked them, then lost the connection
      JsonNode acked = ack(node.service(), "ev-resume", deliveryIds(first.subList(0, 3)));
      assertEquals(3, acked.get("acked").asInt(), acked.toString());
    }
    // it had seen up to the 5th event when the connection broke
    Event lastSeen = first.get(4);
    try (Sse resumed = new Sse("ev-resume", lastSeen.id())) {
      assertEquals(200, resumed.response.statusCode());
      List<Event> again = resumed.take(5);
      assertIncreasingIds(again, Long.parseLong(first.get(9).id()));
      assertEquals(deliveryIds(first.subList(5, 10)), deliveryIds(again),
          "the unacked deliveries after event " + lastSeen.id() + " again, in order, with new event ids");
      again.forEach(e -> checker.delivered(messageId(e.json())));
      // the 4th and 5th are not among them (they would have come first: the resent ones keep their order), nor
      // after them: watched for QUIET, well inside the 30 s ack timeout after which they would rightly come again
      resumed.assertNothingMoreWithin(QUIET, "nothing else is sent again");

      // everything acked: the resent ones and the 4th and 5th (still unanswered)
      List<String> rest = new ArrayList<>(deliveryIds(again));
      rest.addAll(deliveryIds(first.subList(3, 5)));
      JsonNode acked = ack(node.service(), "ev-resume", rest);
      assertEquals(7, acked.get("acked").asInt(), acked.toString());
      assertEquals(0, acked.get("unknown").size(), acked.toString());
    }
    awaitNothingPending(node.service(), "ev-resume");
    MessageChecker.Report r = ConsumeHttpSupport.report(checker,
        "aResumedStreamGetsTheUnackedEventsAfterLastEventIdAgain");
    assertEquals(10, r.delivered());
    assertEquals(5, r.duplicated(), "exactly the five resent events are seen twice");
  }

  @Test
  void openStreamsEndCleanlyWhenTheRouterStops() throws Exception {
    String ch = "ev-stop";
    MessageChecker checker = new MessageChecker();
    RouterService other = HttpTestSupport.start("events-http-stop", node.redis(),
        "redis-router.http.sse-heartbeat = 200ms");
    boolean stopped = false;
    try {
      createPull(other, "ev-stop", ch);
      try (Sse sse = new Sse(other, "ev-stop", null)) {
        String id = publish(other, ch, 1, "stop", checker).get(0);
        Event e = sse.take(1).get(0);
        assertEquals(id, messageId(e.json()));
        checker.delivered(id);
        ack(other, "ev-stop", deliveryIds(List.of(e)));
        awaitNothingPending(other, "ev-stop");

        other.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
        stopped = true;
        String how = await("the stream ended", sse.ended::get, h -> h != null);
        assertEquals("eof", how, "the router ends its event streams on shutdown (clients reconnect elsewhere)");
      }
    } finally {
      if (!stopped) other.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    ConsumeHttpSupport.report(checker, "openStreamsEndCleanlyWhenTheRouterStops");
  }

  @Test
  void aBadLastEventIdOrAnUnknownSubscriptionIsRefused() throws Exception {
    createPull(node.service(), "ev-bad", "ev-bad");
    HttpResponse<String> bad = HttpTestSupport.send(HttpTestSupport.request(node.service(),
        "/v1/subscriptions/ev-bad/events").header("Last-Event-ID", "yesterday").GET().build());
    assertEquals(400, bad.statusCode(), bad.body());
    assertEquals("Last-Event-ID", HttpTestSupport.json(bad).get("errors").get(0).get("field").asText());
    HttpResponse<String> missing = HttpTestSupport.get(node.service(), "/v1/subscriptions/ev-nope/events");
    assertEquals(404, missing.statusCode(), missing.body());
    HttpResponse<String> noToken = HttpTestSupport.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create(node.service().baseUrl() + "/v1/subscriptions/ev-bad/events")).GET().build());
    assertEquals(401, noToken.statusCode(), noToken.body());
    assertFalse(bad.body().isBlank());
  }
}
