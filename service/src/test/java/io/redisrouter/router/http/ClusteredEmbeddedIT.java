package io.redisrouter.router.http;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cluster mode, embedded (actor) subscribers: three router services in one JVM, two subscriber actors on each, all
 * in one subscription of a reliable channel. The subscription is consumed by one node alone (its owner, a Cluster
 * Sharding entity: one consumer in the Redis group, every delivery sent from that node), which spreads the messages
 * over the subscribers of all three nodes; when the owner's node leaves under load, a survivor takes over and the
 * subscribers left keep receiving, with nothing lost.
 */
class ClusteredEmbeddedIT {
  private static final Logger log = LoggerFactory.getLogger(ClusteredEmbeddedIT.class);
  private static final String SYSTEM = "redis-router-clustered-embedded-it";
  private static final String CHANNEL = "emb.orders";
  private static final String SUBSCRIPTION = "billing";
  private static final int PREFETCH = 4;
  private static final int SUBSCRIBERS_PER_NODE = 2;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  /** One delivery as a subscriber saw it: which node's subscriber, and from which node it was sent. */
  private record Seen(String messageId, int node, Address from, long atNanos) {}

  @Test
  void oneNodeConsumesForTheSubscribersOfAllAndASurvivorTakesOverWhenItLeaves() throws Exception {
    int seedPort = ClusteredHttpIT.freePort();
    List<RouterService> nodes = new ArrayList<>();
    MessageChecker checker = new MessageChecker();
    List<Seen> seen = new CopyOnWriteArrayList<>();
    try {
      nodes.add(RouterService.start(SYSTEM, config(seedPort, seedPort)));
      nodes.add(RouterService.start(SYSTEM, config(0, seedPort)));
      nodes.add(RouterService.start(SYSTEM, config(0, seedPort)));
      ClusteredHttpIT.awaitUpAndReady(nodes, 3);
      List<Address> addresses = new ArrayList<>();
      for (RouterService n : nodes) addresses.add(Cluster.get(n.system()).selfMember().address());

      for (int i = 0; i < nodes.size(); i++) {
        for (int s = 0; s < SUBSCRIBERS_PER_NODE; s++) subscribe(nodes.get(i), i, addresses.get(i), s, checker, seen);
      }

      // phase 1: messages published through every node reach subscribers on every node, all sent from one node
      List<String> first = new ArrayList<>();
      for (RouterService n : nodes) first.addAll(ConsumeHttpSupport.publish(n, CHANNEL, 50, "first", checker));
      ConsumeHttpSupport.await("the first 150 delivered",
          () -> first.stream().filter(id -> checker.deliveryCount(id) == 0).count(), left -> left == 0);
      Set<Address> senders = new HashSet<>();
      Set<Integer> receivingNodes = new HashSet<>();
      for (Seen s : seen) {
        senders.add(s.from());
        receivingNodes.add(s.node());
      }
      assertEquals(1, senders.size(), "every delivery was sent by the one owner: " + senders);
      assertEquals(Set.of(0, 1, 2), receivingNodes, "subscribers of every node receive");
      List<Object> consumers = redis.server().callList("XINFO", "CONSUMERS", RedisKeys.stream(CHANNEL), SUBSCRIPTION);
      assertEquals(1, consumers.size(), "one consumer reads the group, the owner's: " + consumers);
      int owner = addresses.indexOf(senders.iterator().next());
      assertTrue(owner >= 0, "the owner is one of the nodes: " + senders);
      assertEquals(1, ownedCount(nodes), "one embedded owner in the cluster");
      for (RouterService n : nodes) { // the placement in the admin API, as every node sees it
        com.fasterxml.jackson.databind.JsonNode view = HttpTestSupport.json(HttpTestSupport.get(n, "/v1/cluster"));
        assertEquals(senders.iterator().next().toString(), view.path("embeddedOwners")
            .path(CHANNEL + "/" + SUBSCRIPTION).asText(), view.toString());
      }
      log.info("ClusteredEmbeddedIT: node {} owns the subscription; 150 delivered to {} subscribers on 3 nodes",
          owner, nodes.size() * SUBSCRIBERS_PER_NODE);

      // phase 2: the owner's node leaves while a survivor publishes; a survivor takes over
      RouterService leaving = nodes.get(owner);
      RouterService publisher = nodes.get((owner + 1) % 3);
      AtomicBoolean publishing = new AtomicBoolean(true);
      AtomicLong published = new AtomicLong();
      Thread load = new Thread(() -> {
        try {
          while (publishing.get()) {
            ConsumeHttpSupport.publish(publisher, CHANNEL, 10, "during", checker);
            published.addAndGet(10);
            Thread.sleep(50); // about 200 msg/s, paced
          }
        } catch (Exception | AssertionError e) {
          log.warn("ClusteredEmbeddedIT: publisher stopped: {}", e.toString());
        }
      }, "embedded-it-publisher");
      load.start();
      ConsumeHttpSupport.await("some published before the stop", published::get, n -> n >= 100);
      long stopping = System.nanoTime();
      leaving.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
      nodes.remove(leaving);
      Address gone = addresses.get(owner);
      ConsumeHttpSupport.await("deliveries sent from a survivor", () -> seen.stream()
          .filter(s -> s.atNanos() > stopping && !s.from().equals(gone)).count(), n -> n >= 50);
      publishing.set(false);
      load.join(10_000);
      try {
        ConsumeHttpSupport.await("nothing lost", () -> checker.lostIds().size(), n -> n == 0);
      } catch (AssertionError e) {
        throw new AssertionError(e.getMessage() + "; lost " + checker.lostIds() + "; pending "
            + redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION, "-", "+", "100")
            + "; consumers " + redis.server().callList("XINFO", "CONSUMERS", RedisKeys.stream(CHANNEL), SUBSCRIPTION)
            + "; last entries " + redis.server().callList("XREVRANGE", RedisKeys.stream(CHANNEL), "+", "-", "COUNT",
                "3"),
            e);
      }

      Seen firstFromSurvivor = seen.stream().filter(s -> s.atNanos() > stopping && !s.from().equals(gone))
          .findFirst().orElseThrow();
      long takeOverMs = (firstFromSurvivor.atNanos() - stopping) / 1_000_000;
      Set<Address> after = new HashSet<>();
      for (Seen s : seen) if (s.atNanos() > firstFromSurvivor.atNanos()) after.add(s.from());
      assertEquals(Set.of(firstFromSurvivor.from()), after, "one owner again after the hand-over");
      assertNotEquals(gone, firstFromSurvivor.from());
      for (Seen s : seen) {
        if (s.atNanos() > firstFromSurvivor.atNanos()) {
          assertNotEquals(owner, s.node(), "the left node's subscribers get nothing more");
        }
      }
      ConsumeHttpSupport.await("one embedded owner among the survivors", () -> ownedCount(nodes), n -> n == 1);

      MessageChecker.Report r = checker.report();
      log.info("ClusteredEmbeddedIT: {}; published during the hand-over {}; a survivor sent again {} ms after the"
          + " owner began to stop", r, published.get(), takeOverMs);
      assertEquals(0, r.lost(), "lost");
      assertEquals(0, r.unexpected(), "unexpected");
      // a subscriber of the leaving node may have handled a delivery whose ack did not reach Redis: sent again
      assertTrue(r.duplicated() <= (long) SUBSCRIBERS_PER_NODE * PREFETCH,
          "duplicated within the leaving node's in-flight window: " + r.duplicated());
      assertTrue(takeOverMs < 30_000, "taken over within 30 s: " + takeOverMs + " ms");
    } finally {
      for (RouterService n : nodes) n.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
    }
  }

  private static com.typesafe.config.Config config(int port, int seedPort) {
    return HttpTestSupport.config(redis.server(), ClusteredHttpIT.clusterConfig(port, seedPort));
  }

  /** A subscriber actor on {@code node} that records each delivery and acks it. */
  private static void subscribe(RouterService node, int index, Address self, int s, MessageChecker checker,
      List<Seen> seen) throws Exception {
    ActorRef<Delivery> subscriber = node.system().systemActorOf(Behaviors.receive(Delivery.class)
        .onMessage(Delivery.class, d -> {
          Address from = d.replyTo().path().address();
          seen.add(new Seen(d.envelope().id(), index, from.hasLocalScope() ? self : from, System.nanoTime()));
          checker.delivered(d.envelope().id());
          d.replyTo().tell(d.ack());
          return Behaviors.same();
        }).build(), "embedded-subscriber-" + s, Props.empty());
    SubscribeReply reply = AskPattern.<RouterCommand, SubscribeReply>ask(node.system(),
        r -> new RouterCommand.Subscribe(CHANNEL, SUBSCRIPTION, subscriber, r, PREFETCH), Duration.ofSeconds(20),
        node.system().scheduler()).toCompletableFuture().get(25, TimeUnit.SECONDS);
    assertInstanceOf(SubscribeReply.Subscribed.class, reply, "node " + index + ": " + reply);
  }

  /** Embedded subscription owners in the cluster, summed over the nodes' metrics. */
  private static int ownedCount(List<RouterService> nodes) throws Exception {
    int owned = 0;
    for (RouterService n : nodes) {
      for (String line : HttpTestSupport.get(n, "/metrics").body().split("\n")) {
        if (line.startsWith("redis_router_embedded_subscriptions_owned ")) {
          owned += (int) Double.parseDouble(line.substring(line.indexOf(' ') + 1).trim());
        }
      }
    }
    return owned;
  }
}
