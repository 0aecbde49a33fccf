package io.redisrouter.bench;

import com.typesafe.config.Config;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.HdrHistogram.Histogram;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * What idle subscriptions cost, as a curve: one router node (default settings) with 1, 100, 1,000 and 10,000
 * subscriptions on as many channels and nothing published; per point Redis commands/s (from {@code INFO
 * commandstats}, whatever the router sent), the router JVM's CPU (process CPU time over wall time, % of one core) and
 * its heap after a GC. Then a trickle of 100 msg/s spread over the subscriptions: throughput, publish-to-delivery
 * p50/p99, and the command rate with it. CLI tool: prints to stdout and writes {@code bench/results/idle-latest.md}.
 *
 * <pre>mvn -q -B install -DskipTests &amp;&amp; mvn -q -B -pl bench exec:java -Dexec.mainClass=io.redisrouter.bench.IdleCurve
 * [-Dexec.args="settle-seconds measure-seconds"]</pre>
 */
public final class IdleCurve {
  private IdleCurve() {}

  record Point(int subscriptions, double commandsPerSecond, Map<String, Long> byCommand, double cpuPercent,
      long heapMb, double trickleRate, double p50Ms, double p99Ms, double trickleCommandsPerSecond) {}

  public static void main(String[] args) throws Exception {
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "bench-logback.xml");
    }
    // 70 s: a channel janitor's first two rounds (the second confirms an empty channel) fall within two trim-intervals
    int settle = args.length > 0 ? Integer.parseInt(args[0]) : 70;
    int measure = args.length > 1 ? Integer.parseInt(args[1]) : 30;
    List<Point> points = new ArrayList<>();
    String version;
    try (BenchRedis redis = new BenchRedis(null)) {
      version = redis.server.version();
      for (int n : new int[]{1, 100, 1000, 10_000}) {
        points.add(point(redis, n, settle, measure));
        Point p = points.get(points.size() - 1);
        System.out.printf(Locale.ROOT, "%,d idle subscriptions: %.0f commands/s %s, CPU %.1f%% of a core, heap %d MB;"
            + " trickle %.0f msg/s, p50 %.1f ms, p99 %.1f ms, %.0f commands/s%n", n, p.commandsPerSecond(),
            p.byCommand(), p.cpuPercent(), p.heapMb(), p.trickleRate(), p.p50Ms(), p.p99Ms(),
            p.trickleCommandsPerSecond());
        redis.flushAll();
      }
    }
    String table = markdown(points, version, settle, measure);
    System.out.println();
    System.out.println(table);
    Path out = Path.of("bench", "results");
    if (!Files.isDirectory(out)) out = Path.of("results");
    Files.writeString(out.resolve("idle-latest.md"), table);
    System.exit(0); // client libraries leave non-daemon threads behind
  }

  static String markdown(List<Point> points, String version, int settle, int measure) {
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "Idle cost, one router node with default settings, redis-server %s on the same"
        + " host (2 cores); each point measured for %d s after %d s of settling; trickle: 100 msg/s spread over the"
        + " subscriptions for 20 s.%n%n", version, measure, settle));
    b.append("| idle subscriptions (channels) | Redis commands/s | by command | router CPU (% of a core) | heap MB"
        + " | trickle msg/s | trickle p50 / p99 ms | commands/s with the trickle |\n|---|---|---|---|---|---|---|---|\n");
    for (Point p : points) {
      b.append(String.format(Locale.ROOT, "| %,d | %.0f | %s | %.1f | %d | %.0f | %.1f / %.1f | %.0f |%n",
          p.subscriptions(), p.commandsPerSecond(), p.byCommand().toString().replace('|', ' '), p.cpuPercent(),
          p.heapMb(), p.trickleRate(),
          p.p50Ms(), p.p99Ms(), p.trickleCommandsPerSecond()));
    }
    return b.toString();
  }

  private static Point point(BenchRedis redis, int n, int settleSeconds, int measureSeconds) throws Exception {
    // the defaults, not RouterEmbedded's short claim interval (500 ms, for its take-over scenario)
    Config config = com.typesafe.config.ConfigFactory.parseString("redis-router.node-id = idle-curve\n"
        + "redis-router.consumer.claim-interval = 5s\n")
        .withFallback(RouterEmbedded.config(redis, "")).resolve();
    RouterSettings settings = RouterSettings.load(config);
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "idle-curve", config);
    try {
      ActorRef<RouterCommand> router = system.systemActorOf(RedisRouter.create(settings), "router",
          org.apache.pekko.actor.typed.Props.empty());
      RouterRuntime runtime = AskPattern.<RouterCommand, RouterRuntime>ask(router, RedisRouter.GetRuntime::new,
          Duration.ofSeconds(10), system.scheduler()).toCompletableFuture().get(15, TimeUnit.SECONDS);
      Map<String, Long> sentAt = new ConcurrentHashMap<>();
      Histogram latency = new Histogram(TimeUnit.SECONDS.toMicros(60), 3);
      ActorRef<Delivery> subscriber = system.systemActorOf(Behaviors.receiveMessage(d -> {
        Long at = sentAt.remove(d.envelope().id());
        if (at != null) {
          synchronized (latency) {
            latency.recordValue(Math.max(1, (System.nanoTime() - at) / 1000));
          }
        }
        d.replyTo().tell(d.ack());
        return Behaviors.same();
      }), "subscriber", org.apache.pekko.actor.typed.Props.empty());
      List<CompletableFuture<SubscribeReply>> subscribed = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        String channel = "idle-" + i;
        subscribed.add(AskPattern.<RouterCommand, SubscribeReply>ask(router,
            replyTo -> new RouterCommand.Subscribe(channel, "s", subscriber, replyTo), Duration.ofSeconds(60),
            system.scheduler()).toCompletableFuture());
      }
      for (CompletableFuture<SubscribeReply> f : subscribed) {
        if (!(f.get(120, TimeUnit.SECONDS) instanceof SubscribeReply.Subscribed)) {
          throw new IllegalStateException("subscribe failed: " + f.get());
        }
      }
      Thread.sleep(settleSeconds * 1000L); // the first reads, claim checks and janitor rounds pass
      var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      Map<String, Long> before = redis.server.commandCalls();
      long cpu0 = os.getProcessCpuTime();
      long t0 = System.nanoTime();
      Thread.sleep(measureSeconds * 1000L); // the measured window
      double seconds = (System.nanoTime() - t0) / 1e9;
      double cpu = (os.getProcessCpuTime() - cpu0) / 1e9 / seconds * 100;
      Map<String, Long> idle = RedisServer.callsBetween(before, redis.server.commandCalls());
      double rate = idle.values().stream().mapToLong(Long::longValue).sum() / seconds;
      System.gc();
      long heapMb = (Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory()) / (1024 * 1024);

      // the trickle: 100 msg/s, one message per channel in turn
      Map<String, Long> beforeTrickle = redis.server.commandCalls();
      long start = System.nanoTime();
      int sent = 0;
      List<CompletableFuture<PublishReply>> replies = new ArrayList<>();
      for (int i = 0; i < 2000; i++) {
        long due = start + i * 10_000_000L;
        long wait = due - System.nanoTime();
        if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        String id = "t-" + i;
        sentAt.put(id, System.nanoTime());
        replies.add(runtime.publish(PublishRequest.of("idle-" + (i % n), ("x" + i).getBytes(StandardCharsets.UTF_8))
            .withMessageId(id)).toCompletableFuture());
        sent++;
      }
      for (CompletableFuture<PublishReply> r : replies) r.get(30, TimeUnit.SECONDS);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!sentAt.isEmpty() && System.nanoTime() < deadline) Thread.sleep(50);
      double trickleSeconds = (System.nanoTime() - start) / 1e9;
      double trickleCommands = RedisServer.callsBetween(beforeTrickle, redis.server.commandCalls()).values()
          .stream().mapToLong(Long::longValue).sum() / trickleSeconds;
      long delivered;
      double p50;
      double p99;
      synchronized (latency) {
        delivered = latency.getTotalCount();
        p50 = latency.getValueAtPercentile(50) / 1000.0;
        p99 = latency.getValueAtPercentile(99) / 1000.0;
      }
      if (delivered < sent) {
        System.out.printf("trickle at %d subscriptions: %d of %d delivered within 30 s%n", n, delivered, sent);
      }
      return new Point(n, rate, idle, cpu, heapMb, delivered / trickleSeconds, p50, p99, trickleCommands);
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }
}
