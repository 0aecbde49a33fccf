package io.redisrouter.bench;

import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.testkit.RedisServer;
import org.HdrHistogram.Histogram;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * First end-to-end throughput figure of the embedded router: one node, one redis-server (persistence off), one
 * reliable channel, a publisher actor keeping a window of publishes outstanding, one subscription whose actor
 * acks every delivery. Prints messages per second (publish of the first to ack of the last) and publish → delivery
 * latency percentiles. CLI tool: prints to stdout.
 *
 * <pre>mvn -q -B install -DskipTests && mvn -q -B -pl router exec:java -Dexec.classpathScope=test \
 *   -Dexec.mainClass=io.redisrouter.bench.EmbeddedThroughput -Dexec.args="100000 256 5"</pre>
 */
public final class EmbeddedThroughput {

  public static void main(String[] args) throws Exception {
    int messages = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    int size = args.length > 1 ? Integer.parseInt(args[1]) : 256;
    int runs = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    int window = 4096;
    try (RedisServer redis = RedisServer.start()) {
      Result warm = once(redis, "warmup", Math.min(messages, 50_000), size, window);
      System.out.printf("warm-up (not counted): %.0f msg/s%n", warm.rate);
      double[] rates = new double[runs];
      for (int run = 0; run < runs; run++) {
        Result r = once(redis, "bench" + run, messages, size, window);
        rates[run] = r.rate;
        System.out.printf("run %d: %d messages of %d bytes in %.2f s = %.0f msg/s; publish->deliver p50 %.2f ms"
                + " p99 %.2f ms p99.9 %.2f ms; redis connections %d; %s%n", run + 1, messages, size, r.seconds,
            r.rate, r.latency.getValueAtPercentile(50) / 1000.0, r.latency.getValueAtPercentile(99) / 1000.0,
            r.latency.getValueAtPercentile(99.9) / 1000.0, r.connections, r.metrics);
      }
      Arrays.sort(rates);
      System.out.printf("embedded reliable, 1 node, redis %s, %d B payloads: median %.0f msg/s (min %.0f, max %.0f)%n",
          redis.version(), size, rates[runs / 2], rates[0], rates[runs - 1]);
    }
  }

  record Result(double seconds, double rate, Histogram latency, int connections, String metrics) {}

  private record Reply(PublishReply reply) {}

  static Result once(RedisServer redis, String channel, int messages, int size, int window) throws Exception {
    RouterSettings settings = RouterSettings.load(ConfigFactory.parseString(
            "redis-router.redis.instances.default.uri = \"" + redis.uri() + "\"\n"
                + "redis-router.channels.defaults.max-in-flight = 1024\n"
                + "redis-router.ingress.queue-size = 20000\n")
        .withFallback(ConfigFactory.load()));
    RouterMetrics metrics = new RouterMetrics();
    Histogram latency = new Histogram(3_600_000_000L, 3);
    AtomicLong acked = new AtomicLong();
    AtomicLong rejected = new AtomicLong();
    CompletableFuture<Long> allAcked = new CompletableFuture<>();
    CompletableFuture<Long> started = new CompletableFuture<>();
    byte[] payload = new byte[size];
    Arrays.fill(payload, (byte) 'x');

    Behavior<Delivery> subscriber = Behaviors.receiveMessage(d -> {
      long sentNanos = Long.parseLong(d.envelope().headers().get("t"));
      latency.recordValue(Math.max(0, (System.nanoTime() - sentNanos) / 1000));
      d.replyTo().tell(d.ack());
      if (acked.incrementAndGet() == messages) allAcked.complete(System.nanoTime());
      return Behaviors.same();
    });

    Behavior<Object> guardian = Behaviors.setup(ctx -> {
      ActorRef<RouterCommand> router = ctx.spawn(RedisRouter.create(settings, metrics), "router");
      ActorRef<Delivery> sub = ctx.spawn(subscriber, "subscriber");
      ActorRef<SubscribeReply> subscribed = ctx.messageAdapter(SubscribeReply.class, r -> r);
      ActorRef<PublishReply> replies = ctx.messageAdapter(PublishReply.class, Reply::new);
      router.tell(new RouterCommand.Subscribe(channel, "bench", sub, subscribed));
      int[] sent = {0};
      Runnable sendOne = () -> {
        sent[0]++;
        router.tell(new RouterCommand.Publish(PublishRequest.of(channel, payload)
            .withHeaders(java.util.Map.of("t", Long.toString(System.nanoTime()))), replies));
      };
      return Behaviors.receive(Object.class)
          .onMessage(SubscribeReply.Subscribed.class, s -> {
            started.complete(System.nanoTime());
            for (int i = 0; i < window && sent[0] < messages; i++) sendOne.run();
            return Behaviors.same();
          })
          .onMessage(Reply.class, r -> {
            if (r.reply() instanceof PublishReply.Accepted) {
              if (sent[0] < messages) sendOne.run();
            } else {
              rejected.incrementAndGet();
              sent[0]--; // publish it again
              sendOne.run();
            }
            return Behaviors.same();
          })
          .build();
    });
    ActorSystem<Object> system = ActorSystem.create(guardian, "bench");
    try {
      long t0 = started.get(30, TimeUnit.SECONDS);
      long t1 = allAcked.get(10, TimeUnit.MINUTES);
      int connections = redis.clientCount("rr:");
      double seconds = (t1 - t0) / 1e9;
      return new Result(seconds, messages / seconds, latency, connections,
          "rejected-and-retried=" + rejected.get() + " redelivered=" + metrics.retried.sum());
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }
}
