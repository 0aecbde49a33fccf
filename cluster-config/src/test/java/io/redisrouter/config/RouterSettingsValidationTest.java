package io.redisrouter.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every bad value fails with a ConfigError naming the full key and what to use instead. */
class RouterSettingsValidationTest {

  private static final String D = "redis-router.channels.defaults.";
  private static final String O = "redis-router.channels.overrides.\"orders.created\".";

  private static ConfigError fail(String hocon) {
    return assertThrows(ConfigError.class, () -> RouterSettings.load(ConfigFactory.parseString(hocon)));
  }

  static Stream<Arguments> invalid() {
    return Stream.of(
        // hocon, full key, text the message must contain (the allowed values)
        Arguments.of(D + "max-attempts = 0", D + "max-attempts", "= 0 is invalid: use an integer >= 1"),
        Arguments.of(D + "max-attempts = \"many\"", D + "max-attempts", "= many is invalid: use an integer >= 1"),
        Arguments.of(D + "mode = fanout", D + "mode", "use one of reliable, broadcast"),
        Arguments.of(D + "broadcast-delivery = always", D + "broadcast-delivery",
            "use one of at-most-once, until-received"),
        Arguments.of(D + "ack-timeout = 0s", D + "ack-timeout", "use a duration > 0"),
        Arguments.of(D + "ack-timeout = soon", D + "ack-timeout", "use a duration > 0"),
        Arguments.of(D + "time-to-live = -1s", D + "time-to-live", "use a duration > 0"),
        Arguments.of(D + "backoff.min = 0ms", D + "backoff.min", "use a duration > 0"),
        Arguments.of(D + "backoff { min = 5s, max = 1s }", D + "backoff.max", "use a duration >= backoff.min"),
        Arguments.of(D + "backoff.jitter = 1.5", D + "backoff.jitter", "use a number from 0.0 to 1.0"),
        Arguments.of(D + "backoff.jitter = -0.1", D + "backoff.jitter", "use a number from 0.0 to 1.0"),
        Arguments.of(D + "max-in-flight = 0", D + "max-in-flight", "use an integer from 1 to 10000"),
        Arguments.of(D + "max-in-flight = 10001", D + "max-in-flight", "use an integer from 1 to 10000"),
        Arguments.of(D + "retention.max-age = -1h", D + "retention.max-age", "use a duration >= 0"),
        Arguments.of(D + "retention.max-length = -1", D + "retention.max-length", "use an integer >= 0"),
        Arguments.of(D + "redis-instance = missing", D + "redis-instance",
            "use one of the configured instances: default"),
        Arguments.of(D + "max-attemps = 3", D + "max-attemps", "allowed keys are mode, redis-instance"),
        Arguments.of(D + "backoff.maximum = 3s", D + "backoff.maximum", "allowed keys are min, max, jitter"),
        Arguments.of(D + "backoff = 3s", D + "backoff.min", "use a duration > 0"),
        Arguments.of("redis-router.channels.overrides { \"orders.created\" { max-attempts = 0 } }",
            O + "max-attempts", "use an integer >= 1"),
        Arguments.of("redis-router.channels.overrides { \"orders.created\" { redis-instance = other } }",
            O + "redis-instance", "use one of the configured instances: default"),
        Arguments.of("redis-router.channels.overrides { \"orders.created\" { retries = 3 } }",
            O + "retries", "allowed keys are mode, redis-instance, time-to-live"),
        Arguments.of("redis-router.channels.overrides { \"orders.created\" { backoff { min = 1m } } }",
            O + "backoff.max", "= 30s is invalid: use a duration >= backoff.min (1m)"),
        Arguments.of("redis-router.channels.overrides { \"orders.created\" = 5 }",
            "redis-router.channels.overrides.\"orders.created\"", "use an object"),
        Arguments.of("redis-router.channels.overrides { orders.created { max-attempts = 2 } }",
            "redis-router.channels.overrides.orders.created", "quote channel names that contain dots"),
        Arguments.of("redis-router.channels.overrides { \"bad name\" { max-attempts = 2 } }",
            "redis-router.channels.overrides.\"bad name\"", "use a channel name of 1-128 of [A-Za-z0-9._:-]"),
        Arguments.of(D + "durability = \"replica(0)\"", D + "durability",
            "= replica(0) is invalid: use primary (accepted once the Redis primary wrote the message) or"
                + " \"replica(N)\" with N from 1 to 100"),
        Arguments.of(D + "durability = \"replica(-1)\"", D + "durability", "use primary"),
        Arguments.of(D + "durability = \"replica(x)\"", D + "durability", "\"replica(N)\" with N from 1 to 100"),
        Arguments.of(D + "durability = \"replica(101)\"", D + "durability", "with N from 1 to 100"),
        Arguments.of(D + "durability = \"replica()\"", D + "durability", "with N from 1 to 100"),
        Arguments.of(D + "durability = replicas", D + "durability", "= replicas is invalid: use primary"),
        Arguments.of(D + "durability = 1", D + "durability", "= 1 is invalid: use primary"),
        Arguments.of(D + "durability-timeout = 0s", D + "durability-timeout", "use a duration > 0"),
        Arguments.of(D + "durability = \"replica(1)\"\n" + D + "durability-timeout = 3s", D + "durability-timeout",
            "= 3s is invalid: use a duration > 0 and below 3s, e.g. 1s: a WAIT holds the connection's later"
                + " commands"),
        Arguments.of(D + "durability = \"replica(1)\"\n" + D + "mode = broadcast", D + "durability",
            "use primary with mode = broadcast"),
        Arguments.of("redis-router.channels.overrides { \"orders.created\" { durability = \"replica(two)\" } }",
            O + "durability", "\"replica(N)\" with N from 1 to 100"),
        Arguments.of("redis-router.redis.instances.default.command-timeout = 500ms\nredis-router.channels.overrides {"
            + " \"orders.created\" { durability = \"replica(1)\" } }", O + "durability-timeout",
            "below 500ms, e.g. 1s"),
        Arguments.of("redis-router.ingress.queue-size = 0", "redis-router.ingress.queue-size",
            "use an integer >= 1"),
        Arguments.of("redis-router.ingress.batch-size = 0", "redis-router.ingress.batch-size",
            "use an integer >= 1"),
        Arguments.of("redis-router.ingress.max-batches-in-flight = x", "redis-router.ingress.max-batches-in-flight",
            "use an integer >= 1"),
        Arguments.of("redis-router.dedup-window = 0s", "redis-router.dedup-window", "use a duration > 0"),
        Arguments.of("redis-router.limits.max-payload-bytes = 0", "redis-router.limits.max-payload-bytes",
            "use a number of bytes >= 1"),
        Arguments.of("redis-router.consumer.poll-interval = 0s", "redis-router.consumer.poll-interval",
            "use a duration > 0"),
        Arguments.of("redis-router.node-id = \"has space\"", "redis-router.node-id",
            "1-128 of [A-Za-z0-9._:-]"),
        Arguments.of("redis-router.redis.instances.default.uri = \"http://db:6379\"",
            "redis-router.redis.instances.default.uri", "use a URI such as redis://host:6379 or rediss://"),
        Arguments.of("redis-router.redis.instances.default.uri = \"redis://db :6379\"",
            "redis-router.redis.instances.default.uri", "(not a URI): use a URI such as redis://"),
        Arguments.of("redis-router.redis.instances.default.tls = maybe",
            "redis-router.redis.instances.default.tls", "use true or false"),
        Arguments.of("redis-router.redis.instances.default.connect-timeout = 0s",
            "redis-router.redis.instances.default.connect-timeout", "use a duration > 0"),
        Arguments.of("redis-router.redis.instances.default.request-queue-size = 0",
            "redis-router.redis.instances.default.request-queue-size", "use an integer >= 1"),
        Arguments.of("redis-router.redis.instances.default.passwd = x",
            "redis-router.redis.instances.default.passwd", "allowed keys are uri, password, tls"),
        Arguments.of("redis-router.redis.instances.cache { tls = true }",
            "redis-router.redis.instances.cache.uri", "is missing: use a URI such as redis://"),
        Arguments.of("redis-router.redis.instances.default { username = \"ro uter\", password = pw }",
            "redis-router.redis.instances.default.username", "is invalid: use a Redis ACL user name"),
        Arguments.of("redis-router.redis.instances.default.username = router",
            "redis-router.redis.instances.default.username", "= router needs a password: set"
                + " redis-router.redis.instances.default.password (or ROUTER_REDIS_PASSWORD"),
        Arguments.of("redis-router.redis.instances.default { username = router, uri = \"redis://app:pw@db\" }",
            "redis-router.redis.instances.default.username", "differs from the user in"
                + " redis-router.redis.instances.default.uri (app): name the user in one place only"),
        Arguments.of("redis-router.redis.instances.default.tls-ca-file = /etc/ca.pem",
            "redis-router.redis.instances.default.tls-ca-file", "is set but TLS is off for this instance: use a"
                + " rediss:// uri (or tls = true)"),
        Arguments.of("redis-router.redis.instances.default { tls = true, tls-ca-file = \"/no/such/ca.pem\" }",
            "redis-router.redis.instances.default.tls-ca-file", "= /no/such/ca.pem is invalid: no such file"),
        Arguments.of("redis-router.redis.instances.default.tls-verify-peer = strict",
            "redis-router.redis.instances.default.tls-verify-peer", "use one of full, ca, none"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalid")
  void invalidValueNamesKeyAndAllowedValues(String hocon, String key, String allowed) {
    ConfigError e = fail(hocon);
    assertEquals(key, e.key(), e.getMessage());
    assertTrue(e.getMessage().contains(key), e.getMessage());
    assertTrue(e.getMessage().contains(allowed), e.getMessage());
  }

  /** Every duration setting, with a value beyond what the timers (or Instant) can hold. */
  static Stream<Arguments> tooLong() {
    String i = "redis-router.redis.instances.default.";
    String timer = "at most 180d (timers cannot hold more)";
    String ttl = "at most 365d (the longest time to live a message may have)";
    return Stream.of(
        Arguments.of(D + "ack-timeout = 1000000000d", D + "ack-timeout", timer),
        Arguments.of(D + "ack-timeout = 181d", D + "ack-timeout", timer),
        Arguments.of(D + "time-to-live = 1000000000000d", D + "time-to-live", ttl),
        Arguments.of(D + "time-to-live = 366d", D + "time-to-live", ttl),
        Arguments.of(D + "backoff { min = 1000000000d, max = 1000000000d }", D + "backoff.min", timer),
        Arguments.of(D + "backoff.max = 200d", D + "backoff.max", timer),
        Arguments.of(D + "retention.max-age = 1000000000d", D + "retention.max-age", "at most 3650d (ten years)"),
        Arguments.of(D + "retention.trim-interval = 1000000000d", D + "retention.trim-interval", timer),
        Arguments.of(O.replace(".\"orders.created\".", "") + " { \"orders.created\" { ack-timeout = 300d } }",
            O + "ack-timeout", timer),
        Arguments.of("redis-router.dedup-window = 1000000000d", "redis-router.dedup-window",
            "at most 365d (as long as the longest time to live)"),
        Arguments.of("redis-router.consumer.poll-interval = 1000000000d", "redis-router.consumer.poll-interval", timer),
        Arguments.of("redis-router.consumer.claim-interval = 1000000000d", "redis-router.consumer.claim-interval",
            timer),
        Arguments.of("redis-router.consumer.lease-renew-interval = 1000000000d",
            "redis-router.consumer.lease-renew-interval", timer),
        Arguments.of(i + "connect-timeout = 1000000000d", i + "connect-timeout", timer),
        Arguments.of(i + "command-timeout = 1000000000d", i + "command-timeout", timer));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("tooLong")
  void durationBeyondTheSchedulerFailsAtStartUpNamingTheKey(String hocon, String key, String allowed) {
    ConfigError e = fail(hocon);
    assertEquals(key, e.key(), e.getMessage());
    assertTrue(e.getMessage().startsWith(key + " = "), e.getMessage());
    assertTrue(e.getMessage().contains(allowed), e.getMessage());
  }

  @Test
  void longestAllowedDurationsPass() {
    RouterSettings s = RouterSettings.load(ConfigFactory.parseString(D + "ack-timeout = 180d\n" + D
        + "time-to-live = 365d\n" + D + "backoff { min = 180d, max = 180d }\nredis-router.dedup-window = 365d\n"
        + D + "retention.max-age = 3650d"));
    assertEquals(java.time.Duration.ofDays(180), s.channelDefaults().ackTimeout());
    assertEquals(java.time.Duration.ofDays(365), s.channelDefaults().timeToLive());
    assertEquals(java.time.Duration.ofDays(365), s.dedupWindow());
  }

  @Test
  void aRemovedKeyNamesWhatReplacedIt() {
    ConfigError e = fail("redis-router.consumer.idle-poll-max = 10s");
    assertEquals("redis-router.consumer.idle-poll-max", e.key());
    assertTrue(e.getMessage().contains("redis-router.consumer.watch-interval"), e.getMessage());
  }

  @Test
  void idleTimingKeysAreRead() {
    RouterSettings s = RouterSettings.load(ConfigFactory.parseString("redis-router.consumer { watch-interval = 3s,"
        + " idle-claim-max = 20m, quiet-trim-interval = 2h }"));
    assertEquals(java.time.Duration.ofSeconds(3), s.consumer().watchInterval());
    assertEquals(java.time.Duration.ofMinutes(20), s.consumer().idleClaimMax());
    assertEquals(java.time.Duration.ofHours(2), s.consumer().quietTrimInterval());
    ConfigError zero = fail("redis-router.consumer.watch-interval = 0s");
    assertEquals("redis-router.consumer.watch-interval", zero.key());
  }

  @Test
  void messageHasTheDocumentedShape() {
    assertEquals("redis-router.channels.defaults.max-attempts = 0 is invalid: use an integer >= 1",
        fail(D + "max-attempts = 0").getMessage());
  }

  @Test
  void wrongTypeKeepsTheTypesafeCause() {
    ConfigError e = fail(D + "max-attempts = many");
    assertTrue(e.getCause() instanceof ConfigException.WrongType, String.valueOf(e.getCause()));
  }

  @Test
  void errorsNeverShowPasswords() {
    ConfigError badUri = fail("redis-router.redis.instances.default.uri = \"http://u:hunter2@db\"");
    assertFalse(badUri.getMessage().contains("hunter2"), badUri.getMessage());
    ConfigError notUri = fail("redis-router.redis.instances.default.uri = \"redis://u:hunter2@db x\"");
    assertFalse(notUri.getMessage().contains("hunter2"), notUri.getMessage());
    ConfigError badPassword = fail("redis-router.redis.instances.default.password = [hunter2]");
    assertEquals("redis-router.redis.instances.default.password", badPassword.key());
    assertFalse(badPassword.getMessage().contains("hunter2"), badPassword.getMessage());
  }

  /** A CA certificate (its key was thrown away): only parsed here. */
  static final String CA_PEM = """
      -----BEGIN CERTIFICATE-----
      MIIBjjCCATOgAwIBAgIUPg5sogn03RHvUOZJmbfVc9o9Bj4wCgYIKoZIzj0EAwIw
      HDEaMBgGA1UEAwwRcnItY29uZmlnLXRlc3QtY2EwHhcNMjYxMjA3MTY0MDEzWhcN
      MzYxMjA0MTY0MDEzWjAcMRowGAYDVQQDDBFyci1jb25maWctdGVzdC1jYTBZMBMG
      ByqGSM49AgEGCCqGSM49AwEHA0IABFhaMDZF1eKWoBuHfeb6bw7tHi5sjVlJnK0B
      JinhfVR2vgg0cDJk/Wb6qHDtt9+nIdIzsUIjQOjj+X3Dj9a9O0GjUzBRMB0GA1Ud
      DgQWBBT9g2En0+cW7Itq1pvvCA0ScW5CHDAfBgNVHSMEGDAWgBT9g2En0+cW7Itq
      1pvvCA0ScW5CHDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDh
      1X8VyzWtGr5cEMKf2zRLim3OKieGVY8J+bX18nCeJQIhAK3JBLNMVBiPXGJNd5Y6
      4wLpAN8Nxfm+cZKmgQ2ssZfR
      -----END CERTIFICATE-----
      """;

  @Test
  void usernameTlsCaFileAndVerifyModeAreRead(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path ca = java.nio.file.Files.writeString(dir.resolve("ca.pem"), CA_PEM);
    RouterSettings s = RouterSettings.load(ConfigFactory.parseString("redis-router.redis.instances.default {"
        + " uri = \"rediss://db:6380\", username = router, password = pw, tls-ca-file = \"" + ca + "\","
        + " tls-verify-peer = ca }\n"
        + "redis-router.redis.instances.cache { uri = \"redis://cache:6379\" }"));
    RedisInstanceSettings d = s.redisInstance("default");
    assertEquals("router", d.username());
    assertEquals(ca, d.tlsCaFile());
    assertEquals(RedisInstanceSettings.TlsVerify.CA, d.tlsVerifyPeer());
    // an added instance takes the defaults of reference.conf, never the user or CA file of another instance
    RedisInstanceSettings cache = s.redisInstance("cache");
    assertEquals(null, cache.username());
    assertEquals(null, cache.tlsCaFile());
    assertEquals(RedisInstanceSettings.TlsVerify.FULL, cache.tlsVerifyPeer());
    // the defaults: no user, the JVM's trust store, full verification
    RedisInstanceSettings plain = RouterSettings.load(ConfigFactory.empty()).redisInstance("default");
    assertEquals(null, plain.username());
    assertEquals(null, plain.tlsCaFile());
    assertEquals(RedisInstanceSettings.TlsVerify.FULL, plain.tlsVerifyPeer());
    // the user of the uri, repeated in username, is fine; so is a password only in the uri
    assertEquals("router", RouterSettings.load(ConfigFactory.parseString("redis-router.redis.instances.default {"
        + " uri = \"redis://router:pw@db\", username = router }")).redisInstance("default").username());
  }

  @Test
  void aCaFileThatHoldsNoCertificateIsRefusedNamingTheKey(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path notPem = java.nio.file.Files.writeString(dir.resolve("key.pem"), "not a certificate\n");
    ConfigError e = fail("redis-router.redis.instances.default { uri = \"rediss://db:6380\", tls-ca-file = \""
        + notPem + "\" }");
    assertEquals("redis-router.redis.instances.default.tls-ca-file", e.key());
    assertTrue(e.getMessage().contains(notPem + " is invalid:"), e.getMessage());
    assertTrue(e.getMessage().contains("use the path of a readable PEM file of CA certificates"), e.getMessage());
    ConfigError dirGiven = fail("redis-router.redis.instances.default { uri = \"rediss://db:6380\", tls-ca-file = \""
        + dir + "\" }");
    assertTrue(dirGiven.getMessage().contains("no such file"), dirGiven.getMessage());
  }

  @Test
  void validConfigurationPassesAllChecks() {
    RouterSettings s = RouterSettings.load(ConfigFactory.parseString(D
        + "backoff { min = 1s, max = 1s, jitter = 1.0 }\n" + D + "retention.max-age = 0s\n" + D
        + "max-in-flight = 10000"));
    assertEquals(s.channelDefaults().backoffMin(), s.channelDefaults().backoffMax());
    assertEquals(1.0, s.channelDefaults().backoffJitter());
    assertTrue(s.channelDefaults().retentionMaxAge().isZero());
    assertEquals(10_000, s.channelDefaults().maxInFlight());
  }
}
