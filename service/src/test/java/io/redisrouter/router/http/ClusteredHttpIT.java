package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cluster mode, three router services in one JVM on one Redis: each HTTP subscription's consumer runs on exactly one
 * node (its Cluster Sharding owner), subscriptions created on one node are consumed at once, pulls, acks, nacks and
 * server-sent events work on any node (forwarded to the owner), and when the owner's node leaves, a survivor takes
 * the subscription over without losing a message.
 */
class ClusteredHttpIT {
  private static final Logger log = LoggerFactory.getLogger(ClusteredHttpIT.class);
  private static final String SYSTEM = "redis-router-clustered-http-it";

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  /** The cluster settings of a test node (HOCON): cluster port {@code port} (0: any), the seed at {@code seedPort}. */
  static String clusterConfig(int port, int seedPort) {
    return "redis-router.cluster { enabled = true, host = \"127.0.0.1\","
        + " port = " + port + ", seed-nodes = [\"127.0.0.1:" + seedPort + "\"], stable-after = 5s,"
        + " owner-check-interval = 500ms }\n"
        + "pekko.cluster.jmx.multi-mbeans-in-same-jvm = on\n" // several nodes in one JVM
        + "pekko.cluster.sharding.rebalance-interval = 1s\n" // placement settles soon after a node joins
        + "redis-router.http.subscription-refresh = 1s\n";
  }

  static com.typesafe.config.Config config(int port, int seedPort) {
    return HttpTestSupport.config(redis.server(), clusterConfig(port, seedPort));
  }

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** The nodes on which subscription {@code name}'s owner entity runs now. */
  static List<RouterService> owners(List<RouterService> nodes, String name) {
    List<RouterService> out = new ArrayList<>();
    for (RouterService n : nodes) {
      try {
        Adapter.toClassic(n.system()).actorSelection("/system/sharding/http-subscription/*/" + name)
            .resolveOne(Duration.ofMillis(500)).toCompletableFuture().get(2, TimeUnit.SECONDS);
        out.add(n);
      } catch (Exception notHere) {
        // no entity of that name on this node
      }
    }
    return out;
  }

  /** The one owner of {@code name}, once there is exactly one (within 15 s). */
  private static RouterService awaitOneOwner(List<RouterService> nodes, String name) throws Exception {
    List<RouterService> found = ConsumeHttpSupport.await("one owner of " + name, () -> owners(nodes, name),
        l -> l.size() == 1);
    return found.get(0);
  }

  static void awaitUpAndReady(List<RouterService> nodes, int members) throws Exception {
    for (RouterService n : nodes) {
      ConsumeHttpSupport.await(n.baseUrl() + " an Up member of " + members + " and ready", () -> {
        long up = 0;
        for (org.apache.pekko.cluster.Member m : Cluster.get(n.system()).state().getMembers()) {
          if (m.status() == MemberStatus.up()) up++;
        }
        return up == members && HttpTestSupport.get(n, "/health/ready").statusCode() == 200;
      }, ok -> ok);
    }
  }

  @Test
  void everySubscriptionHasOneOwnerAnyNodeServesItsCallsAndASurvivorTakesItOver() throws Exception {
    int seedPort = freePort();
    List<RouterService> nodes = new ArrayList<>();
    MessageChecker pushed = new MessageChecker();
    MessageChecker pulled = new MessageChecker();
    // the calls of the hand-over take a while, so that some are on the wire when the owner starts to leave
    try (WebhookReceiver hook = WebhookReceiver.start(8, c -> {
      if ("during".equals(c.body().path("payload").path("tag").asText())) Thread.sleep(800); // within the webhook's 1,000 ms timeout
      return 200;
    })) {
      nodes.add(RouterService.start(SYSTEM, config(seedPort, seedPort)));
      nodes.add(RouterService.start(SYSTEM, config(0, seedPort)));
      nodes.add(RouterService.start(SYSTEM, config(0, seedPort)));
      awaitUpAndReady(nodes, 3);

      // a webhook created on one node runs on exactly one node, at once
      RouterClient.Reply created = new RouterClient(nodes.get(0)).createSubscription(new RouterClient.Subscription(
          "cl-hook", "cl.orders", new RouterClient.Webhook(hook.url(), 1000, 4)));
      assertEquals(201, created.status(), created.body());
      RouterService hookOwner = awaitOneOwner(nodes, "cl-hook");
      List<String> first = new ArrayList<>();
      for (RouterService n : nodes) first.addAll(ConsumeHttpSupport.publish(n, "cl.orders", 10, "first", pushed));
      ConsumeHttpSupport.await("the first 30 pushed", () -> first.stream().filter(id -> hook.okFor(id) == 0).toList(),
          List::isEmpty);
      for (String id : first) pushed.delivered(id);
      assertEquals(1, owners(nodes, "cl-hook").size(), "still one owner");

      // a pull subscription: pulled, nacked and acked through nodes that do not own it
      ConsumeHttpSupport.createPull(nodes.get(1), "cl-pull", "cl.jobs");
      RouterService pullOwner = awaitOneOwner(nodes, "cl-pull");

      // the admin API shows the members and which node owns each subscription, the same on every node
      String hookOwnerAddress = Cluster.get(awaitOneOwner(nodes, "cl-hook").system()).selfMember().address()
          .toString();
      String pullOwnerAddress = Cluster.get(pullOwner.system()).selfMember().address().toString();
      for (RouterService n : nodes) {
        RouterClient.Reply view = new RouterClient(n).get("/v1/cluster");
        assertEquals(200, view.status(), view.body());
        assertTrue(view.get("enabled").asBoolean(), view.body());
        assertEquals(3, view.get("members").size(), view.body());
        assertEquals(0, view.get("unreachable").size(), view.body());
        assertEquals(hookOwnerAddress, view.get("owners").get("cl-hook").asText(), view.body());
        assertEquals(pullOwnerAddress, view.get("owners").get("cl-pull").asText(), view.body());
        String metrics = HttpTestSupport.get(n, "/metrics").body();
        assertTrue(metrics.contains("redis_router_cluster_members{status=\"up\"} 3.0"), metrics);
      }
      int ownedTotal = 0;
      for (RouterService n : nodes) {
        String metrics = HttpTestSupport.get(n, "/metrics").body();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^redis_router_subscriptions_owned (\\S+)$")
            .matcher(metrics);
        assertTrue(m.find(), metrics);
        ownedTotal += (int) Double.parseDouble(m.group(1));
      }
      assertEquals(2, ownedTotal, "each subscription counted once, on its owner's node");
      List<RouterService> others = new ArrayList<>(nodes);
      others.remove(pullOwner);
      List<String> jobs = ConsumeHttpSupport.publish(nodes.get(2), "cl.jobs", 20, "jobs", pulled);
      Set<String> seen = new HashSet<>();
      List<JsonNode> got = ConsumeHttpSupport.pullUntil(others.get(0), "cl-pull", l -> !l.isEmpty());
      JsonNode nacked = got.get(0);
      JsonNode nackReply = ConsumeHttpSupport.nack(others.get(1), "cl-pull", nacked.get("deliveryId").asText(),
          "try again", false);
      assertEquals(1, nackReply.get("nacked").asInt(), "the nack reached the owner: " + nackReply);
      List<JsonNode> rest = new ArrayList<>(got.subList(1, got.size()));
      boolean again = false;
      long until = System.nanoTime() + ConsumeHttpSupport.WAIT.toNanos();
      while ((!again || seen.size() + rest.size() < jobs.size()) && System.nanoTime() < until) {
        for (JsonNode d : ConsumeHttpSupport.pull(others.get(1), "cl-pull", 50, 500)) {
          if (ConsumeHttpSupport.messageId(d).equals(ConsumeHttpSupport.messageId(nacked))) {
            again = true;
            assertEquals(2, d.get("attempt").asInt(), "the nacked one again, as attempt 2: " + d);
          }
          rest.add(d);
        }
        for (JsonNode d : rest) {
          seen.add(ConsumeHttpSupport.messageId(d));
          pulled.delivered(ConsumeHttpSupport.messageId(d));
        }
        ConsumeHttpSupport.ackAll(others.get(0), "cl-pull", rest);
        rest.clear();
      }
      assertTrue(again, "the nacked delivery came again");
      assertEquals(new HashSet<>(jobs), seen, "every job pulled through the other nodes");
      ConsumeHttpSupport.awaitNothingPending(others.get(0), "cl-pull");

      // server-sent events on a node that does not own the subscription
      List<String> streamed = ConsumeHttpSupport.publish(nodes.get(0), "cl.jobs", 5, "events", pulled);
      try (EventsHttpIT.Sse sse = new EventsHttpIT.Sse(others.get(1), "cl-pull", null)) {
        assertEquals(200, sse.response.statusCode());
        List<EventsHttpIT.Event> events = sse.take(5);
        Set<String> ids = new HashSet<>();
        List<String> deliveryIds = new ArrayList<>();
        for (EventsHttpIT.Event e : events) {
          ids.add(e.json().get("messageId").asText());
          deliveryIds.add(e.json().get("deliveryId").asText());
          pulled.delivered(e.json().get("messageId").asText());
        }
        assertEquals(new HashSet<>(streamed), ids, "the 5 streamed by a node that does not own the subscription");
        ConsumeHttpSupport.ack(others.get(0), "cl-pull", deliveryIds);
      }
      ConsumeHttpSupport.awaitNothingPending(others.get(0), "cl-pull");

      // the webhook's owner leaves while calls are on the wire: it lets them finish and leaves before a survivor
      // takes the subscription over and pushes what follows (the owner now: sharding may have moved it meanwhile,
      // rebalancing after the last node joined)
      hookOwner = awaitOneOwner(nodes, "cl-hook");
      String oldNode = hookOwner.runtime().settings().nodeId();
      List<RouterService> survivors = new ArrayList<>(nodes);
      survivors.remove(hookOwner);
      // as many as the webhook's parallelism: all on the wire at once (deliveries still waiting for a call slot when a
      // pusher leaves stay pending for its node and are taken over after the ack timeout)
      List<String> during = ConsumeHttpSupport.publish(survivors.get(0), "cl.orders", 4, "during", pushed);
      ConsumeHttpSupport.await("calls on the wire before the stop", hook::inFlight, n -> n >= 4);
      int onTheWire = hook.inFlight();
      long stopping = System.nanoTime();
      List<String> drained;
      try (io.redisrouter.testkit.LogCapture logs = io.redisrouter.testkit.LogCapture.start()) {
        hookOwner.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
        drained = logs.linesContaining("call(s) in flight are let finish");
      }
      // the hand-over happened while calls were on the wire (else this test shows nothing about it)
      assertEquals(1, drained.size(), "the leaving pusher let its calls in flight finish: " + drained);
      nodes.remove(hookOwner);
      List<String> second = new ArrayList<>();
      for (RouterService n : survivors) second.addAll(ConsumeHttpSupport.publish(n, "cl.orders", 15, "second", pushed));
      List<String> afterFirst = union(during, second);
      ConsumeHttpSupport.await("the next 34 pushed", () -> afterFirst.stream().filter(id -> hook.okFor(id) == 0)
          .toList(), List::isEmpty);
      long takeoverMs = (System.nanoTime() - stopping) / 1_000_000;
      for (String id : afterFirst) pushed.delivered(id);
      RouterService newOwner = awaitOneOwner(survivors, "cl-hook");
      assertTrue(survivors.contains(newOwner), "a survivor owns it");
      ConsumeHttpSupport.awaitNothingPending(newOwner, "cl-hook");
      int duplicates = 0;
      for (String id : union(first, afterFirst)) {
        if (hook.okFor(id) > 1) duplicates++;
      }
      // one node pushes at a time: every call of the node that left was answered before another node's first call
      // of the hand-over came in
      long oldLastAnswer = hook.answered().stream().filter(a -> oldNode.equals(a.call().node()))
          .mapToLong(WebhookReceiver.Answered::answeredNanos).max().orElseThrow();
      long newFirstCall = hook.calls().stream().filter(c -> !oldNode.equals(c.node()) && c.receivedNanos() > stopping)
          .mapToLong(WebhookReceiver.Call::receivedNanos).min().orElseThrow();
      log.info("ClusteredHttpIT: webhook owner {} left with {} calls on the wire; its last answer came {} ms before"
          + " the next owner's first call; all pushed again {} ms after its stop began; pushed twice {}", oldNode,
          onTheWire, (newFirstCall - oldLastAnswer) / 1_000_000, takeoverMs, duplicates);
      pushed.logReport("ClusteredHttpIT webhook");
      pulled.logReport("ClusteredHttpIT pull");
      assertEquals(0, pushed.report().lost(), "lost (webhook)");
      assertEquals(0, pulled.report().lost(), "lost (pull)");
      assertTrue(oldLastAnswer < newFirstCall, "the old owner's calls ended "
          + (oldLastAnswer - newFirstCall) / 1_000_000 + " ms after the new owner's first call: two owners at once");
      assertEquals(0, duplicates, "a graceful leave pushes nothing twice");
    } finally {
      for (RouterService n : nodes) n.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  private static List<String> union(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }
}
