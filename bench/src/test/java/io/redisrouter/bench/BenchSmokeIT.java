package io.redisrouter.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Keeps the benchmark working: a few small runs of its scenarios through the same {@link Runner}, checked for what
 * the benchmark reports (every message delivered, none twice, the connection budget). The peer brokers' rows
 * (RabbitMQ, NATS JetStream) run in quick mode where their servers answer, and must say they were skipped where they
 * do not. No timing is asserted.
 */
class BenchSmokeIT {
  static BenchRedis redis;

  @BeforeAll
  static void start() {
    redis = new BenchRedis(null);
  }

  @AfterAll
  static void stop() {
    if (redis != null) redis.close();
  }

  @Test
  void ceilingDeliversEveryMessage() throws Exception {
    RunResult r = Runner.run(LettuceStreams::new, redis, 2_000, 256, 0, 5_000);
    assertEquals(2_000, r.delivered(), r.toString());
    assertEquals(0, r.duplicates());
    assertEquals(3, r.maxConnections(), "producer, reader, acker");
  }

  @Test
  void routerDeliversEveryMessageWithinItsConnectionBudgetAtAFixedRate() throws Exception {
    RunResult r = Runner.run(() -> new RouterEmbedded(false, false), redis, 2_000, 4096, 2_000, 5_000);
    assertFalse(r.timedOut(), r.toString());
    assertEquals(2_000, r.delivered());
    assertEquals(0, r.lost());
    assertTrue(r.maxConnections() <= 3, "router connections: " + r.maxConnections());
    assertTrue(r.latencyMicros().getTotalCount() == 2_000, "a latency per message");
  }

  @Test
  void routerLosesNothingWhenItsSubscriberCrashesMidway() throws Exception {
    RouterEmbedded[] node = new RouterEmbedded[1];
    RunResult r = Runner.run(() -> node[0] = new RouterEmbedded(false, true), redis, 4_000, 256, 4_000, 8_000);
    // the crash happened: the subscriber died holding a delivery, and what it left was delivered again
    assertTrue(node[0].lostWithCrash() >= 1, "deliveries the crashed subscriber took with it: "
        + node[0].lostWithCrash());
    assertTrue(node[0].redelivered() >= 1, "redelivered after the crash: " + node[0].redelivered());
    assertEquals(0, r.lost(), r.toString());
    assertEquals(4_000, r.delivered());
  }

  @Test
  void serverSentEventsDeliverEveryMessageOnce() throws Exception {
    redis.flushAll(); // the HTTP rows' subscription is named "bench" in every run: the bench flushes between runs
    // at a fixed rate: a burst of all 2,000 at once can leave deliveries in the router's pull gateway until their ack
    // timeout (2 s in the bench) passes, and those come again (see RESULTS.md); a steady flow shows every one once
    RunResult r = Runner.run(() -> new RouterHttp(RouterHttp.Mode.EVENTS), redis, 2_000, 256, 1_000, 5_000);
    assertFalse(r.timedOut(), r.toString());
    assertEquals(2_000, r.delivered(), r.toString());
    assertEquals(0, r.lost());
    assertEquals(0, r.duplicates());
    assertEquals(2_000, r.latencyMicros().getTotalCount(), "a latency per message");
  }

  @Test
  void theReportHasARowPerScenarioAndTheRatios() throws Exception {
    RunResult ceiling = Runner.run(LettuceStreams::new, redis, 1_000, 256, 0, 5_000);
    RunResult router = Runner.run(() -> new RouterEmbedded(false, false), redis, 1_000, 256, 0, 5_000);
    BenchMain.Def c = new BenchMain.Def("ceiling", "ceiling", "at-least-once", 1_000, LettuceStreams::new);
    BenchMain.Def rt = new BenchMain.Def("router", "router", "at-least-once", 1_000, () -> null);
    java.util.List<BenchMain.Row> rows = java.util.List.of(
        new BenchMain.Row(c, 256, "p", ceiling.rate(), ceiling.rate(), ceiling.rate(), ceiling, 1, 3, 0, 0, 0),
        new BenchMain.Row(rt, 256, "p", router.rate(), router.rate(), router.rate(), router, 1, 3, 0, 0, 0));
    String md = Report.markdown(rows, java.util.List.of(), java.util.List.of(), java.util.List.of(), "7", 1, 0.1,
        true);
    assertTrue(md.contains("| ceiling |") && md.contains("| router |"), md);
    assertTrue(md.contains("| 256 B | p | ceiling | " + Report.ratio(router.rate(), ceiling.rate())), md);
  }
  static Stream<String> peerScenarios() {
    return BenchMain.SCENARIOS.stream().filter(d -> d.peer() != null).map(BenchMain.Def::id);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("peerScenarios")
  void aPeerRowDeliversEveryMessageOrSaysItsServerDidNotAnswer(String id) throws Exception {
    BenchMain.Def d = BenchMain.SCENARIOS.stream().filter(s -> s.id().equals(id)).findFirst().orElseThrow();
    // as the bench's --quick mode measures it: one run of 10% of the messages, then the latency run
    BenchMain.Row row = BenchMain.measure(redis, d, 256, "no persistence", 1, 0.1);
    PeerAddress address = d.peer().address();
    if (row.skipped() != null) {
      assertTrue(row.skipped().contains(" at " + address + " "), row.skipped());
      // skipped only where the server is absent, or (NATS) runs without JetStream
      assertTrue(!answersTcp(address) || row.skipped().contains("JetStream is not enabled"),
          address + " answers TCP, yet the row was skipped: " + row.skipped());
      return;
    }
    assertEquals(0, row.lost(), id + ": " + row);
    assertTrue(row.median() > 0, id + " throughput: " + row.median());
    assertFalse(row.latency().timedOut(), row.latency().toString());
    assertEquals(row.latency().messages(), row.latency().latencyMicros().getTotalCount(), "a latency per message");
    assertEquals(0, row.connections(), "a broker, not Redis: no connection to the bench's redis-server");
  }

  @Test
  void aPeerWhoseServerDoesNotAnswerIsSkippedSayingSoInTheTableAndTheJson() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort(); // closed again: nothing listens there
    }
    PeerAddress nowhere = new PeerAddress("127.0.0.1", port);
    BenchMain.Def rabbit = new BenchMain.Def("rabbitmq-classic", "RabbitMQ here", "at-least-once", 1_000, () -> {
      throw new AssertionError("a peer that did not answer is not run");
    }, new BenchMain.Peer("RabbitMQ", nowhere, RabbitMqQueue::unavailable));
    BenchMain.Def nats = new BenchMain.Def("jetstream-file", "JetStream here", "at-least-once", 1_000, () -> {
      throw new AssertionError("a peer that did not answer is not run");
    }, new BenchMain.Peer("NATS JetStream", nowhere, NatsJetStream::unavailable));
    BenchMain.Row r = BenchMain.measure(redis, rabbit, 256, "p", 1, 0.1);
    BenchMain.Row n = BenchMain.measure(redis, nats, 256, "p", 1, 0.1);
    assertNotNull(r.skipped(), r.toString());
    assertTrue(r.skipped().startsWith("RabbitMQ at 127.0.0.1:" + port + " did not answer ("), r.skipped());
    assertNotNull(n.skipped(), n.toString());
    assertTrue(n.skipped().startsWith("NATS at 127.0.0.1:" + port + " did not answer ("), n.skipped());

    RunResult measured = new RunResult(1_000, 0.5, new Histogram(3), 1, 0, 1_000, 0, 0, false);
    BenchMain.Def rt = new BenchMain.Def("router", "router", "at-least-once", 1_000, () -> null);
    List<BenchMain.Row> rows = List.of(new BenchMain.Row(rt, 256, "p", 2_000, 2_000, 2_000, measured, 1, 1, 0, 0,
        0), r, n);
    String md = Report.markdown(rows, List.of(), List.of(), List.of(), "7", 1, 0.1, true);
    assertTrue(md.contains("| RabbitMQ here | at-least-once | 256 B | p | skipped: " + r.skipped() + " |"), md);
    assertTrue(md.contains("| JetStream here | at-least-once | 256 B | p | skipped: " + n.skipped() + " |"), md);
    assertFalse(md.contains("| 256 B | p | RabbitMQ here |"), "no ratio to a skipped row: " + md);

    JsonNode json = new ObjectMapper().readTree(BenchMain.json(rows, List.of(), List.of(), "7", true));
    JsonNode skipped = json.get("scenarios").get(1);
    assertEquals("rabbitmq-classic", skipped.get("id").asText());
    assertEquals(r.skipped(), skipped.get("skipped").asText());
    assertNull(skipped.get("medianMsgPerSec"), "no figures for a skipped row: " + skipped);
    assertEquals(Math.round(rows.get(0).median()), json.get("scenarios").get(0).get("medianMsgPerSec").asLong());
    assertNull(json.get("scenarios").get(0).get("skipped"));
  }

  private static boolean answersTcp(PeerAddress address) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(address.host(), address.port()), 2_000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
