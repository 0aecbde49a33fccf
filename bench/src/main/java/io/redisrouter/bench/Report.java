package io.redisrouter.bench;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The Markdown report of a benchmark run. */
final class Report {
  private Report() {}

  static String markdown(List<BenchMain.Row> rows, List<BenchMain.Def> restartDefs, List<RunResult> restarts,
      List<ConnectionScaling.Point> scaling, String redisVersion, int runs, double minutes,
      boolean quick) {
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "Machine: %d cores, Java %s, redis-server %s on the same host; %d run(s)"
        + " per figure%s; %.1f minutes.%n%n", Runtime.getRuntime().availableProcessors(),
        System.getProperty("java.version"), redisVersion, runs, quick ? " (--quick: 10% of the messages)" : "",
        minutes));
    b.append("| scenario | semantics | payload | pass | msg/s median (min-max) | x ceiling | p50 / p99 / p99.9 ms"
        + " at 50% load | Redis conns | peak heap MB | lost | dup |\n");
    b.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (BenchMain.Row r : rows) {
      if (r.skipped() != null) {
        b.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | skipped: %s | - | - | - | - | - | - |%n",
            r.def().label(), r.def().semantics(), size(r.size()), r.pass(), r.skipped()));
        continue;
      }
      Map<String, BenchMain.Row> same = BenchMain.byId(rows, r.size(), r.pass());
      BenchMain.Row ceiling = same.get("ceiling");
      b.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %,.0f (%,.0f-%,.0f) | %s | %.2f / %.2f / %.2f"
          + " (at %,.0f/s) | %d | %d | %d | %d |%n", r.def().label(), r.def().semantics(), size(r.size()),
          r.pass(), r.median(), r.min(), r.max(), ceiling == null ? "-" : ratio(r.median(), ceiling.median()),
          r.latency().p(50), r.latency().p(99), r.latency().p(99.9), r.offered(), r.connections(),
          r.peakHeap() / (1024 * 1024), r.lost(), r.duplicates()));
    }
    List<BenchMain.Peer> peers = rows.stream().map(r -> r.def().peer()).filter(p -> p != null).distinct().toList();
    if (!peers.isEmpty()) {
      b.append("\nThe ").append(String.join(" and ", peers.stream().map(p -> p.broker() + " (" + p.address() + ")")
          .toList())).append(" rows are measured on those brokers on this host, not on the bench's redis-server"
              + " (Redis conns 0; the pass is the Redis pass they ran beside), each after a warm-up run that is not"
              + " counted; a broker that did not answer has its rows skipped.\n");
    }
    b.append("\nRatios of the embedded router (reliable) to each peer, same payload and pass (throughput;"
        + " p99 at 50% load, lower is better):\n\n");
    b.append("| payload | pass | vs | throughput ratio | p99 ratio |\n|---|---|---|---|---|\n");
    for (BenchMain.Row r : rows) {
      if (!r.def().id().equals("router") || r.skipped() != null) continue;
      for (BenchMain.Row peer : BenchMain.byId(rows, r.size(), r.pass()).values()) {
        if (peer == r || peer.skipped() != null || !BenchMain.RATIO_PEERS.contains(peer.def().id())) continue;
        b.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s |%n", size(r.size()), r.pass(),
            peer.def().label(), ratio(r.median(), peer.median()), ratio(r.latency().p(99), peer.latency().p(99))));
      }
    }
    byLoad(b, rows);
    Map<String, BenchMain.Row> http = BenchMain.byId(rows, 256, "no persistence");
    if (http.containsKey("http-one") && http.containsKey("http-bare")) {
      b.append(String.format(Locale.ROOT, "%nHTTP single-message publish vs a bare Pekko HTTP route answering 202"
          + " (same client, 64 requests in flight, 256 B): %s.%n",
          ratio(http.get("http-one").median(), http.get("http-bare").median())));
    }
    if (http.containsKey("broadcast") && http.containsKey("broadcast-split")) {
      b.append(String.format(Locale.ROOT, "Broadcast mode, 1 connection vs 3 connections (256 B): %s.%n",
          ratio(http.get("broadcast").median(), http.get("broadcast-split").median())));
    }
    if (http.containsKey("broadcast") && http.containsKey("pubsub")) {
      b.append(String.format(Locale.ROOT, "Broadcast mode vs raw PUBLISH/SUBSCRIBE (256 B): %s.%n",
          ratio(http.get("broadcast").median(), http.get("pubsub").median())));
    }
    if (!restarts.isEmpty()) {
      b.append("\nSubscriber restart midway (256 B at 5,000 msg/s offered; down 500 ms; what never arrived is"
          + " lost):\n\n| system | sent | delivered | lost | duplicated |\n|---|---|---|---|---|\n");
      for (int i = 0; i < restarts.size(); i++) {
        RunResult r = restarts.get(i);
        b.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %d |%n", restartDefs.get(i).label(),
            r.messages(), r.delivered(), r.lost(), r.duplicates()));
      }
    }
    if (!scaling.isEmpty()) {
      b.append("\nRedis connections against concurrent publishers (max of CLIENT LIST sampled every 20 ms; each"
          + " publisher publishes 3 messages):\n\n| system | 1 | 100 | 1,000 | 10,000 |\n|---|---|---|---|---|\n");
      for (String system : new String[]{"router (embedded)", "naive Jedis pool"}) {
        StringBuilder line = new StringBuilder("| " + system + " |");
        for (int n : new int[]{1, 100, 1000, 10_000}) {
          String v = scaling.stream().filter(p -> p.system().equals(system) && p.publishers() == n).findFirst()
              .map(p -> Integer.toString(p.maxConnections())).orElse("not run");
          line.append(' ').append(v).append(" |");
        }
        b.append(line).append('\n');
      }
      b.append("\n(the naive pool is not run with 10,000 threads: one connection each would reach Redis's"
          + " default maxclients of 10,000)\n");
    }
    return b.toString();
  }

  /**
   * The end-to-end rows' latency at each load ({@link BenchMain#LOADS}): one latency figure says little about how a
   * path behaves as it fills up, so each row shows where its tail starts to grow, next to the ceiling's at the same
   * loads. Nothing when no such row ran.
   */
  private static void byLoad(StringBuilder b, List<BenchMain.Row> rows) {
    List<BenchMain.Row> e2e = rows.stream().filter(r -> BenchMain.LATENCY_BY_LOAD.contains(r.def().id())).toList();
    if (e2e.isEmpty()) return;
    b.append("\nEnd-to-end latency (publish to delivery) by load: p50 / p99 / p99.9 ms of an open-loop run at each"
        + " fraction of the row's median throughput (max msg/s), offered at the rate in brackets (at least 100/s);"
        + " the last column is the row's p99 at 50% load over the raw-Lettuce ceiling's, same payload and pass"
        + " (lower is better):\n\n");
    StringBuilder head = new StringBuilder("| scenario | payload | pass | max msg/s |");
    StringBuilder rule = new StringBuilder("|---|---|---|---|");
    for (double load : BenchMain.LOADS) {
      head.append(String.format(Locale.ROOT, " p50 / p99 / p99.9 ms at %.0f%% |", load * 100));
      rule.append("---|");
    }
    b.append(head).append(" p99 at 50% x ceiling |\n").append(rule).append("---|\n");
    for (BenchMain.Row r : e2e) {
      if (r.skipped() != null) {
        b.append(String.format(Locale.ROOT, "| %s | %s | %s | skipped: %s |%s%n", r.def().label(),
            size(r.size()), r.pass(), r.skipped(), " - |".repeat(BenchMain.LOADS.size() + 1)));
        continue;
      }
      StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "| %s | %s | %s | %,.0f |",
          r.def().label(), size(r.size()), r.pass(), r.median()));
      for (double load : BenchMain.LOADS) line.append(' ').append(latencyCell(r.level(load))).append(" |");
      BenchMain.Row ceiling = BenchMain.byId(rows, r.size(), r.pass()).get("ceiling");
      String vs = ceiling == null || ceiling.skipped() != null
          ? "-"
          : ratio(r.latency().p(99), ceiling.latency().p(99));
      b.append(line).append(' ').append(vs).append(" |\n");
    }
  }

  /** p50 / p99 / p99.9 of one latency run and its offered rate; "-" where the row has no run at that load. */
  static String latencyCell(BenchMain.Level l) {
    if (l == null) return "-";
    return String.format(Locale.ROOT, "%.2f / %.2f / %.2f (at %,.0f/s)", l.result().p(50), l.result().p(99),
        l.result().p(99.9), l.offered());
  }

  static String ratio(double a, double b) {
    if (Double.isNaN(a) || Double.isNaN(b) || b == 0) return "-";
    return String.format(Locale.ROOT, "%.2fx", a / b);
  }

  private static String size(int bytes) {
    return bytes >= 1024 ? (bytes / 1024) + " KiB" : bytes + " B";
  }
}
