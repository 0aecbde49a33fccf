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
  void anEndToEndRowIsMeasuredAtEveryLoadInQuickMode() throws Exception {
    redis.flushAll(); // as the bench does before each row
    BenchMain.Def d = BenchMain.SCENARIOS.stream().filter(s -> s.id().equals("http-events")).findFirst()
        .orElseThrow();
    // as --quick measures it: one throughput run of 10% of the messages, then the latency runs
    BenchMain.Row row = BenchMain.measure(redis, d, 256, "no persistence", 1, 0.1);
    assertNull(row.skipped());
    assertEquals(BenchMain.LOADS, row.levels().stream().map(BenchMain.Level::load).toList());
    for (BenchMain.Level l : row.levels()) {
      assertEquals(Math.max(100, row.median() * l.load()), l.offered(), 1e-9, "offered at the level's load");
      assertEquals(0, l.result().lost(), l.toString());
      assertEquals(0, l.result().duplicates(), l.toString());
      assertEquals(l.result().messages(), l.result().latencyMicros().getTotalCount(), "a latency per message");
    }
    assertEquals(0, row.lost(), row.toString()); // duplicates of the throughput run (a burst) are counted, allowed
    assertEquals(row.level(BenchMain.HALF_LOAD).result(), row.latency(), "the main table's latency: the 50% run");
  }

  @Test
  void theReportHasTheLatencyByLoadOfTheEndToEndRows() throws Exception {
    BenchMain.Def c = new BenchMain.Def("ceiling", "ceiling", "at-least-once", 1_000, () -> null);
    BenchMain.Def ev = new BenchMain.Def("http-events", "events", "at-least-once", 1_000, () -> null);
    BenchMain.Def other = new BenchMain.Def("naive", "naive", "at-most-once", 1_000, () -> null);
    BenchMain.Row ceiling = rowAtLoads(c, 40_000, 1);
    BenchMain.Row events = rowAtLoads(ev, 10_000, 7);
    BenchMain.Row naive = new BenchMain.Row(other, 256, "p", 5_000, 5_000, 5_000, run(3), 2_500, 17, 0, 0, 0);
    List<BenchMain.Row> rows = List.of(ceiling, events, naive);
    String md = Report.markdown(rows, List.of(), List.of(), List.of(), "7", 1, 0.1, true);

    assertTrue(md.contains("End-to-end latency (publish to delivery) by load"), md);
    StringBuilder expected = new StringBuilder(String.format(java.util.Locale.ROOT, "| events | 256 B | p | %,.0f |",
        events.median()));
    for (BenchMain.Level l : events.levels()) {
      expected.append(String.format(java.util.Locale.ROOT, " %.2f / %.2f / %.2f (at %,.0f/s) |", l.result().p(50),
          l.result().p(99), l.result().p(99.9), l.offered()));
    }
    expected.append(' ').append(Report.ratio(events.level(0.5).result().p(99), ceiling.level(0.5).result().p(99)))
        .append(" |");
    assertTrue(md.contains(expected), "expected " + expected + " in\n" + md);
    assertTrue(md.contains("| ceiling | 256 B | p | " + String.format(java.util.Locale.ROOT, "%,.0f",
        ceiling.median()) + " |"), md);
    String byLoad = md.substring(md.indexOf("End-to-end latency (publish to delivery) by load"));
    assertFalse(byLoad.contains("| naive |"), "a row outside the end-to-end list has no by-load line: " + md);

    JsonNode json = new ObjectMapper().readTree(BenchMain.json(rows, List.of(), List.of(), "7", true));
    JsonNode levels = json.get("scenarios").get(1).get("latency");
    assertEquals(BenchMain.LOADS.size(), levels.size(), levels.toString());
    for (int i = 0; i < levels.size(); i++) {
      BenchMain.Level l = events.levels().get(i);
      assertEquals(l.load(), levels.get(i).get("load").asDouble());
      assertEquals(Math.round(l.offered()), levels.get(i).get("offered").asLong());
      assertEquals(l.result().p(99), levels.get(i).get("p99").asDouble());
      assertEquals(l.result().p(99.9), levels.get(i).get("p999").asDouble());
    }
  }

  /** A row with a latency run at each of the bench's loads, each run's latencies growing with the load. */
  private static BenchMain.Row rowAtLoads(BenchMain.Def d, double median, int spread) {
    List<BenchMain.Level> levels = new java.util.ArrayList<>();
    for (double load : BenchMain.LOADS) {
      levels.add(new BenchMain.Level(load, median * load, run((int) Math.round(spread * load * 10))));
    }
    BenchMain.Level half = levels.get(BenchMain.LOADS.indexOf(BenchMain.HALF_LOAD));
    return new BenchMain.Row(d, 256, "p", median, median, median, half.result(), half.offered(), 1, 0, 0, 0, null,
        levels);
  }

  /** A run of 1,000 messages whose latencies are 1..1,000 times {@code step} microseconds. */
  private static RunResult run(int step) {
    Histogram h = new Histogram(3_600_000_000L, 3);
    for (int i = 1; i <= 1_000; i++) h.recordValue((long) i * step);
    return new RunResult(1_000, 1, h, 1, 0, 1_000, 0, 0, false);
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
