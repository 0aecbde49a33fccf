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

  static String ratio(double a, double b) {
    if (Double.isNaN(a) || Double.isNaN(b) || b == 0) return "-";
    return String.format(Locale.ROOT, "%.2fx", a / b);
  }

  private static String size(int bytes) {
    return bytes >= 1024 ? (bytes / 1024) + " KiB" : bytes + " B";
  }
}
