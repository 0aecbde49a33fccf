package io.redisrouter.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.Limits;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RouterSettingsTest {

  private static RouterSettings parse(String hocon) {
    return RouterSettings.load(ConfigFactory.parseString(hocon));
  }

  @Test
  void defaultsLoadFromReferenceConf() {
    RouterSettings s = RouterSettings.load();

    ChannelPolicy d = s.channelDefaults();
    assertEquals(ChannelMode.RELIABLE, d.mode());
    assertEquals("default", d.redisInstance());
    assertEquals(Duration.ofHours(1), d.timeToLive());
    assertEquals(Duration.ofSeconds(30), d.ackTimeout());
    assertEquals(5, d.maxAttempts());
    assertEquals(Duration.ofMillis(200), d.backoffMin());
    assertEquals(Duration.ofSeconds(30), d.backoffMax());
    assertEquals(0.2, d.backoffJitter(), 1e-9);
    assertEquals(64, d.maxInFlight());
    assertEquals(Duration.ofHours(24), d.retentionMaxAge());
    assertEquals(0L, d.retentionMaxLength());
    assertEquals(Duration.ofSeconds(30), d.trimInterval());
    assertEquals(BroadcastDelivery.AT_MOST_ONCE, d.broadcastDelivery());

    assertEquals(new IngressSettings(10_000, 256, 4), s.ingress());
    assertEquals(Duration.ofMinutes(10), s.dedupWindow());
    assertEquals(Limits.DEFAULT, s.limits());
    assertEquals(new ConsumerSettings(Duration.ofMillis(100), Duration.ofSeconds(5), Duration.ofSeconds(5)),
        s.consumer());
    assertTrue(s.channelOverrides().isEmpty());

    RedisInstanceSettings redis = s.redisInstance("default");
    String envUri = System.getenv("ROUTER_REDIS_URI");
    assertEquals(envUri == null ? "redis://127.0.0.1:6379" : envUri, redis.uri());
    if (System.getenv("ROUTER_REDIS_PASSWORD") == null) assertNull(redis.password());
    assertEquals(Duration.ofSeconds(5), redis.connectTimeout());
    assertEquals(Duration.ofSeconds(5), redis.commandTimeout());
    assertEquals(30_000, redis.requestQueueSize());
    assertEquals(Set.of("default"), s.redisInstances().keySet());
    assertTrue(s.underlying().hasPath("redis-router.channels.defaults"));
  }

  @Test
  void emptyNodeIdIsGeneratedAndDiffersPerLoad() {
    RouterSettings a = parse("");
    RouterSettings b = parse("");
    assertTrue(a.nodeId().matches("node-[0-9a-f]{8}"), a.nodeId());
    assertNotEquals(a.nodeId(), b.nodeId());
    assertEquals("router-7", parse("redis-router.node-id = router-7").nodeId());
  }

  @Test
  void overrideIsMergedOverDefaults() {
    RouterSettings s = parse("""
        redis-router.channels.defaults.max-in-flight = 8
        redis-router.channels.overrides {
          "orders.created" { max-attempts = 10, ack-timeout = 5s, backoff.max = 1m }
          "chat:room-1" { mode = broadcast, broadcast-delivery = until-received }
        }
        """);

    ChannelPolicy orders = s.policyFor("orders.created");
    assertEquals(10, orders.maxAttempts());
    assertEquals(Duration.ofSeconds(5), orders.ackTimeout());
    assertEquals(Duration.ofMinutes(1), orders.backoffMax());
    // untouched keys, nested ones included, come from the (overridden) defaults
    assertEquals(Duration.ofMillis(200), orders.backoffMin());
    assertEquals(0.2, orders.backoffJitter(), 1e-9);
    assertEquals(8, orders.maxInFlight());
    assertEquals(ChannelMode.RELIABLE, orders.mode());

    ChannelPolicy chat = s.policyFor("chat:room-1");
    assertEquals(ChannelMode.BROADCAST, chat.mode());
    assertEquals(BroadcastDelivery.UNTIL_RECEIVED, chat.broadcastDelivery());
    assertEquals(5, chat.maxAttempts());

    assertEquals(List.of("chat:room-1", "orders.created"), List.copyOf(s.channelOverrides().keySet()));
    assertEquals(orders, s.channelOverrides().get("orders.created"));
  }

  @Test
  void durabilityIsPrimaryByDefaultAndReplicaPerChannel() {
    RouterSettings s = parse("""
        redis-router.channels.overrides {
          "orders.created" { durability = replica(2), durability-timeout = 250ms }
          "audit" { durability = "replica(1)" }
        }
        """);
    assertEquals(Durability.PRIMARY_ONLY.replicas(), s.channelDefaults().durability().replicas());
    assertFalse(s.channelDefaults().durability().waitsForReplicas());
    assertEquals("primary", s.channelDefaults().durability().configName());
    Durability orders = s.policyFor("orders.created").durability();
    assertEquals(2, orders.replicas());
    assertEquals(Duration.ofMillis(250), orders.timeout());
    assertEquals("replica(2)", orders.configName());
    Durability audit = s.policyFor("audit").durability();
    assertEquals(1, audit.replicas());
    assertEquals(Duration.ofSeconds(1), audit.timeout());
  }

  @Test
  void unconfiguredChannelGetsDefaults() {
    RouterSettings s = parse("""
        redis-router.channels.defaults.max-attempts = 3
        redis-router.channels.overrides { "orders.created" { max-attempts = 10 } }
        """);
    ChannelPolicy other = s.policyFor("payments.settled");
    assertEquals(3, other.maxAttempts());
    assertEquals(s.channelDefaults(), other);
    assertSame(other, s.policyFor("payments.settled"));
    // a prefix of a configured name is a different channel
    assertEquals(3, s.policyFor("orders").maxAttempts());
  }

  @Test
  void envStyleOverrideViaSubstitution() {
    RouterSettings s = parse("""
        REDIS_URL = "rediss://cache.internal:6380/2"
        redis-router.redis.instances.default.uri = ${?REDIS_URL}
        redis-router.redis.instances.default.password = ${?UNSET_ROUTER_TEST_VARIABLE_9f3a}
        redis-router.ingress.queue-size = 42
        """);
    RedisInstanceSettings redis = s.redisInstance("default");
    assertEquals("rediss://cache.internal:6380/2", redis.uri());
    assertTrue(redis.tls());
    assertEquals(42, s.ingress().queueSize());
    assertEquals(256, s.ingress().batchSize());
  }

  @Test
  void addedInstanceTakesDefaultsFromReferenceExceptUriAndPassword() {
    RouterSettings s = parse("""
        redis-router.redis.instances.default.command-timeout = 9s
        redis-router.redis.instances.default.password = secret
        redis-router.redis.instances.cache { uri = "redis://cache:6379", connect-timeout = 2s }
        redis-router.channels.overrides { sessions { redis-instance = cache } }
        """);
    assertEquals(List.of("cache", "default"), List.copyOf(s.redisInstances().keySet()));
    RedisInstanceSettings cache = s.redisInstance("cache");
    assertEquals("redis://cache:6379", cache.uri());
    assertEquals(Duration.ofSeconds(2), cache.connectTimeout());
    assertEquals(Duration.ofSeconds(5), cache.commandTimeout());
    assertNull(cache.password());
    assertEquals(30_000, cache.requestQueueSize());
    assertEquals("secret", s.redisInstance("default").password());
    assertEquals("cache", s.policyFor("sessions").redisInstance());
  }

  @Test
  void unknownInstanceNamesTheConfiguredOnes() {
    RouterSettings s = parse("redis-router.redis.instances.cache.uri = \"redis://cache:6379\"");
    ConfigError e = assertThrows(ConfigError.class, () -> s.redisInstance("nope"));
    assertEquals("redis-router.redis.instances.nope", e.key());
    assertTrue(e.getMessage().contains("cache, default"), e.getMessage());
  }

  @Test
  void limitsAcceptSizes() {
    Limits limits = parse("redis-router.limits { max-payload-bytes = 2MiB, max-headers = 4 }").limits();
    assertEquals(new Limits(2 * 1024 * 1024, 4, 8192), limits);
  }

  @Test
  void toStringHidesPasswords() {
    String shown = parse("""
        redis-router.redis.instances.default { uri = "redis://app:hunter2@db:6379", password = "s3cr3t-pw" }
        """).toString();
    assertTrue(!shown.contains("hunter2") && !shown.contains("s3cr3t-pw"), shown);
    assertTrue(shown.contains("redis://app:***@db:6379"), shown);
  }

  @Test
  void channelOverridesMapIsImmutable() {
    Map<String, ChannelPolicy> overrides = parse("redis-router.channels.overrides { a { max-attempts = 2 } }")
        .channelOverrides();
    assertThrows(UnsupportedOperationException.class, () -> overrides.put("b", overrides.get("a")));
  }
}
