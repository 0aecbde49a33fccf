package io.redisrouter.router.publish;

import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.delivery.Wakeups;
import io.redisrouter.router.redis.RedisConnectionActor;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.Materializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An exception while a publish is written (here: looking up its Redis instance throws, as a bug would) is answered
 * {@code unavailable} for that message alone; the other messages of its batch are written, and the ingress goes on
 * taking publishes. Before, the exception failed the ingress stream: that batch was never answered and every later
 * publish was refused as if the router were shutting down.
 */
class IngressResilienceIT {
  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();
  // a connection actor on its own client resources, no router: stopped before the class's Redis closes
  static ActorTestKit kit;
  static ClientResources resources;
  static RouterSettings settings;
  static RedisHandle handle;

  @BeforeAll
  static void start() {
    kit = ActorTestKit.create();
    resources = DefaultClientResources.builder().ioThreadPoolSize(1).computationThreadPoolSize(1).build();
    settings = RouterTestSupport.settings(redis.server(), """
        redis.instances.poisoned { uri = "%s" }
        channels.overrides.poison { redis-instance = poisoned }
        """.formatted(redis.server().uri()));
    handle = new RedisHandle("default");
    kit.spawn(RedisConnectionActor.create(settings.redisInstances().get("default"), "ingress-test", resources,
        handle));
    handle.awaitUp(Duration.ofSeconds(10)).toCompletableFuture().join();
  }

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
    resources.shutdown(0, 2, TimeUnit.SECONDS);
  }

  private static CompletableFuture<PublishReply> offer(PublishIngress ingress, String channel, String id) {
    Instant now = Instant.now();
    Envelope e = new Envelope(id, channel, null, RouterTestSupport.payload(id, 16), null, Map.of(), now,
        now.plusSeconds(30), 0);
    CompletableFuture<PublishReply> reply = new CompletableFuture<>();
    assertEquals(PublishIngress.Offer.ENQUEUED,
        ingress.offer(new PublishIngress.Pending(e, settings.policyFor(channel), false, reply::complete)));
    return reply;
  }

  @Test
  void anExceptionInABatchIsAnsweredForThatMessageAndTheIngressGoesOn() {
    RouterMetrics metrics = new RouterMetrics();
    PublishIngress ingress = new PublishIngress(settings.ingress(), settings.dedupWindow(), Duration.ofSeconds(1),
        instance -> {
          if (instance.equals("poisoned")) throw new IllegalStateException("a bug while writing a batch");
          return handle;
        }, new Wakeups(), metrics, kit.system().scheduler(), kit.system().executionContext(),
        Materializer.createMaterializer(kit.system()));
    try (LogCapture logs = LogCapture.start()) {
      // one batch: good messages around a poisoned one (offered at once, so that they are written together)
      List<CompletableFuture<PublishReply>> first = new ArrayList<>();
      for (int i = 0; i < 50; i++) first.add(offer(ingress, "good", "g1-" + i));
      CompletableFuture<PublishReply> poisoned = offer(ingress, "poison", "p-1");
      for (int i = 0; i < 50; i++) first.add(offer(ingress, "good", "g2-" + i));

      PublishReply bad = poisoned.orTimeout(5, TimeUnit.SECONDS).join();
      PublishReply.Rejected rejected = assertInstanceOf(PublishReply.Rejected.class, bad, bad::toString);
      assertEquals(PublishReply.RejectReason.UNAVAILABLE, rejected.reason());
      assertTrue(rejected.message().contains("nothing was written"), rejected.message());
      for (CompletableFuture<PublishReply> f : first) {
        PublishReply r = f.orTimeout(5, TimeUnit.SECONDS).join();
        assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
      }
      // the fault was seen and counted
      assertEquals(1, metrics.snapshot().failuresRecovered());
      assertTrue(logs.linesContaining("answering it unavailable").size() > 0, "logged");

      // the ingress still runs: later publishes are written
      assertTrue(ingress.isRunning(), "ingress stream running");
      for (int i = 0; i < 100; i++) {
        PublishReply r = offer(ingress, "good", "later-" + i).orTimeout(5, TimeUnit.SECONDS).join();
        assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
      }
      assertEquals(200L, redis.server().callLong("XLEN", io.redisrouter.router.redis.RedisKeys.stream("good")));
    } finally {
      ingress.complete().toCompletableFuture().orTimeout(5, TimeUnit.SECONDS).join();
    }
    assertTrue(!ingress.isRunning() && ingress.stoppedReason().contains("completed"), ingress.stoppedReason());
  }
}
