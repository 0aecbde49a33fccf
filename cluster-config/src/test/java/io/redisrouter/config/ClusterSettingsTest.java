package io.redisrouter.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterSettingsTest {
  private static ClusterSettings load(String hocon) {
    return ClusterSettings.load(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.defaultReference())
        .resolve());
  }

  @Test
  void offByDefaultWithTheLocalSeed() {
    ClusterSettings c = load("");
    assertFalse(c.enabled());
    assertEquals("127.0.0.1", c.host());
    assertEquals(2551, c.port());
    assertEquals(List.of("127.0.0.1:2551"), c.seedNodes());
    assertEquals(Duration.ofSeconds(10), c.stableAfter());
  }

  @Test
  void seedNodesAreAListOrACommaSeparatedString() {
    assertEquals(List.of("10.0.0.1:2551", "router-1.router:2552"),
        load("redis-router.cluster.seed-nodes = \" 10.0.0.1:2551, router-1.router:2552 \"").seedNodes());
    assertEquals(List.of("a:1", "b:2"), load("redis-router.cluster.seed-nodes = [\"a:1\", \"b:2\"]").seedNodes());
  }

  @Test
  void badValuesFailNamingTheKeyAndTheFix() {
    ConfigError notHostPort = assertThrows(ConfigError.class, () -> load(
        "redis-router.cluster.seed-nodes = [\"10.0.0.1\"]"));
    assertEquals("redis-router.cluster.seed-nodes", notHostPort.key());
    assertTrue(notHostPort.getMessage().contains("'10.0.0.1', which is not host:port"), notHostPort.getMessage());
    ConfigError port = assertThrows(ConfigError.class, () -> load("redis-router.cluster.port = 70000"));
    assertEquals("redis-router.cluster.port", port.key());
    ConfigError seedPort = assertThrows(ConfigError.class, () -> load(
        "redis-router.cluster.seed-nodes = \"a:0\""));
    assertTrue(seedPort.getMessage().contains("1-65535"), seedPort.getMessage());
    ConfigError empty = assertThrows(ConfigError.class, () -> load(
        "redis-router.cluster { enabled = true, seed-nodes = [] }"));
    assertEquals("redis-router.cluster.seed-nodes", empty.key());
    assertTrue(empty.getMessage().contains("at least one node"), empty.getMessage());
    ConfigError unknown = assertThrows(ConfigError.class, () -> load("redis-router.cluster.seeds = []"));
    assertTrue(unknown.getMessage().contains("unknown key redis-router.cluster.seeds"), unknown.getMessage());
    ConfigError stable = assertThrows(ConfigError.class, () -> load("redis-router.cluster.stable-after = 0s"));
    assertEquals("redis-router.cluster.stable-after", stable.key());
  }

  @Test
  void thePekkoConfigurationJoinsTheSeedsBindsTheHostOnlyAndKeepsTheMajority() {
    Config p = load("redis-router.cluster { enabled = true, host = \"10.1.2.3\", port = 2600,"
        + " seed-nodes = \"10.1.2.3:2600,10.1.2.4:2600\", stable-after = 7s }").pekkoConfig("redis-router");
    assertEquals("cluster", p.getString("pekko.actor.provider"));
    assertEquals("10.1.2.3", p.getString("pekko.remote.artery.canonical.hostname"));
    assertEquals("10.1.2.3", p.getString("pekko.remote.artery.bind.hostname"));
    assertEquals(2600, p.getInt("pekko.remote.artery.canonical.port"));
    assertEquals(List.of("pekko://redis-router@10.1.2.3:2600", "pekko://redis-router@10.1.2.4:2600"),
        p.getStringList("pekko.cluster.seed-nodes"));
    assertEquals("keep-majority", p.getString("pekko.cluster.split-brain-resolver.active-strategy"));
    assertEquals(Duration.ofSeconds(7), p.getDuration("pekko.cluster.split-brain-resolver.stable-after"));
    assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider",
        p.getString("pekko.cluster.downing-provider-class"));
    assertFalse(p.getBoolean("pekko.actor.allow-java-serialization"));
    assertEquals("jackson-cbor", p.getConfig("pekko.actor.serialization-bindings").root()
        .get("io.redisrouter.protocol.ClusterMessage").unwrapped());
  }

  @Test
  void theLocalProfilesAreThreeNodesOnTheLoopback() {
    for (int n = 1; n <= 3; n++) {
      Config profile = ConfigFactory.parseResources("profile-cluster-local-" + n + ".conf");
      ClusterSettings c = ClusterSettings.load(profile.withFallback(ConfigFactory.defaultReference()).resolve());
      assertTrue(c.enabled());
      assertEquals(2550 + n, c.port());
      assertEquals(8080 + n, profile.getInt("redis-router.http.port"));
      assertEquals(List.of("127.0.0.1:2551", "127.0.0.1:2552", "127.0.0.1:2553"), c.seedNodes());
    }
  }
}
