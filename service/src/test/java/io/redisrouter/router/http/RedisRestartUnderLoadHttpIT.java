package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.testkit.LogCapture;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The new user's story of the robust-core issue: a Redis without persistence is killed (SIGKILL) and started again
 * under a steady publish load, with an embedded subscriber, a webhook and a pull subscription on the channel. Every
 * message accepted after Redis came back reaches all three (lost = 0 for those); the HTTP subscriptions still exist;
 * what Redis lost with the crash (accepted before it, never delivered) is counted and reported, not hidden.
 */
class RedisRestartUnderLoadHttpIT {
  private static final Logger log = LoggerFactory.getLogger(RedisRestartUnderLoadHttpIT.class);
  private static final String CHANNEL = "restart-load";
  /** Its Redis has no persistence: save "" and no AOF, this machine's default. */
  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("restart-load")
      .config("redis-router.http.subscription-refresh = 500ms\n");

  /** Message id to when its Accepted reply came (nanos), for every accepted publish. */
  private final Map<String, Long> acceptedAt = new ConcurrentHashMap<>();

  @Test
  void afterAKillWithoutPersistenceEveryMessageAcceptedOnceRedisIsBackIsDelivered() throws Exception {
    Set<String> embedded = ConcurrentHashMap.newKeySet();
    Set<String> pulled = ConcurrentHashMap.newKeySet();
    WebhookReceiver hook = WebhookReceiver.start(8, c -> 200);
    AtomicBoolean publishing = new AtomicBoolean(true);
    AtomicBoolean pulling = new AtomicBoolean(true);
    LongAdder refused = new LongAdder();
    try (LogCapture logs = LogCapture.start(); hook) {
      HttpResponse<String> created = HttpTestSupport.post(node.service(), "/v1/subscriptions", "{\"name\": \"rl-hook\","
          + " \"channel\": \"" + CHANNEL + "\", \"webhook\": {\"url\": \"" + hook.url() + "\", \"timeoutMs\": 2000}}");
      assertEquals(201, created.statusCode(), created.body());
      ConsumeHttpSupport.createPull(node.service(), "rl-pull", CHANNEL);
      ActorRef<Delivery> sub = node.kit().spawn(RouterTestSupport.acking(d -> embedded.add(d.envelope().id())));
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(node.kit(), node.service().runtime().router(), CHANNEL, "rl-embedded", sub));

      Thread publisher = new Thread(() -> {
        for (int i = 0; publishing.get(); i++) {
          String id = String.format("m-%05d", i);
          try {
            PublishReply r = node.service().runtime().publish(PublishRequest.of(CHANNEL,
                RouterTestSupport.payload(id, 32)).withMessageId(id).withTimeToLive(Duration.ofMinutes(2)))
                .toCompletableFuture().get(20, TimeUnit.SECONDS);
            if (r instanceof PublishReply.Accepted) acceptedAt.put(id, System.nanoTime());
            else
              refused.increment();
          } catch (Exception e) {
            refused.increment();
          }
          java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(5).toNanos()); // ~150 a second
        }
      }, "restart-load-publisher");
      Thread puller = new Thread(() -> {
        while (pulling.get()) {
          try {
            List<JsonNode> got = ConsumeHttpSupport.pull(node.service(), "rl-pull", 100, 300);
            for (JsonNode d : got) pulled.add(ConsumeHttpSupport.messageId(d));
            ConsumeHttpSupport.ackAll(node.service(), "rl-pull", got);
          } catch (Throwable e) {
            java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // Redis is down
          }
        }
      }, "restart-load-puller");
      publisher.start();
      puller.start();

      awaitCondition(Duration.ofSeconds(10), () -> embedded.size() >= 200 && pulled.size() >= 200
          && hook.okById().size() >= 200);
      long pidBefore = node.redis().pid();
      long lengthBefore = node.redis().callLong("XLEN", io.redisrouter.router.redis.RedisKeys.stream(CHANNEL));
      long crash = System.nanoTime();
      node.redis().kill9();
      Thread.sleep(1000); // Redis stays down for a second
      node.redis().restart();
      long up = System.nanoTime();
      assertTrue(node.redis().pid() != pidBefore, "a new redis-server process");
      long lengthAfter = node.redis().callLong("XLEN", io.redisrouter.router.redis.RedisKeys.stream(CHANNEL));
      assertTrue(lengthBefore >= 200 && lengthAfter < lengthBefore, "Redis lost the stream: " + lengthBefore
          + " entries before the kill, " + lengthAfter + " after the restart");
      Thread.sleep(6000); // the load goes on for 6 s after Redis came back
      publishing.set(false);
      publisher.join(30_000);

      List<String> after = acceptedAt.entrySet().stream().filter(e -> e.getValue() > up).map(Map.Entry::getKey)
          .sorted().toList();
      List<String> before = acceptedAt.entrySet().stream().filter(e -> e.getValue() < crash)
          .map(Map.Entry::getKey).sorted().toList();
      assertTrue(after.size() >= 300, "messages accepted after Redis came back: " + after.size());
      awaitCondition(Duration.ofSeconds(30), () -> embedded.containsAll(after) && pulled.containsAll(after)
          && hook.okById().keySet().containsAll(after));
      pulling.set(false);
      puller.join(10_000);

      // the HTTP subscriptions still exist, and the restore was counted
      assertEquals(200, HttpTestSupport.get(node.service(), "/v1/subscriptions/rl-hook").statusCode());
      assertEquals(200, HttpTestSupport.get(node.service(), "/v1/subscriptions/rl-pull").statusCode());
      String metrics = HttpTestSupport.get(node.service(), "/metrics").body();
      assertTrue(metrics.lines().anyMatch(l -> l.startsWith("redis_router_redis_state_restored_total")
          && l.contains("what=\"consumer-group\"") && !l.trim().endsWith(" 0.0")), metrics);
      assertTrue(logs.linesContaining("had lost consumer group").size() > 0, "the restore is a WARN");

      // what Redis lost with the crash: accepted before it and never delivered, counted per consumer
      long lostEmbedded = before.stream().filter(id -> !embedded.contains(id)).count();
      long lostPull = before.stream().filter(id -> !pulled.contains(id)).count();
      long lostHook = before.stream().filter(id -> !hook.okById().containsKey(id)).count();
      long lostAfter = after.stream().filter(id -> !embedded.contains(id) || !pulled.contains(id)
          || !hook.okById().containsKey(id)).count();
      log.info("redis kill -9 without persistence under load: accepted {} ({} before the crash, {} after Redis came"
          + " back), refused or expired during the outage {}; accepted after the restart and lost: {}; accepted"
          + " before the crash and lost with Redis: embedded {}, pull {}, webhook {}", acceptedAt.size(),
          before.size(), after.size(), refused.sum(), lostAfter, lostEmbedded, lostPull, lostHook);
      assertEquals(0, lostAfter, "lost among the messages accepted after Redis came back");
    } finally {
      publishing.set(false);
      pulling.set(false);
    }
  }

  private static void awaitCondition(Duration within, java.util.function.BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + within.toNanos();
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "condition not met within " + within);
      Thread.sleep(50); // polling a condition with a deadline
    }
  }
}
