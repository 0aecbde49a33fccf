package io.redisrouter.router.delivery;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisConnectionActor;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A channel janitor that fails (an exception in a message handler, as a bug would throw) is restarted with backoff,
 * logged as a WARN and counted in {@code failures_recovered}; the new incarnation applies the channel's retention
 * again. Before, the janitor's own supervision restarted it silently (no log, no count), after a 1 s backoff.
 */
class ChannelJanitorSupervisionIT {
  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();
  static ActorTestKit kit;
  static ClientResources resources;
  static RouterSettings settings;
  static RedisHandle handle;
  static RedisClient client;
  static StatefulRedisConnection<String, String> connection;

  @BeforeAll
  static void start() {
    kit = ActorTestKit.create();
    resources = DefaultClientResources.builder().ioThreadPoolSize(1).computationThreadPoolSize(1).build();
    settings = RouterTestSupport.settings(redis.server(),
        "channels.defaults.retention { max-length = 5, trim-interval = 200ms }");
    handle = new RedisHandle("default");
    kit.spawn(RedisConnectionActor.create(settings.redisInstances().get("default"), "janitor-test", resources,
        handle));
    handle.awaitUp(Duration.ofSeconds(10)).toCompletableFuture().join();
    client = RedisClient.create(redis.server().uri());
    connection = client.connect();
  }

  @AfterAll
  static void stop() {
    connection.close();
    client.shutdown();
    kit.shutdownTestKit();
    resources.shutdown(0, 2, TimeUnit.SECONDS);
  }

  /** {@code n} entries added to the channel's stream without trimming, then the janitor told of it. */
  private static void add(String channel, Wakeups wakeups, int n) {
    RedisCommands<String, String> sync = connection.sync();
    for (int i = 0; i < n; i++) sync.xadd(RedisKeys.stream(channel), Map.of("n", Integer.toString(i)));
    wakeups.touch(channel);
  }

  private static long length(String channel) {
    return connection.sync().xlen(RedisKeys.stream(channel));
  }

  @Test
  void aFailedJanitorIsRestartedLoggedAndCountedAndTrimsAgain() {
    String channel = "janitor-supervised";
    RouterMetrics metrics = new RouterMetrics();
    Wakeups wakeups = new Wakeups();
    AtomicBoolean idle = new AtomicBoolean();
    ActorRef<Object> janitor = kit.spawn(ChannelJanitor.create(channel, settings.policyFor(channel),
        settings.consumer(), handle, wakeups, metrics, () -> idle.set(true)));
    TestProbe<String> watcher = kit.createTestProbe();
    kit.spawn(Behaviors.<Object>setup(ctx -> {
      ctx.watch(janitor);
      return Behaviors.receiveSignal((c, sig) -> {
        if (sig instanceof Terminated) watcher.ref().tell("terminated");
        return Behaviors.same();
      });
    }));
    TestProbe<Object> probe = kit.createTestProbe();

    // before the failure: the janitor trims to max-length (the threshold is approximate: at most a radix node more)
    add(channel, wakeups, 200);
    probe.awaitAssert(Duration.ofSeconds(5), () -> {
      assertTrue(length(channel) < 200, "trimmed before the failure: " + length(channel));
      return null;
    });

    try (LogCapture logs = LogCapture.start()) {
      long recoveredBefore = metrics.snapshot().failuresRecovered();
      janitor.tell(new SubscriptionActor.InjectedFailure("test"));
      // the fault happened and was handled: logged, counted, and the actor was restarted rather than stopped
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertFalse(logs.linesContaining("janitor of channel '" + channel + "' restarted after a failure").isEmpty(),
            "restart logged");
        return null;
      });
      assertEquals(recoveredBefore + 1, metrics.snapshot().failuresRecovered(), "restart counted");
      watcher.expectNoMessage(Duration.ofMillis(300));

      // the new incarnation listens to the channel again and trims what arrives after the restart
      long before = length(channel);
      add(channel, wakeups, 300);
      assertTrue(length(channel) >= before + 300, "entries added untrimmed");
      probe.awaitAssert(Duration.ofSeconds(5), () -> {
        assertTrue(length(channel) < 200, "trimmed after the restart: " + length(channel));
        return null;
      });
    }
    assertFalse(idle.get(), "a channel with entries is never reported idle");
    kit.stop(janitor);
  }
}
