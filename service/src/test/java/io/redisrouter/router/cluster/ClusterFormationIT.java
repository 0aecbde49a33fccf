package io.redisrouter.router.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.http.HttpTestSupport;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cluster mode (redis-router.cluster): three router services in one JVM on one Redis form a Pekko Cluster through
 * their seed node; a node that is not an Up member is not ready; a node that stops leaves the cluster gracefully
 * (removed, never seen unreachable).
 */
class ClusterFormationIT {
  private static final Logger log = LoggerFactory.getLogger(ClusterFormationIT.class);
  /** The actor system name: the same on every node of one cluster. */
  private static final String SYSTEM = "redis-router-cluster-it";

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  @Test
  void threeNodesFormAClusterANonMemberIsNotReadyAndAStoppingNodeLeaves() throws Exception {
    int seedPort = freePort();
    List<RouterService> nodes = new ArrayList<>();
    try {
      // b starts first: its seed node does not run yet, so it is no member and must not be ready
      RouterService b = RouterService.start(SYSTEM, config(0, seedPort));
      nodes.add(b);
      assertTrue(await("b connected to Redis and answering 503", () -> {
        HttpResponse<String> r = ready(b);
        return r.statusCode() == 503 && "up".equals(HttpTestSupport.json(r).get("redis").get("default").asText());
      }, Duration.ofSeconds(15)), () -> "b: " + readyBody(b));
      JsonNode notMember = HttpTestSupport.json(ready(b));
      assertTrue(notMember.get("cluster").asText().startsWith("not up: "), notMember.toString());
      assertEquals("up", notMember.get("redis").get("default").asText(), "not ready for its membership alone");

      long started = System.nanoTime();
      RouterService a = RouterService.start(SYSTEM, config(seedPort, seedPort)); // the seed: forms the cluster
      nodes.add(0, a);
      RouterService c = RouterService.start(SYSTEM, config(0, seedPort));
      nodes.add(c);
      for (RouterService n : nodes) {
        assertTrue(await(n.baseUrl() + " ready as an Up member", () -> upMembers(n) == 3 && isReady(n),
            Duration.ofSeconds(30)), n.baseUrl() + " sees " + upMembers(n) + " Up members");
        assertEquals("up", HttpTestSupport.json(ready(n)).get("cluster").asText());
      }
      log.info("ClusterFormationIT: 3 nodes Up {} ms after the seed started",
          (System.nanoTime() - started) / 1_000_000);

      // c stops: CoordinatedShutdown leaves the cluster first, so a and b see it removed, not unreachable
      List<Member> unreachable = new java.util.concurrent.CopyOnWriteArrayList<>();
      org.apache.pekko.actor.typed.ActorRef<ClusterEvent.UnreachableMember> recorder = a.system().systemActorOf(
          Behaviors.receive(ClusterEvent.UnreachableMember.class)
              .onMessage(ClusterEvent.UnreachableMember.class, u -> {
                unreachable.add(u.member());
                return Behaviors.same();
              })
              .build(),
          "unreachable-recorder", org.apache.pekko.actor.typed.Props.empty());
      Cluster.get(a.system()).subscriptions().tell(Subscribe.create(recorder, ClusterEvent.UnreachableMember.class));
      long stopping = System.nanoTime();
      c.stop().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
      nodes.remove(c);
      assertTrue(await("c removed from a's view", () -> Cluster.get(a.system()).state().members().size() == 2,
          Duration.ofSeconds(15)), "members seen by a: " + Cluster.get(a.system()).state().members());
      long leftMs = (System.nanoTime() - stopping) / 1_000_000;
      assertTrue(unreachable.isEmpty(), "a left node is never unreachable: " + unreachable);
      assertTrue(isReady(a) && isReady(b), "the two left are still ready");
      log.info("ClusterFormationIT: c stopped and was removed from a's view after {} ms, unreachable 0", leftMs);
    } finally {
      for (RouterService n : nodes) n.stop().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
    }
  }

  private static com.typesafe.config.Config config(int port, int seedPort) {
    return HttpTestSupport.config(redis.server(), "redis-router.cluster { enabled = true, host = \"127.0.0.1\","
        + " port = " + port + ", seed-nodes = [\"127.0.0.1:" + seedPort + "\"], stable-after = 5s }\n"
        + "pekko.cluster.jmx.multi-mbeans-in-same-jvm = on"); // three nodes in one JVM
  }

  private static long upMembers(RouterService n) {
    int up = 0;
    for (Member m : Cluster.get(n.system()).state().getMembers()) if (m.status() == MemberStatus.up()) up++;
    return up;
  }

  private static HttpResponse<String> ready(RouterService n) throws Exception {
    return HttpTestSupport.get(n, "/health/ready");
  }

  private static String readyBody(RouterService n) {
    try {
      return ready(n).body();
    } catch (Exception e) {
      return e.toString();
    }
  }

  private static boolean isReady(RouterService n) {
    try {
      return ready(n).statusCode() == 200;
    } catch (Exception e) {
      return false;
    }
  }

  /** Polls {@code condition} every 50 ms until it holds (true) or {@code max} passed (false). */
  private static boolean await(String what, CheckedCondition condition, Duration max) throws Exception {
    long deadline = System.nanoTime() + max.toNanos();
    while (!condition.holds()) {
      if (System.nanoTime() > deadline) {
        log.warn("ClusterFormationIT: not within {}: {}", max, what);
        return false;
      }
      Thread.sleep(50); // polling a condition with a deadline
    }
    return true;
  }

  interface CheckedCondition {
    boolean holds() throws Exception;
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

}
