package io.redisrouter.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

import static java.util.Objects.requireNonNull;

/**
 * The side-by-side benchmark: every scenario on the same redis-server (started here, persistence off; a second
 * pass with AOF everysec), each with one producer and one consumer, 256-byte and 4 KiB payloads. Per scenario: the
 * median of {@code runs} throughput runs (min, max), then latency runs at a fraction of that median (open loop): at
 * 50% for every row, and at 10%, 50% and 90% for the end-to-end rows ({@link #LATENCY_BY_LOAD}: the ceiling, the
 * embedded router, pull, events and webhook), since a latency at one load says little about how it grows; Redis
 * connections (CLIENT LIST), peak heap, lost and duplicated. In the same run, the brokers users would pick
 * instead, on this host: RabbitMQ ({@code -Dbench.rabbitmq}, default 127.0.0.1:5672, guest/guest) and NATS
 * JetStream ({@code -Dbench.nats}, default 127.0.0.1:4222), each warmed up first; the rows of a broker that does not
 * answer are skipped, saying so. Then the subscriber-restart runs and the connection count against concurrent
 * publishers. Prints a Markdown table and writes it, with the raw figures as JSON, under {@code bench/results/}. CLI
 * tool: prints to stdout.
 *
 * <pre>mvn -q -B install -DskipTests &amp;&amp; mvn -q -B -pl bench exec:java [-Dexec.args="--quick"]</pre>
 */
public final class BenchMain {

  /** A scenario; {@code peer} is set for the brokers on this host that are not Redis (their rows may be skipped). */
  record Def(String id, String label, String semantics, int messages, Supplier<Scenario> factory, Peer peer) {
    Def(String id, String label, String semantics, int messages, Supplier<Scenario> factory) {
      this(id, label, semantics, messages, factory, null);
    }
  }

  /** A peer broker at {@code address}; {@code probe} says why it cannot be measured now, or null when it answers. */
  record Peer(String broker, PeerAddress address, Function<PeerAddress, String> probe) {
    String unavailable() {
      return probe.apply(address);
    }
  }

  /** One latency run: at {@code load} (a fraction of the row's median throughput), offered at {@code offered}/s. */
  record Level(double load, double offered, RunResult result) {}

  /**
   * The figures of a scenario at one payload size in one pass; {@code skipped} says why there are none.
   * {@code latency} and {@code offered} are the run at 50% load, {@code levels} every latency run of the row, by
   * load (the 50% one among them).
   */
  record Row(Def def, int size, String pass, double median, double min, double max, RunResult latency,
      double offered, int connections, long peakHeap, long lost, long duplicates, String skipped,
      List<Level> levels) {
    Row {
      levels = List.copyOf(levels);
    }

    /** A row with its one latency run, at 50% load. */
    Row(Def def, int size, String pass, double median, double min, double max, RunResult latency, double offered,
        int connections, long peakHeap, long lost, long duplicates) {
      this(def, size, pass, median, min, max, latency, offered, connections, peakHeap, lost, duplicates, null,
          List.of(new Level(HALF_LOAD, offered, latency)));
    }

    static Row skipped(Def def, int size, String pass, String reason) {
      return new Row(def, size, pass, Double.NaN, Double.NaN, Double.NaN, null, Double.NaN, 0, 0, 0, 0,
          requireNonNull(reason, "reason"), List.of());
    }

    /** The latency run at {@code load}, or null when the row has none there. */
    Level level(double load) {
      return levels.stream().filter(l -> l.load() == load).findFirst().orElse(null);
    }
  }

  /** The load of the latency run every row has (the main table's latency column). */
  static final double HALF_LOAD = 0.5;

  /** The loads of the end-to-end rows' latency runs, as fractions of the row's median throughput. */
  static final List<Double> LOADS = List.of(0.1, HALF_LOAD, 0.9);

  /**
   * The end-to-end rows, publish to delivery on each path a user consumes by (embedded, pull, events, webhook) and
   * the raw-Lettuce ceiling they are compared to: their latency is measured at every one of {@link #LOADS}.
   */
  static final List<String> LATENCY_BY_LOAD = List.of("ceiling", "router", "http-pull", "http-events",
      "http-webhook", "http-webhook-batch");

  /** The brokers users would pick instead, on this host: -Dbench.rabbitmq=host:port, -Dbench.nats=host:port. */
  static final Peer RABBITMQ = new Peer("RabbitMQ", PeerAddress.fromProperty("bench.rabbitmq", "127.0.0.1:5672"),
      RabbitMqQueue::unavailable);
  static final Peer NATS = new Peer("NATS JetStream", PeerAddress.fromProperty("bench.nats", "127.0.0.1:4222"),
      NatsJetStream::unavailable);

  static final List<Def> SCENARIOS = List.of(
      new Def("ceiling", "a. raw Lettuce XADD/XREADGROUP/XACK (ceiling)", "at-least-once", 60_000,
          LettuceStreams::new),
      new Def("router", "b. router embedded, reliable", "at-least-once + deadlines/retries", 60_000,
          () -> new RouterEmbedded(false, false)),
      new Def("router-split", "b. router embedded, reliable, 3 connections", "at-least-once + deadlines/retries",
          60_000, () -> new RouterEmbedded(false, false, 3)),
      new Def("http-one", "c. router HTTP publish, 1 per request", "at-least-once", 5_000,
          () -> new RouterHttp(RouterHttp.Mode.PUBLISH_ONE)),
      new Def("http-bare", "c. bare Pekko HTTP route, 202 (no Redis)", "none", 5_000, BareHttp::new),
      new Def("http-batch", "c. router HTTP publish, batches of 100", "at-least-once", 20_000,
          () -> new RouterHttp(RouterHttp.Mode.PUBLISH_BATCH)),
      new Def("http-pull", "c. router HTTP pull + ack", "at-least-once", 20_000,
          () -> new RouterHttp(RouterHttp.Mode.PULL)),
      new Def("http-events", "c. router HTTP server-sent events + ack", "at-least-once", 20_000,
          () -> new RouterHttp(RouterHttp.Mode.EVENTS)),
      new Def("http-webhook", "c. router HTTP webhook push", "at-least-once", 10_000,
          () -> new RouterHttp(RouterHttp.Mode.WEBHOOK)),
      new Def("http-webhook-batch", "c. router HTTP webhook push, batches of 100", "at-least-once", 40_000,
          () -> new RouterHttp(RouterHttp.Mode.WEBHOOK_BATCH)),
      new Def("redisson-stream", "d. Redisson stream + consumer group", "at-least-once", 20_000,
          RedissonStreams::new),
      new Def("redisson-topic", "d. Redisson reliable topic", "no ack (offset per subscriber)", 8_000,
          () -> new RedissonReliableTopic(false)),
      new Def("naive", "d. naive Jedis pool, PUBLISH, re-publish on 0", "at-most-once + blind retry", 20_000,
          () -> new NaivePool(false, 16)),
      new Def("broadcast", "e. router broadcast mode", "at-most-once", 60_000,
          () -> new RouterEmbedded(true, false)),
      new Def("broadcast-split", "e. router broadcast mode, 3 connections", "at-most-once", 60_000,
          () -> new RouterEmbedded(true, false, 3)),
      new Def("pubsub", "e. raw Lettuce PUBLISH/SUBSCRIBE", "at-most-once", 60_000, LettucePubSub::new),
      new Def("rabbitmq-classic", "e. RabbitMQ classic queue, confirms + manual ack", "at-least-once", 20_000,
          () -> new RabbitMqQueue(RABBITMQ.address(), RabbitMqQueue.Type.CLASSIC), RABBITMQ),
      new Def("rabbitmq-quorum", "e. RabbitMQ quorum queue, confirms + manual ack", "at-least-once", 20_000,
          () -> new RabbitMqQueue(RABBITMQ.address(), RabbitMqQueue.Type.QUORUM), RABBITMQ),
      new Def("jetstream-memory", "e. NATS JetStream memory, publish ack + explicit ack", "at-least-once", 20_000,
          () -> new NatsJetStream(NATS.address(), NatsJetStream.Storage.MEMORY), NATS),
      new Def("jetstream-file", "e. NATS JetStream file, publish ack + explicit ack", "at-least-once", 20_000,
          () -> new NatsJetStream(NATS.address(), NatsJetStream.Storage.FILE), NATS));

  /** The scenarios the report gives the embedded router's ratios to. */
  static final List<String> RATIO_PEERS = List.of("ceiling", "router-split", "redisson-stream", "redisson-topic",
      "naive", "rabbitmq-classic", "rabbitmq-quorum", "jetstream-memory", "jetstream-file");

  private static final List<Def> RESTARTS = List.of(
      new Def("router-restart", "router embedded", "at-least-once", 20_000, () -> new RouterEmbedded(false, true)),
      new Def("redisson-topic-restart", "Redisson reliable topic", "no ack", 20_000,
          () -> new RedissonReliableTopic(true)),
      new Def("naive-restart", "naive Jedis pool + re-publish on 0", "blind retry", 20_000,
          () -> new NaivePool(true, 16)));

  private static final List<String> AOF_PASS = List.of("ceiling", "router", "router-split", "redisson-stream");

  public static void main(String[] args) throws Exception {
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "bench-logback.xml");
    }
    boolean quick = Arrays.asList(args).contains("--quick");
    int runs = quick ? 1 : 3;
    double scale = quick ? 0.1 : 1.0;
    // --only=id,id,...: the scenarios (and "scaling", "aof") to run, by exact id
    java.util.Set<String> only = Arrays.stream(args).filter(a -> a.startsWith("--only=")).map(a -> a.substring(7))
        .findFirst().map(v -> java.util.Set.of(v.split(","))).orElse(null);
    List<Row> rows = new ArrayList<>();
    List<RunResult> restartResults = new ArrayList<>();
    List<ConnectionScaling.Point> scaling = new ArrayList<>();
    String redisVersion;
    long started = System.nanoTime();
    try (BenchRedis redis = new BenchRedis(null)) {
      redisVersion = redis.server.version();
      log("redis-server %s on port %d (persistence off); %s mode", redisVersion, redis.port(),
          quick ? "quick" : "full");
      warmUp(redis);
      for (int size : new int[]{256, 4096}) {
        for (Def d : SCENARIOS) {
          if (only != null && !only.contains(d.id())) continue;
          rows.add(measure(redis, d, size, "no persistence", runs, scale * (size > 1024 ? 0.5 : 1.0)));
          redis.flushAll();
        }
      }
      for (Def d : RESTARTS) {
        if (only != null && !only.contains(d.id())) continue;
        int n = (int) (d.messages() * Math.max(scale, 0.25));
        RunResult r = Runner.run(d.factory(), redis, n, 256, 5_000, 6_000);
        log("%-40s restart midway: sent %d delivered %d lost %d duplicated %d republished %d", d.label(), n,
            r.delivered(), r.lost(), r.duplicates(), r.republished());
        restartResults.add(r);
        redis.flushAll();
      }
      if (only == null || only.contains("scaling")) {
        for (int n : new int[]{1, 100, 1000, 10_000}) {
          scaling.add(ConnectionScaling.router(redis, n));
          log("connections: router, %d publishers: %d", n, scaling.get(scaling.size() - 1).maxConnections());
          if (n <= 1000) {
            scaling.add(ConnectionScaling.naive(redis, n));
            log("connections: naive pool, %d publishers: %d", n, scaling.get(scaling.size() - 1).maxConnections());
          }
          redis.flushAll();
        }
      }
    }
    if (only == null || only.contains("aof")) {
      try (BenchRedis aof = new BenchRedis("everysec")) {
        log("second pass: redis-server with appendonly yes, appendfsync everysec");
        for (Def d : SCENARIOS) {
          if (!AOF_PASS.contains(d.id())) continue;
          rows.add(measure(aof, d, 256, "AOF everysec", runs, scale));
          aof.flushAll();
        }
      }
    }
    double minutes = (System.nanoTime() - started) / 60e9;
    String table = Report.markdown(rows, RESTARTS, restartResults, scaling, redisVersion, runs, minutes, quick);
    System.out.println();
    System.out.println(table);
    write(table, rows, restartResults, scaling, redisVersion, quick);
    System.exit(0); // client libraries leave non-daemon threads behind
  }

  private static void warmUp(BenchRedis redis) throws Exception {
    log("warm-up (JIT): router and ceiling, not counted");
    Runner.run(() -> new RouterEmbedded(false, false), redis, 50_000, 256, 0, 10_000);
    Runner.run(LettuceStreams::new, redis, 50_000, 256, 0, 10_000);
    redis.flushAll();
  }

  /**
   * The row of {@code d}: the median of {@code runs} throughput runs, then a latency run at half of it (at each of
   * {@link #LOADS} of it for the rows of {@link #LATENCY_BY_LOAD}, lowest first); each latency run is about 2 s of
   * messages, at least 1,000 and at most the row's message count (so {@code --quick} shrinks them too). A peer
   * broker is first asked whether it answers (its row is skipped, saying why, when not); it and the HTTP rows get a
   * warm-up run of the same size that is not counted.
   */
  static Row measure(BenchRedis redis, Def d, int size, String pass, int runs, double scale) throws Exception {
    int n = Math.max(1000, (int) (d.messages() * scale));
    if (d.peer() != null) {
      String unavailable = d.peer().unavailable();
      if (unavailable != null) {
        log("%-45s %5d B %-14s skipped: %s", d.label(), size, pass, unavailable);
        return Row.skipped(d, size, pass, unavailable);
      }
    }
    if (d.peer() != null || d.id().startsWith("http-")) {
      // the brokers' clients, and the HTTP paths (the router's HTTP routes, webhook client and pull gateway, and the
      // bare route) are warmed up like the embedded router and the ceiling are at the start: JIT warm-up is not
      // what a row measures (a 5 s wrk warm-up measured the HTTP publish at 0.4x its warm rate)
      RunResult warm = Runner.run(d.factory(), redis, n, size, 0, 5_000);
      log("%-45s %5d B warm-up (not counted): %.0f msg/s, lost %d", d.label(), size, warm.rate(), warm.lost());
      redis.flushAll();
    }
    double[] rates = new double[runs];
    int connections = 0;
    long heap = 0;
    long lost = 0;
    long dup = 0;
    long republished = 0;
    for (int i = 0; i < runs; i++) {
      RunResult r = Runner.run(d.factory(), redis, n, size, 0, 5_000);
      rates[i] = r.rate();
      connections = Math.max(connections, r.maxConnections());
      heap = Math.max(heap, r.peakHeapBytes());
      lost += r.lost();
      dup += r.duplicates();
      republished += r.republished();
      redis.flushAll();
    }
    double[] sorted = rates.clone();
    Arrays.sort(sorted);
    double median = sorted[runs / 2];
    List<Level> levels = new ArrayList<>();
    for (double load : LATENCY_BY_LOAD.contains(d.id()) ? LOADS : List.of(HALF_LOAD)) {
      double offered = Math.max(100, median * load);
      int latencyMessages = (int) Math.max(1000, Math.min(offered * 2, n)); // about 2 s
      RunResult lat = Runner.run(d.factory(), redis, latencyMessages, size, offered, 5_000);
      connections = Math.max(connections, lat.maxConnections());
      heap = Math.max(heap, lat.peakHeapBytes());
      lost += lat.lost();
      dup += lat.duplicates();
      republished += lat.republished();
      levels.add(new Level(load, offered, lat));
      redis.flushAll();
    }
    Level half = levels.stream().filter(l -> l.load() == HALF_LOAD).findFirst().orElseThrow();
    RunResult lat = half.result();
    log("%-45s %5d B %-14s %9.0f msg/s (%.0f-%.0f)  p50 %.2f p99 %.2f p99.9 %.2f ms @ %.0f/s  conns %d  lost %d dup %d"
        + "  republished %d", d.label(), size, pass, median, sorted[0], sorted[runs - 1], lat.p(50), lat.p(99),
        lat.p(99.9), half.offered(), connections, lost, dup, republished);
    if (levels.size() > 1) {
      for (Level l : levels) {
        log("%-45s %5d B %-14s   at %3.0f%% load: p50 %.2f p99 %.2f p99.9 %.2f ms @ %.0f/s  lost %d dup %d", "",
            size, pass, l.load() * 100, l.result().p(50), l.result().p(99), l.result().p(99.9), l.offered(),
            l.result().lost(), l.result().duplicates());
      }
    }
    return new Row(d, size, pass, median, sorted[0], sorted[runs - 1], lat, half.offered(), connections, heap, lost,
        dup, null, levels);
  }

  private static void write(String table, List<Row> rows, List<RunResult> restarts,
      List<ConnectionScaling.Point> scaling, String redisVersion, boolean quick)
      throws IOException {
    Path dir = Path.of(System.getProperty("bench.results", "results"));
    if (!Files.isDirectory(dir) && Files.isDirectory(Path.of("bench"))) dir = Path.of("bench", "results");
    Files.createDirectories(dir);
    String stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(Instant.now());
    String json = json(rows, restarts, scaling, redisVersion, quick);
    Files.writeString(dir.resolve("bench-" + stamp + ".md"), table);
    Files.writeString(dir.resolve("bench-" + stamp + ".json"), json);
    Files.writeString(dir.resolve("latest.md"), table);
    Files.writeString(dir.resolve("latest.json"), json);
    log("written: %s/bench-%s.md and .json (and latest.md, latest.json)", dir, stamp);
  }

  /** The raw figures as JSON; a skipped row has its reason under "skipped" and no figures. */
  static String json(List<Row> rows, List<RunResult> restarts, List<ConnectionScaling.Point> scaling,
      String redisVersion, boolean quick) throws IOException {
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = json.createObjectNode();
    root.put("redis", redisVersion);
    root.put("quick", quick);
    root.put("cores", Runtime.getRuntime().availableProcessors());
    root.put("java", System.getProperty("java.version"));
    ArrayNode arr = root.putArray("scenarios");
    for (Row r : rows) {
      ObjectNode n = arr.addObject();
      n.put("id", r.def().id());
      n.put("label", r.def().label());
      n.put("payloadBytes", r.size());
      n.put("pass", r.pass());
      if (r.skipped() != null) {
        n.put("skipped", r.skipped());
        continue;
      }
      n.put("medianMsgPerSec", Math.round(r.median()));
      n.put("minMsgPerSec", Math.round(r.min()));
      n.put("maxMsgPerSec", Math.round(r.max()));
      n.put("latencyOfferedMsgPerSec", Math.round(r.offered()));
      n.put("p50Ms", r.latency().p(50));
      n.put("p99Ms", r.latency().p(99));
      n.put("p999Ms", r.latency().p(99.9));
      ArrayNode levels = n.putArray("latency");
      for (Level l : r.levels()) {
        levels.addObject().put("load", l.load()).put("offered", Math.round(l.offered()))
            .put("messages", l.result().messages()).put("p50", l.result().p(50)).put("p99", l.result().p(99))
            .put("p999", l.result().p(99.9)).put("lost", l.result().lost())
            .put("duplicated", l.result().duplicates());
      }
      n.put("redisConnections", r.connections());
      n.put("peakHeapMB", r.peakHeap() / (1024 * 1024));
      n.put("lost", r.lost());
      n.put("duplicated", r.duplicates());
    }
    ArrayNode rs = root.putArray("restart");
    for (int i = 0; i < restarts.size(); i++) {
      RunResult r = restarts.get(i);
      rs.addObject().put("id", RESTARTS.get(i).id()).put("sent", r.messages()).put("delivered", r.delivered())
          .put("lost", r.lost()).put("duplicated", r.duplicates());
    }
    ArrayNode sc = root.putArray("connectionScaling");
    for (ConnectionScaling.Point p : scaling) {
      sc.addObject().put("system", p.system()).put("publishers", p.publishers())
          .put("maxConnections", p.maxConnections());
    }
    return json.writeValueAsString(root);
  }

  static void log(String fmt, Object... args) {
    System.out.println(String.format(Locale.ROOT, fmt, args));
  }

  static Map<String, Row> byId(List<Row> rows, int size, String pass) {
    Map<String, Row> m = new LinkedHashMap<>();
    for (Row r : rows) if (r.size() == size && r.pass().equals(pass)) m.put(r.def().id(), r);
    return m;
  }

  private BenchMain() {}
}
