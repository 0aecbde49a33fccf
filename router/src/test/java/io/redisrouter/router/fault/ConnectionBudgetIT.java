package io.redisrouter.router.fault;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The connection budget (design guide §2): one router node holds one Redis connection per instance (RESP3:
 * commands, pipelined publishes and pub/sub on it), or 3 with {@code connections-per-instance = 3}, whatever the
 * number of publishers and subscriptions.
 *
 * <p>1,000 publisher actors (each keeping one publish in flight, so up to 1,000 concurrent publishes), 100 reliable
 * subscriptions (10 channels × 10 subscription names, each with its own acking subscriber actor) and 10 broadcast
 * subscriptions share one router. While the load runs, {@code CLIENT LIST} on the test Redis is sampled: the router's
 * connections (client names {@code rr:*}) are exactly the mode's count throughout. Then its connection is killed
 * (CLIENT KILL) and sampled during the reconnect: never more than the count plus the closing ones. Every message
 * must reach every subscription of its channel: the checker tracks (message, subscription) pairs, lost = 0.
 */
class ConnectionBudgetIT {
  private static final Logger log = LoggerFactory.getLogger(ConnectionBudgetIT.class);
  private static final int CHANNELS = 10;
  private static final int SUBSCRIPTIONS_PER_CHANNEL = 10;
  private static final int PUBLISHERS = 1000;
  private static final int MESSAGES_PER_PUBLISHER = 5;
  private static final String BROADCAST = "budget-bc";
  private static final int BROADCAST_SUBSCRIPTIONS = 10;
  private static final int BROADCASTS = 200;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create().withKit("ConnectionBudgetIT");

  private static String channel(int c) {
    return "budget-" + c;
  }

  private static String subscription(int c, int s) {
    return "sub-" + c + "-" + s;
  }

  // ---- a publisher actor: publishes its messages one after the other, retrying what was not accepted -----------

  private interface PubMsg {}

  private record Start() implements PubMsg {}

  private record Reply(PublishReply reply) implements PubMsg {}

  private record Again() implements PubMsg {}

  private static final class Counts {
    final LongAdder accepted = new LongAdder();
    final LongAdder rejected = new LongAdder();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final AtomicInteger finished = new AtomicInteger();
  }

  private static Behavior<PubMsg> publisher(int index, ActorRef<RouterCommand> router, MessageChecker checker,
      Counts counts) {
    String channel = channel(index % CHANNELS);
    int channelIndex = index % CHANNELS;
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      ActorRef<PublishReply> replyTo = ctx.messageAdapter(PublishReply.class, Reply::new);
      int[] next = {0};
      Runnable publishCurrent = () -> {
        String id = String.format("p%04d-%d", index, next[0]);
        int n = counts.inFlight.incrementAndGet();
        counts.maxInFlight.accumulateAndGet(n, Math::max);
        router.tell(new RouterCommand.Publish(
            PublishRequest.of(channel, RouterTestSupport.payload(id, 64)).withMessageId(id), replyTo));
      };
      return Behaviors.receive(PubMsg.class)
          .onMessage(Start.class, s -> {
            for (int k = 0; k < SUBSCRIPTIONS_PER_CHANNEL; k++) {
              for (int m = 0; m < MESSAGES_PER_PUBLISHER; m++) {
                checker.sent(String.format("p%04d-%d", index, m) + "@" + subscription(channelIndex, k));
              }
            }
            publishCurrent.run();
            return Behaviors.same();
          })
          .onMessage(Reply.class, r -> {
            counts.inFlight.decrementAndGet();
            if (r.reply() instanceof PublishReply.Accepted a) {
              counts.accepted.increment();
              for (int k = 0; k < SUBSCRIPTIONS_PER_CHANNEL; k++) {
                checker.accepted(a.messageId() + "@" + subscription(channelIndex, k));
              }
              next[0]++;
              if (next[0] < MESSAGES_PER_PUBLISHER) {
                publishCurrent.run();
              } else {
                counts.finished.incrementAndGet();
              }
            } else {
              // overloaded or unavailable: publish the same message id again after a pause
              counts.rejected.increment();
              timers.startSingleTimer(new Again(), Duration.ofMillis(200));
            }
            return Behaviors.same();
          })
          .onMessage(Again.class, a -> {
            publishCurrent.run();
            return Behaviors.same();
          })
          .build();
    }));
  }

  @Test
  void thousandPublishersAndHundredTenSubscriptionsShareOneConnection() throws Exception {
    long t0 = System.nanoTime();
    int budget = RouterTestSupport.connectionsPerInstance();
    MessageChecker checker = new MessageChecker();
    RouterMetrics metrics = new RouterMetrics();
    io.redisrouter.config.RouterSettings settings = RouterTestSupport.settings(redis.server(), "node-id = node-budget\n"
        + "channels.overrides.\"" + BROADCAST + "\".mode = broadcast");
    assertEquals(budget, settings.redisInstances().get("default").connectionsPerInstance(), "the mode of this run");
    ActorRef<RouterCommand> router = redis.kit().spawn(RedisRouter.create(settings, metrics), "router");
    TestProbe<Object> probe = redis.kit().createTestProbe();

    // 100 subscriptions over 10 channels, one acking subscriber actor each
    Map<String, AtomicInteger> perSubscription = new ConcurrentHashMap<>();
    for (int c = 0; c < CHANNELS; c++) {
      for (int s = 0; s < SUBSCRIPTIONS_PER_CHANNEL; s++) {
        String sub = subscription(c, s);
        AtomicInteger n = perSubscription.computeIfAbsent(sub, k -> new AtomicInteger());
        ActorRef<Delivery> subscriber = redis.kit().spawn(RouterTestSupport.acking(d -> {
          checker.delivered(d.envelope().id() + "@" + d.subscription());
          n.incrementAndGet();
        }), "subscriber-" + sub);
        assertInstanceOf(SubscribeReply.Subscribed.class,
            RouterTestSupport.subscribe(redis.kit(), router, channel(c), sub, subscriber));
      }
    }
    // 10 broadcast subscriptions (one acking subscriber each: the answer paces the fan-out)
    Map<String, AtomicInteger> perBroadcast = new ConcurrentHashMap<>();
    for (int s = 0; s < BROADCAST_SUBSCRIPTIONS; s++) {
      String sub = "bc-" + s;
      AtomicInteger n = perBroadcast.computeIfAbsent(sub, k -> new AtomicInteger());
      ActorRef<Delivery> subscriber = redis.kit().spawn(RouterTestSupport.acking(d -> n.incrementAndGet()),
          "broadcast-subscriber-" + sub);
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(redis.kit(), router, BROADCAST, sub, subscriber));
    }
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(budget, redis.server().clientCount("rr:"), () -> "clients: " + redis.server().clients());
      return null;
    });

    // Redis's own count of the connections it accepted: the sampling below could miss a short-lived one
    long acceptedBefore = Long.parseLong(redis.server().infoField("stats", "total_connections_received"));

    // sample CLIENT LIST while the load runs
    List<Integer> samples = java.util.Collections.synchronizedList(new ArrayList<>());
    AtomicInteger maxOthers = new AtomicInteger();
    ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "client-list-sampler");
      t.setDaemon(true);
      return t;
    });
    Counts counts = new Counts();
    try {
      sampler.scheduleWithFixedDelay(() -> {
        List<Map<String, String>> clients = redis.server().clients();
        int rr = (int) clients.stream().filter(c -> c.getOrDefault("name", "").startsWith("rr:")).count();
        samples.add(rr);
        maxOthers.accumulateAndGet(clients.size() - rr, Math::max);
      }, 0, 50, TimeUnit.MILLISECONDS);

      List<ActorRef<PubMsg>> publishers = new ArrayList<>(PUBLISHERS);
      for (int i = 0; i < PUBLISHERS; i++) {
        publishers.add(redis.kit().spawn(publisher(i, router, checker, counts), "publisher-" + i));
      }
      publishers.forEach(p -> p.tell(new Start()));
      // broadcasts in the middle of the load, on the same connection as everything else (in the default mode)
      for (int i = 0; i < BROADCASTS; i++) {
        RouterTestSupport.publishAsync(redis.kit(), router,
            PublishRequest.of(BROADCAST, RouterTestSupport.payload("b" + i,
                64)));
      }

      probe.awaitAssert(Duration.ofSeconds(40), () -> {
        assertEquals(PUBLISHERS, counts.finished.get(), () -> "publishers finished; accepted "
            + counts.accepted.sum() + ", rejected " + counts.rejected.sum());
        return null;
      });
      RouterTestSupport.awaitNoneLost(probe, checker, Duration.ofSeconds(40));
    } finally {
      sampler.shutdownNow();
      sampler.awaitTermination(5, TimeUnit.SECONDS);
    }
    long loadMs = (System.nanoTime() - t0) / 1_000_000;
    // no connection opened during the load, however short-lived (the test's own harness connection stays open)
    long acceptedDuring = Long.parseLong(redis.server().infoField("stats", "total_connections_received"))
        - acceptedBefore;
    assertEquals(0L, acceptedDuring, "connections Redis accepted during the load");
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      perBroadcast.forEach((sub, n) -> assertEquals(BROADCASTS, n.get(), sub + " broadcasts received"));
      return null;
    });
    for (int c = 0; c < CHANNELS; c++) {
      String ch = channel(c);
      for (int s = 0; s < SUBSCRIPTIONS_PER_CHANNEL; s++) {
        String sub = subscription(c, s);
        probe.awaitAssert(Duration.ofSeconds(10), () -> {
          List<Object> pending = redis.server().callList("XPENDING", RedisKeys.stream(ch), sub);
          assertEquals(0L, pending.get(0), () -> ch + "/" + sub + " pending: " + pending);
          return null;
        });
      }
    }

    int maxConnections;
    int minConnections;
    synchronized (samples) {
      maxConnections = samples.stream().mapToInt(Integer::intValue).max().orElse(-1);
      minConnections = samples.stream().mapToInt(Integer::intValue).min().orElse(-1);
    }
    MessageChecker.Report report = checker.report();
    checker.logReport("ConnectionBudgetIT");
    log.info("connections used: {} ({} publishers, {} subscriptions); CLIENT LIST sampled {} times during the"
        + " load: rr:* min {} max {}, other clients max {}; publishes accepted {} rejected-and-retried {}, max {}"
        + " in flight at once; {} messages x {} subscriptions each = {} deliveries in {} ms",
        maxConnections, PUBLISHERS, perSubscription.size(), samples.size(), minConnections, maxConnections,
        maxOthers.get(), counts.accepted.sum(), counts.rejected.sum(), counts.maxInFlight.get(),
        PUBLISHERS * MESSAGES_PER_PUBLISHER, SUBSCRIPTIONS_PER_CHANNEL, metrics.snapshot().delivered(), loadMs);
    log.info("ConnectionBudgetIT router metrics: delivered={} acked={} ackTimeouts={} retried={} claimed={}",
        metrics.snapshot().delivered(), metrics.snapshot().acked(), metrics.snapshot().ackTimeouts(),
        metrics.snapshot().retried(),
        metrics.snapshot().claimed());

    // a reconnect: the router's connections are killed; sampled until it is back with its budget
    List<Integer> reconnectSamples = java.util.Collections.synchronizedList(new ArrayList<>());
    ScheduledExecutorService again = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "client-list-sampler-reconnect");
      t.setDaemon(true);
      return t;
    });
    long killed;
    try {
      again.scheduleWithFixedDelay(() -> reconnectSamples.add(redis.server().clientCount("rr:")), 0, 5,
          TimeUnit.MILLISECONDS);
      killed = 0;
      for (Map<String, String> c : redis.server().clients()) {
        if (c.getOrDefault("name", "").startsWith("rr:")) {
          redis.server().call("CLIENT", "KILL", "ID", c.get("id"));
          killed++;
        }
      }
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(
            Long.parseLong(redis.server().infoField("stats", "total_connections_received")) - acceptedBefore >= budget,
            "the router reconnected");
        assertEquals(budget, redis.server().clientCount("rr:"), () -> "clients: " + redis.server().clients());
        return null;
      });
      // a fast reconnect can complete between two samples: keep sampling until one more is taken after it
      int seenBack = reconnectSamples.size();
      probe.awaitAssert(Duration.ofSeconds(2), () -> {
        assertTrue(reconnectSamples.size() > seenBack && reconnectSamples.size() >= 2,
            "reconnect samples: " + reconnectSamples.size());
        return null;
      });
    } finally {
      again.shutdownNow();
      again.awaitTermination(5, TimeUnit.SECONDS);
    }
    int maxDuringReconnect;
    synchronized (reconnectSamples) {
      maxDuringReconnect = reconnectSamples.stream().mapToInt(Integer::intValue).max().orElse(-1);
    }
    // and it works again: a publish and its deliveries go through the new connection
    assertInstanceOf(PublishReply.Accepted.class, RouterTestSupport.publish(redis.kit(), router,
        PublishRequest.of(BROADCAST, RouterTestSupport.payload("after-reconnect", 64))));
    log.info("reconnect: killed {} router connections; CLIENT LIST sampled {} times until it was back: rr:* max {};"
        + " now {}", killed, reconnectSamples.size(), maxDuringReconnect, redis.server().clientCount("rr:"));

    assertTrue(samples.size() >= 5, "too few CLIENT LIST samples: " + samples.size());
    assertEquals(budget, maxConnections, "router connections must stay within the budget");
    assertEquals(budget, minConnections, "router connections while connected");
    assertEquals(budget, killed, "connections killed");
    assertTrue(reconnectSamples.size() >= 2, "reconnect samples: " + reconnectSamples.size());
    // the new connections open once the old ones closed (the actor closes its client before it reconnects); one
    // still closing may be seen next to the new one
    assertTrue(maxDuringReconnect <= budget + 1, "connections during the reconnect: " + maxDuringReconnect);
    assertEquals(0, maxOthers.get(), "no other client may connect");
    assertEquals(100, perSubscription.size());
    long expectedPairs = (long) PUBLISHERS * MESSAGES_PER_PUBLISHER * SUBSCRIPTIONS_PER_CHANNEL;
    assertEquals(expectedPairs, report.sent());
    assertEquals(expectedPairs, report.accepted());
    assertEquals(expectedPairs, report.delivered());
    assertEquals(0, report.lost());
    assertEquals(0, report.unexpected());
    // no fault here: redeliveries could only come from acks slower than the 2 s ack timeout on a starved box
    // (a consumer re-claiming from itself entries whose XACK was still on the way used to add thousands)
    assertTrue(report.duplicated() <= expectedPairs / 100, () -> "too many duplicates: " + report);
    // every subscription got every message of its channel (duplicates would only add to it)
    int perSub = PUBLISHERS / CHANNELS * MESSAGES_PER_PUBLISHER;
    perSubscription.forEach((sub, n) -> assertTrue(n.get() >= perSub, sub + " got " + n.get() + " of " + perSub));
    // the publishers really were concurrent
    assertTrue(counts.maxInFlight.get() >= PUBLISHERS / 2, "max in flight " + counts.maxInFlight.get());
  }
}
