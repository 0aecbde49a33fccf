package io.redisrouter.bench;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Keeps the benchmark working: a few small runs of its scenarios through the same {@link Runner}, checked for what
 * the benchmark reports (every message delivered, none twice, the connection budget). No timing is asserted.
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
}
