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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A crash that is a crash: a router node in a process of its own ({@link CrashableNode}) holds 100 deliveries
 * unanswered and is killed with SIGKILL (no shutdown, no unsubscribe, its sockets cut by the kernel). A node in this
 * JVM then takes over what the dead one left pending (XAUTOCLAIM, once idle past the 1 s ack timeout) and delivers
 * it: lost = 0, nothing pending at the end, nothing dead-lettered.
 */
class ProcessCrashReclaimIT {
  private static final Logger log = LoggerFactory.getLogger(ProcessCrashReclaimIT.class);
  private static final String CHANNEL = "process-crash";
  private static final String SUBSCRIPTION = "workers";
  private static final int TOTAL = 100;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create().withKit("survivor");

  @Test
  void whatAKilledProcessHeldIsTakenOverAndDelivered() throws Exception {
    Set<String> held = ConcurrentHashMap.newKeySet();
    AtomicBoolean subscribed = new AtomicBoolean();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process node = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
        CrashableNode.class.getName(), redis.server().uri(), "node-doomed", CHANNEL, SUBSCRIPTION)
        .redirectErrorStream(true).start();
    Thread reader = new Thread(() -> {
      try (
          BufferedReader r = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null;) {
          if (line.equals("SUBSCRIBED")) subscribed.set(true);
          else if (line.startsWith("HELD ")) held.add(line.substring(5));
        }
      } catch (java.io.IOException e) {
        // the process died: its output ends
      }
    }, "crashable-node-output");
    reader.setDaemon(true);
    reader.start();
    MessageChecker checker = new MessageChecker();
    TestProbe<Object> probe = redis.kit().createTestProbe();
    try {
      probe.awaitAssert(Duration.ofSeconds(30), () -> {
        assertTrue(subscribed.get(), "the node in the other process subscribed");
        return null;
      });
      ActorRef<RouterCommand> publisher = redis.kit()
          .spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(),
              "node-id = node-publisher")), "publisher");
      for (int i = 0; i < TOTAL; i++) {
        String id = String.format("x-%03d", i);
        checker.sent(id);
        PublishReply r = RouterTestSupport.publish(redis.kit(), publisher, PublishRequest.of(CHANNEL,
            RouterTestSupport.payload(id, 32)).withMessageId(id));
        assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
        checker.accepted(id);
      }
      probe.awaitAssert(Duration.ofSeconds(15), () -> {
        assertEquals(TOTAL, held.size(), "deliveries held by the node in the other process");
        return null;
      });
      long pendingBefore = (Long) redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION).get(0);
      assertEquals(TOTAL, pendingBefore, "pending under the doomed node");

      node.destroyForcibly(); // SIGKILL
      assertTrue(node.waitFor(10, TimeUnit.SECONDS), "the process died");
      assertEquals(137, node.exitValue(), "killed by SIGKILL (128 + 9)");
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertEquals(0, redis.server().clientCount("rr:node-doomed:"),
            () -> "its connections are gone: " + redis.server().clients());
        return null;
      });

      RouterMetrics metrics = new RouterMetrics();
      ActorRef<RouterCommand> survivor = redis.kit()
          .spawn(RedisRouter.create(RouterTestSupport.settings(redis.server(), """
              node-id = node-survivor
              channels.defaults.ack-timeout = 1s
              channels.defaults.max-attempts = 50
              """), metrics), "survivor");
      ActorRef<Delivery> sub = redis.kit().spawn(RouterTestSupport.acking(d -> checker.delivered(d.envelope().id())));
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(redis.kit(), survivor, CHANNEL, SUBSCRIPTION, sub));
      long t0 = System.nanoTime();
      probe.awaitAssert(Duration.ofSeconds(20), () -> {
        assertEquals(0, checker.lostIds().size(), () -> "not taken over: " + checker.lostIds());
        List<Object> pending = redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION);
        assertEquals(0L, pending.get(0), "pending: " + pending);
        return null;
      });
      long tookMs = (System.nanoTime() - t0) / 1_000_000;
      MessageChecker.Report report = checker.report();
      checker.logReport("ProcessCrashReclaimIT");
      log.info("ProcessCrashReclaimIT: {} held by the killed process, all taken over and delivered {} ms after the"
          + " survivor subscribed ({} claimed)", held.size(), tookMs, metrics.snapshot().claimed());
      assertTrue(metrics.snapshot().claimed() >= TOTAL, "claimed " + metrics.snapshot().claimed());
      assertTrue(tookMs >= 500, "taken over only once idle past the ack timeout: " + tookMs + " ms");
      assertEquals(0, report.lost(), "lost");
      assertEquals(0L, redis.server().callLong("XLEN", RedisKeys.deadLetters(CHANNEL)), "dead-lettered");
    } finally {
      node.destroyForcibly();
    }
  }
}
