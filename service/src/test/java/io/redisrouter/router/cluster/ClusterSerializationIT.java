package io.redisrouter.router.cluster;

import ch.qos.logback.classic.Level;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.ClusterSettings;
import io.redisrouter.protocol.ClusterMessage;
import io.redisrouter.testkit.LogCapture;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;

import java.io.Serializable;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Remoting done safely: between two cluster nodes, a {@link ClusterMessage} crosses (Jackson CBOR); a class that is
 * not one is refused, also one that is {@link Serializable} (Java serialization is off).
 */
class ClusterSerializationIT {
  /** Crosses nodes. */
  public record Ping(String text, int n) implements ClusterMessage {}

  /** Not a cluster message: no serializer is bound to it. */
  public record Unbound(String text) {}

  /** Java-serializable, which cluster mode refuses all the same. */
  public record JavaSerializable(String text) implements Serializable {}

  @Test
  void onlyClusterMessagesCrossNodes() throws Exception {
    int seed = freePort();
    ActorSystem<Void> a = node(seed, seed);
    ActorSystem<Void> b = node(0, seed);
    try {
      TestProbe<Object> probe = TestProbe.create(b);
      probe.awaitAssert(Duration.ofSeconds(20), () -> {
        assertEquals(2, java.util.stream.StreamSupport.stream(Cluster.get(a).state().getMembers().spliterator(), false)
            .filter(m -> m.status() == MemberStatus.up()).count(), "both nodes Up");
        return null;
      });
      // a reference to b's probe, as a's side sees it after it crossed the wire
      ActorRef<Object> remote = ActorRefResolver.get(a).resolveActorRef(ActorRefResolver.get(b)
          .toSerializationFormat(probe.getRef()));

      remote.tell(new Ping("hello", 7));
      assertEquals(new Ping("hello", 7), probe.receiveMessage(Duration.ofSeconds(10)), "a ClusterMessage crosses");

      try (LogCapture logs = LogCapture.everything(Level.WARN)) {
        remote.tell(new Unbound("not bound"));
        remote.tell(new JavaSerializable("java"));
        remote.tell(new Ping("after", 8)); // the connection goes on
        assertEquals(new Ping("after", 8), probe.receiveMessage(Duration.ofSeconds(10)),
            "only the cluster message arrives; the two before it were refused");
        // Pekko logs the refusals through its event stream, so the lines may come a moment after the Ping
        probe.awaitAssert(Duration.ofSeconds(5), () -> {
          List<String> refused = logs.linesContaining("Failed to serialize");
          assertTrue(refused.stream().anyMatch(l -> l.contains(Unbound.class.getName())), logs.lines()::toString);
          assertTrue(refused.stream().anyMatch(l -> l.contains(JavaSerializable.class.getName())),
              logs.lines()::toString);
          return null;
        });
      }
      probe.expectNoMessage(Duration.ofMillis(200));
      assertFalse(a.settings().config().getBoolean("pekko.actor.allow-java-serialization"));
    } finally {
      b.terminate();
      a.terminate();
      b.getWhenTerminated().toCompletableFuture().get();
      a.getWhenTerminated().toCompletableFuture().get();
    }
  }

  private static ActorSystem<Void> node(int port, int seedPort) {
    ClusterSettings cluster = new ClusterSettings(true, "127.0.0.1", port, List.of("127.0.0.1:" + seedPort),
        Duration.ofSeconds(5), Duration.ofSeconds(1));
    return ActorSystem.create(Behaviors.empty(), "serialization-it", cluster.pekkoConfig("serialization-it")
        .withFallback(ConfigFactory.parseString("pekko.cluster.jmx.multi-mbeans-in-same-jvm = on"))
        .withFallback(ConfigFactory.load()));
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
