package io.redisrouter.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueType;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Cluster mode ({@code redis-router.cluster}). Off by default: the node runs alone, as without a cluster. On, the
 * node joins a Pekko Cluster (Cluster Typed) of router nodes through its seed nodes, with the split brain resolver
 * ({@code keep-majority}) downing the unreachable side once membership was stable for {@code stable-after}, and
 * CoordinatedShutdown leaving the cluster gracefully. {@link #pekkoConfig} is the Pekko configuration this needs,
 * for the service or for an embedding application that builds its own actor system.
 *
 * @param enabled     {@code redis-router.cluster.enabled}
 * @param host        the address other nodes reach this one at, and the only interface the cluster port binds to
 * @param port        the cluster (Artery) port; 0 = any free port (a node that is not a seed, in tests)
 * @param seedNodes   {@code host:port} of the nodes a starting node contacts; the first starts a new cluster
 * @param stableAfter how long membership must be stable before the split brain resolver decides
 * @param ownerCheckInterval how often each node makes sure every HTTP subscription it knows has a running owner
 *                    (which starts it on a survivor after its node left or died)
 */
public record ClusterSettings(boolean enabled, String host, int port, List<String> seedNodes, Duration stableAfter,
    Duration ownerCheckInterval) {
  private static final String PATH = "redis-router.cluster";
  /** The marker interface of the messages that cross nodes (bound to Jackson CBOR). */
  static final String CLUSTER_MESSAGE = "io.redisrouter.protocol.ClusterMessage";
  /** An embedded subscriber's delivery, which its subscription's owner may send from another node. */
  static final String DELIVERY = "io.redisrouter.protocol.Delivery";
  /** A subscriber's answer to a delivery, sent back to the owner's node. */
  static final String DELIVERY_ACK = "io.redisrouter.protocol.DeliveryAck";
  private static final Pattern HOST_PORT = Pattern.compile("[A-Za-z0-9.:\\[\\]_-]{1,253}:\\d{1,5}");

  public ClusterSettings {
    seedNodes = List.copyOf(seedNodes);
  }

  /** Reads {@code redis-router.cluster} from a full configuration (reference.conf holds the defaults). */
  public static ClusterSettings load(Config root) {
    Config config = root.withFallback(ConfigFactory.defaultReference());
    if (!config.hasPath(PATH))
      throw new ConfigError(PATH, PATH + " is missing: the reference.conf of cluster-config"
          + " defines it");
    BlockReader r = new BlockReader(config.getConfig(PATH), PATH);
    r.requireKnownKeys(List.of("enabled", "host", "port", "seed-nodes", "stable-after", "owner-check-interval"),
        "; see docs/configuration.md, section Cluster");
    boolean enabled = r.bool("enabled");
    String host = r.string("host", "a host name or IP address other nodes reach this one at");
    if (host.isBlank()) throw r.invalid("host", "a host name or IP address other nodes reach this one at");
    int port = r.intBetween("port", 0, 65535);
    List<String> seeds = seedNodes(r);
    Duration stableAfter = r.positiveDuration("stable-after");
    Duration ownerCheckInterval = r.positiveDuration("owner-check-interval");
    if (enabled && seeds.isEmpty()) {
      throw new ConfigError(r.key("seed-nodes"), r.key("seed-nodes") + " is empty while " + r.key("enabled")
          + " = true: list the host:port of at least one node (this node's own to start a new cluster)");
    }
    return new ClusterSettings(enabled, host, port, seeds, stableAfter, ownerCheckInterval);
  }

  /** A list of "host:port" strings, or one comma-separated string (what an environment variable gives). */
  private static List<String> seedNodes(BlockReader r) {
    String key = "seed-nodes";
    String allowed = "a list of \"host:port\" or a comma-separated string of them, e.g. \"10.0.0.1:2551,10.0.0.2:2551\"";
    List<String> raw;
    try {
      raw = r.config().getValue(key).valueType() == ConfigValueType.LIST
          ? r.config().getStringList(key)
          : Arrays.asList(r.config().getString(key).split(","));
    } catch (ConfigException e) {
      throw r.invalid(key, allowed, e);
    }
    List<String> seeds = new ArrayList<>();
    for (String s : raw) {
      String seed = s.strip();
      if (seed.isEmpty()) continue;
      if (!HOST_PORT.matcher(seed).matches()) {
        throw new ConfigError(r.key(key), r.key(key) + " has '" + seed + "', which is not host:port: use " + allowed);
      }
      int p = Integer.parseInt(seed.substring(seed.lastIndexOf(':') + 1));
      if (p < 1 || p > 65535) {
        throw new ConfigError(r.key(key), r.key(key) + " has '" + seed + "': the port must be 1-65535");
      }
      seeds.add(seed);
    }
    return seeds;
  }

  /**
   * The Pekko configuration of cluster mode for an actor system named {@code systemName} (the same on every node):
   * the cluster provider, this node's address (bound to {@code host} only), the seed nodes, the split brain
   * resolver with {@code keep-majority}, Java serialization off and {@link #CLUSTER_MESSAGE} bound to Jackson CBOR
   * (which needs {@code pekko-serialization-jackson} on the classpath). Put it over the rest of the configuration.
   */
  public Config pekkoConfig(String systemName) {
    Map<String, Object> m = new HashMap<>();
    m.put("pekko.actor.provider", "cluster");
    m.put("pekko.actor.allow-java-serialization", "off");
    m.put("pekko.remote.artery.canonical.hostname", host);
    m.put("pekko.remote.artery.canonical.port", port);
    m.put("pekko.remote.artery.bind.hostname", host);
    List<String> seeds = new ArrayList<>();
    for (String s : seedNodes) seeds.add("pekko://" + systemName + "@" + s);
    m.put("pekko.cluster.seed-nodes", seeds);
    m.put("pekko.cluster.downing-provider-class", "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider");
    m.put("pekko.cluster.split-brain-resolver.active-strategy", "keep-majority");
    m.put("pekko.cluster.split-brain-resolver.stable-after", stableAfter.toMillis() + "ms");
    // a leaving node's webhook pushers finish their calls in flight (up to 10.5 s) before sharding hands their
    // subscriptions over: the hand-off phase has room for that and for the unsubscribe
    m.put("pekko.coordinated-shutdown.phases.cluster-sharding-shutdown-region.timeout", "20s");
    // the only classes that cross nodes, written with Jackson (CBOR): io.redisrouter.protocol.ClusterMessage, and the
    // deliveries an embedded subscription's owner sends to subscribers on other nodes with their acks; each class
    // name is one quoted key (parseMap would split it at its dots)
    StringBuilder b = new StringBuilder("pekko.actor.serialization-bindings {");
    for (String c : List.of(CLUSTER_MESSAGE, DELIVERY, DELIVERY_ACK))
      b.append(" \"").append(c).append("\" = jackson-cbor,");
    Config bindings = ConfigFactory.parseString(b.append(" }").toString());
    return bindings.withFallback(ConfigFactory.parseMap(m, "redis-router.cluster (ClusterSettings)"));
  }
}
