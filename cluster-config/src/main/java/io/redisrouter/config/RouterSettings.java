package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigUtil;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.Limits;
import io.redisrouter.protocol.Validation;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * All settings of a router node, read from the {@code redis-router} block and checked once.
 *
 * <p>Immutable and thread-safe. Every bad value fails {@link #load(Config)} with a {@link ConfigError}
 * naming the full key and the allowed values; see {@code reference.conf} for every key and its default.
 *
 * <pre>{@code
 * RouterSettings settings = RouterSettings.load();
 * ChannelPolicy policy = settings.policyFor("orders.created");
 * RedisInstanceSettings redis = settings.redisInstance(policy.redisInstance());
 * }</pre>
 */
public final class RouterSettings {

  /** The root path of all settings. */
  public static final String ROOT = "redis-router";
  /** The longest {@code retention.max-age}: ten years (an age beyond it would keep every entry anyway). */
  static final Duration MAX_RETENTION_AGE = Duration.ofDays(3650);

  private static final String DEFAULT_INSTANCE = "default";
  private static final List<String> INSTANCE_KEYS = List.of(
      "uri", "password", "tls", "connect-timeout", "command-timeout", "request-queue-size",
      "health-check-interval", "health-check-max-missed", "connections-per-instance", "single-connection-required",
      "username", "tls-ca-file", "tls-verify-peer");
  private static final List<String> POLICY_KEYS = List.of(
      "mode", "redis-instance", "time-to-live", "ack-timeout", "max-attempts", "backoff",
      "max-in-flight", "retention", "broadcast-delivery", "broadcast-window", "durability", "durability-timeout");
  private static final List<String> BACKOFF_KEYS = List.of("min", "max", "jitter");
  private static final List<String> RETENTION_KEYS = List.of("max-age", "max-length", "trim-interval",
      "dead-letter-max-age", "dead-letter-max-length");
  private static final String QUOTE_HINT = "; quote channel names that contain dots, e.g. \"orders.created\" { max-attempts = 10 }";
  private static final String URI_ALLOWED = "a URI such as redis://host:6379 or rediss://host:6380";

  private final Config underlying;
  private final String nodeId;
  private final Map<String, RedisInstanceSettings> redisInstances;
  private final ChannelPolicy channelDefaults;
  private final Map<String, ChannelPolicy> channelOverrides;
  private final IngressSettings ingress;
  private final Duration dedupWindow;
  private final Limits limits;
  private final ConsumerSettings consumer;
  private final int auditWindow;
  private final int auditMaxProducers;

  private RouterSettings(Config underlying, Config reference) {
    this.underlying = underlying;
    BlockReader root;
    try {
      root = new BlockReader(underlying.getConfig(ROOT), ROOT);
    } catch (ConfigException e) {
      throw new ConfigError(ROOT, ROOT + " is invalid (" + e.getMessage() + "): use an object { ... }", e);
    }
    this.nodeId = readNodeId(root);
    this.redisInstances = readInstances(root.block("redis"), reference);
    BlockReader channels = root.block("channels");
    BlockReader defaults = channels.block("defaults");
    this.channelDefaults = readPolicy(defaults, redisInstances);
    this.channelOverrides = readOverrides(channels, defaults.config(), redisInstances);
    this.ingress = readIngress(root.block("ingress"));
    this.dedupWindow = root.positiveDuration("dedup-window", io.redisrouter.protocol.Validation.MAX_TIME_TO_LIVE,
        "as long as the longest time to live");
    this.limits = readLimits(root.block("limits"));
    this.consumer = readConsumer(root.block("consumer"));
    BlockReader audit = root.block("audit");
    this.auditWindow = audit.intBetween("window", 64, 10_000_000);
    this.auditMaxProducers = audit.intBetween("max-producers", 1, 10_000_000);
  }

  /**
   * The loss audit's window: how many sequence numbers below each producer's highest one a subscription tracks
   * ({@code redis-router.audit.window}; older unsettled ones count as missing).
   */
  public int auditWindow() {
    return auditWindow;
  }

  /** The most producers a subscription's loss audit tracks ({@code redis-router.audit.max-producers}). */
  public int auditMaxProducers() {
    return auditMaxProducers;
  }

  /**
   * Loads the settings from {@link ConfigFactory#load()}: {@code application.conf}, system properties and
   * {@code reference.conf}.
   *
   * @throws ConfigError when a value is missing, of the wrong type or out of range
   */
  public static RouterSettings load() {
    return load(ConfigFactory.load());
  }

  /**
   * Loads the settings from the {@code redis-router} block of {@code config}; keys it does not set take
   * their defaults from {@code reference.conf}.
   *
   * @throws ConfigError when a value is missing, of the wrong type or out of range
   */
  public static RouterSettings load(Config config) {
    requireNonNull(config, "config");
    Config reference = ConfigFactory.defaultReference();
    Config merged;
    try {
      merged = config.withFallback(reference).resolve();
    } catch (ConfigException e) {
      throw new ConfigError(ROOT, "configuration cannot be resolved: " + e.getMessage(), e);
    }
    return new RouterSettings(merged, reference);
  }

  /** The name of this node: {@code redis-router.node-id}, or {@code node-} and 8 random hex digits. */
  public String nodeId() {
    return nodeId;
  }

  /** The Redis instances by name, sorted; never empty, always holds {@code default}. */
  public Map<String, RedisInstanceSettings> redisInstances() {
    return redisInstances;
  }

  /**
   * The Redis instance called {@code name}.
   *
   * @throws ConfigError naming the configured instances when there is none called {@code name}
   */
  public RedisInstanceSettings redisInstance(String name) {
    requireNonNull(name, "name");
    RedisInstanceSettings instance = redisInstances.get(name);
    if (instance == null) {
      String key = ROOT + ".redis.instances." + ConfigUtil.joinPath(name);
      throw new ConfigError(key, "Redis instance '" + name + "' is not configured: use one of "
          + String.join(", ", redisInstances.keySet()) + " or add " + key + " { uri = ... }");
    }
    return instance;
  }

  /** The policy of every channel without an override ({@code redis-router.channels.defaults}). */
  public ChannelPolicy channelDefaults() {
    return channelDefaults;
  }

  /** The policy of {@code channel}: its override merged over the defaults, or the defaults. */
  public ChannelPolicy policyFor(String channel) {
    requireNonNull(channel, "channel");
    return channelOverrides.getOrDefault(channel, channelDefaults);
  }

  /** The channels with an override, each with its complete (merged) policy, sorted by name. */
  public Map<String, ChannelPolicy> channelOverrides() {
    return channelOverrides;
  }

  /** How publishes enter the router. */
  public IngressSettings ingress() {
    return ingress;
  }

  /** How long a message id is remembered to drop duplicate publishes. */
  public Duration dedupWindow() {
    return dedupWindow;
  }

  /** Size limits of published messages. */
  public Limits limits() {
    return limits;
  }

  /** Timing of the stream consumers. */
  public ConsumerSettings consumer() {
    return consumer;
  }

  /** The whole configuration the settings were read from, {@code reference.conf} included. */
  public Config underlying() {
    return underlying;
  }

  /** A summary safe to log: no passwords. */
  @Override
  public String toString() {
    return "RouterSettings[nodeId=" + nodeId
        + ", redisInstances=" + redisInstances.values()
        + ", channelDefaults=" + channelDefaults
        + ", channelOverrides=" + channelOverrides
        + ", ingress=" + ingress
        + ", dedupWindow=" + dedupWindow
        + ", limits=" + limits
        + ", consumer=" + consumer + "]";
  }

  private static String readNodeId(BlockReader root) {
    String allowed = "\"\" (generated) or 1-128 of [A-Za-z0-9._:-]";
    String id = root.string("node-id", allowed).strip();
    if (id.isEmpty()) {
      return "node-" + String.format("%08x", ThreadLocalRandom.current().nextInt());
    }
    if (!Validation.CHANNEL_PATTERN.matcher(id).matches()) throw root.invalid("node-id", allowed);
    return id;
  }

  private static Map<String, RedisInstanceSettings> readInstances(BlockReader redis, Config reference) {
    ConfigObject instances = redis.object("instances");
    BlockReader instancesBlock = redis.block("instances");
    if (instances.isEmpty()) {
      throw new ConfigError(instancesBlock.path(),
          instancesBlock.path() + " is empty: configure at least one instance, e.g. default { uri = ... }");
    }
    // Keys an added instance leaves out come from reference.conf's default instance, except uri and the
    // credentials and CA file (which belong to one server)
    Config template = reference.getConfig(ROOT + ".redis.instances." + DEFAULT_INSTANCE)
        .withoutPath("uri").withoutPath("password").withoutPath("username").withoutPath("tls-ca-file");
    Map<String, RedisInstanceSettings> result = new TreeMap<>();
    for (String name : instances.keySet()) {
      BlockReader entry = instancesBlock.entry(instances, name, "an object { uri = \"redis://host:6379\" }");
      entry.requireKnownKeys(INSTANCE_KEYS, "");
      BlockReader r = new BlockReader(entry.config().withFallback(template), entry.path());
      String uri = r.string("uri", URI_ALLOWED).strip();
      checkUri(r, uri);
      String password = r.config().hasPath("password")
          ? r.secret("password", "a string; \"\" for none")
          : "";
      String username = username(r, uri, !password.isEmpty());
      boolean tls = r.bool("tls") || uri.startsWith(RedisInstanceSettings.TLS_SCHEME);
      Path caFile = tlsCaFile(r, tls);
      RedisInstanceSettings.TlsVerify verify = r.oneOf("tls-verify-peer", RedisInstanceSettings.TlsVerify.values(),
          RedisInstanceSettings.TlsVerify::configName);
      result.put(name, new RedisInstanceSettings(
          name,
          uri,
          password.isEmpty() ? null : password,
          r.bool("tls"),
          r.positiveDuration("connect-timeout"),
          r.positiveDuration("command-timeout"),
          r.intAtLeast("request-queue-size", 1),
          r.positiveDuration("health-check-interval"),
          r.intBetween("health-check-max-missed", 1, 1000),
          connectionsPerInstance(r),
          r.bool("single-connection-required"),
          username,
          caFile,
          verify));
    }
    return Collections.unmodifiableMap(result);
  }

  private static final String USERNAME_ALLOWED = "a Redis ACL user name (no spaces or control characters, at most"
      + " 128 characters); \"\" for the uri's user, else default";

  /**
   * The {@code username} key, or null for none: printable, and with a password to go with it (Redis's AUTH and HELLO
   * take a user only together with a password; without one the connection would silently be the default user's).
   */
  private static String username(BlockReader r, String uri, boolean passwordKeySet) {
    String username = r.config().hasPath("username") ? r.string("username", USERNAME_ALLOWED).strip() : "";
    if (username.isEmpty()) return null;
    if (username.length() > 128 || username.chars().anyMatch(c -> Character.isWhitespace(c)
        || Character.isISOControl(c))) {
      throw r.invalid("username", USERNAME_ALLOWED);
    }
    String inUri = RedisInstanceSettings.uriUsername(uri);
    if (inUri != null && !inUri.equals(username)) {
      throw new ConfigError(r.key("username"), r.key("username") + " = " + username + " differs from the user in "
          + r.key("uri") + " (" + inUri + "): name the user in one place only");
    }
    if (!passwordKeySet && !RedisInstanceSettings.uriHasPassword(uri)) {
      throw new ConfigError(r.key("username"), r.key("username") + " = " + username + " needs a password: set "
          + r.key("password") + " (or ROUTER_REDIS_PASSWORD for the default instance); for a user with nopass,"
          + " any password will do");
    }
    return username;
  }

  private static final String CA_FILE_ALLOWED = "the path of a readable PEM file of CA certificates; \"\" for the"
      + " JVM's trust store";

  /**
   * The {@code tls-ca-file} key, or null for none: a readable file that holds at least one X.509 certificate in PEM
   * (read here, so that a wrong file fails at start-up rather than at every connect), and TLS on.
   */
  private static Path tlsCaFile(BlockReader r, boolean tls) {
    String path = r.config().hasPath("tls-ca-file") ? r.string("tls-ca-file", CA_FILE_ALLOWED).strip() : "";
    if (path.isEmpty()) return null;
    String key = r.key("tls-ca-file");
    if (!tls) {
      throw new ConfigError(key, key + " is set but TLS is off for this instance: use a rediss:// uri (or tls = true),"
          + " or remove " + key);
    }
    Path file;
    try {
      file = Path.of(path);
    } catch (InvalidPathException e) {
      throw new ConfigError(key, key + " = " + path + " is invalid (" + e.getReason() + "): use " + CA_FILE_ALLOWED, e);
    }
    if (!Files.isRegularFile(file)) {
      throw new ConfigError(key, key + " = " + path + " is invalid: no such file (use " + CA_FILE_ALLOWED + ")");
    }
    if (!Files.isReadable(file)) {
      throw new ConfigError(key, key + " = " + path + " is invalid: the file is not readable by this process (use "
          + CA_FILE_ALLOWED + ")");
    }
    try (InputStream in = Files.newInputStream(file)) {
      var certificates = CertificateFactory.getInstance("X.509").generateCertificates(in);
      if (certificates.isEmpty()) {
        throw new ConfigError(key, key + " = " + path + " is invalid: it holds no certificate (use "
            + CA_FILE_ALLOWED + ")");
      }
    } catch (IOException | CertificateException e) {
      throw new ConfigError(key, key + " = " + path + " is invalid: not PEM certificates (" + e.getMessage()
          + "); use " + CA_FILE_ALLOWED, e);
    }
    return file;
  }

  private static int connectionsPerInstance(BlockReader r) {
    int n = r.intBetween("connections-per-instance", 1, 3);
    if (n == 2) {
      throw r.invalid("connections-per-instance", "1 (one RESP3 connection for everything) or 3 (commands,"
          + " publishes and pub/sub apart)");
    }
    return n;
  }

  private static void checkUri(BlockReader r, String uri) {
    String key = r.key("uri");
    String shown = RedisInstanceSettings.redact(uri);
    if (!uri.startsWith(RedisInstanceSettings.SCHEME) && !uri.startsWith(RedisInstanceSettings.TLS_SCHEME)) {
      throw new ConfigError(key, key + " = " + shown + " is invalid: use " + URI_ALLOWED);
    }
    try {
      URI parsed = new URI(uri);
      if (parsed.getRawAuthority() == null) {
        throw new ConfigError(key, key + " = " + shown + " is invalid (no host): use " + URI_ALLOWED);
      }
    } catch (URISyntaxException e) {
      // the reason quotes the input, which may hold a password: leave it out
      throw new ConfigError(key, key + " = " + shown + " is invalid (not a URI): use " + URI_ALLOWED);
    }
  }

  private static Map<String, ChannelPolicy> readOverrides(
      BlockReader channels, Config defaults, Map<String, RedisInstanceSettings> instances) {
    ConfigObject overrides = channels.object("overrides");
    BlockReader overridesBlock = channels.block("overrides");
    Map<String, ChannelPolicy> result = new TreeMap<>();
    for (String channel : overrides.keySet()) {
      String key = overridesBlock.entryKey(channel);
      if (!Validation.CHANNEL_PATTERN.matcher(channel).matches()) {
        throw new ConfigError(key, key + " is invalid: use a channel name of 1-128 of [A-Za-z0-9._:-]");
      }
      BlockReader entry = overridesBlock.entry(overrides, channel, "an object such as { max-attempts = 10 }");
      requirePolicyKeys(entry, QUOTE_HINT);
      BlockReader merged = new BlockReader(entry.config().withFallback(defaults), entry.path());
      result.put(channel, readPolicy(merged, instances));
    }
    return Collections.unmodifiableMap(result);
  }

  private static void requirePolicyKeys(BlockReader policy, String hint) {
    policy.requireKnownKeys(POLICY_KEYS, hint);
    for (String nested : List.of("backoff", "retention")) {
      if (policy.config().root().get(nested) instanceof ConfigObject) {
        policy.block(nested).requireKnownKeys(nested.equals("backoff") ? BACKOFF_KEYS : RETENTION_KEYS, "");
      }
    }
  }

  private static ChannelPolicy readPolicy(BlockReader r, Map<String, RedisInstanceSettings> instances) {
    requirePolicyKeys(r, "");
    ChannelMode mode = r.oneOf("mode", ChannelMode.values(), ChannelMode::configName);
    String instance = r.string("redis-instance", "the name of an instance under " + ROOT + ".redis.instances");
    if (!instances.containsKey(instance)) {
      throw r.invalid("redis-instance", "one of the configured instances: " + String.join(", ", instances.keySet()));
    }
    Duration ttl = r.positiveDuration("time-to-live", io.redisrouter.protocol.Validation.MAX_TIME_TO_LIVE,
        "the longest time to live a message may have");
    Duration ackTimeout = r.positiveDuration("ack-timeout");
    int maxAttempts = r.intAtLeast("max-attempts", 1);
    Duration backoffMin = r.positiveDuration("backoff.min");
    Duration backoffMax = r.positiveDuration("backoff.max");
    if (backoffMax.compareTo(backoffMin) < 0) {
      throw r.invalid("backoff.max",
          "a duration >= backoff.min (" + BlockReader.show(r.config().getValue("backoff.min")) + ")");
    }
    double jitter = r.doubleBetween("backoff.jitter", 0.0, 1.0);
    int maxInFlight = r.intBetween("max-in-flight", 1, 10_000);
    Duration maxAge = r.nonNegativeDuration("retention.max-age", MAX_RETENTION_AGE, "ten years");
    long maxLength = r.longAtLeast("retention.max-length", 0);
    Duration trimInterval = r.positiveDuration("retention.trim-interval");
    BroadcastDelivery delivery = r.oneOf("broadcast-delivery", BroadcastDelivery.values(),
        BroadcastDelivery::configName);
    Duration deadMaxAge = r.nonNegativeDuration("retention.dead-letter-max-age", MAX_RETENTION_AGE, "ten years");
    long deadMaxLength = r.longAtLeast("retention.dead-letter-max-length", 0);
    int broadcastWindow = r.intBetween("broadcast-window", 1, 1_000_000);
    Durability durability = readDurability(r, mode, instances.get(instance));
    return new ChannelPolicy(mode, instance, ttl, ackTimeout, maxAttempts, backoffMin, backoffMax, jitter,
        maxInFlight, maxAge, maxLength, trimInterval, delivery, deadMaxAge, deadMaxLength, broadcastWindow,
        durability);
  }

  /**
   * {@code durability} and {@code durability-timeout}. With {@code replica(N)} the timeout must stay below what the
   * instance's connection tolerates: a WAIT holds the connection's later commands (its health check's PING among
   * them) for up to the timeout, so it must be shorter than the command timeout and than the time the health check
   * takes an unanswered connection for dead.
   */
  private static Durability readDurability(BlockReader r, ChannelMode mode, RedisInstanceSettings instance) {
    String allowed = "primary (accepted once the Redis primary wrote the message) or \"replica(N)\" with N from 1 to "
        + Durability.MAX_REPLICAS + " (accepted once N replicas confirmed the write: WAIT N)";
    int replicas = Durability.parseReplicas(r.string("durability", allowed));
    if (replicas < 0) throw r.invalid("durability", allowed);
    if (replicas > 0 && mode == ChannelMode.BROADCAST) {
      throw r.invalid("durability", "primary with mode = broadcast (a broadcast is not stored: there is nothing"
          + " for a replica to keep), or mode = reliable for replica(N)");
    }
    Duration timeout = r.positiveDuration("durability-timeout");
    if (replicas > 0) {
      Duration healthLimit = instance.healthCheckInterval().multipliedBy(instance.healthCheckMaxMissed());
      Duration limit = healthLimit.compareTo(instance.commandTimeout()) < 0 ? healthLimit : instance.commandTimeout();
      if (timeout.compareTo(limit) >= 0) {
        String at = ROOT + ".redis.instances." + ConfigUtil.joinPath(instance.name());
        throw r.invalid("durability-timeout", "a duration > 0 and below " + BlockReader.show(limit) + ", e.g. 1s: a"
            + " WAIT holds the connection's later commands for up to this long, and " + at + " takes a connection"
            + " unanswered for command-timeout (" + BlockReader.show(instance.commandTimeout()) + ") or for"
            + " health-check-interval x health-check-max-missed (" + BlockReader.show(healthLimit) + ") for dead");
      }
    }
    return new Durability(replicas, timeout);
  }

  private static IngressSettings readIngress(BlockReader r) {
    return new IngressSettings(
        r.intAtLeast("queue-size", 1),
        r.intAtLeast("batch-size", 1),
        r.intAtLeast("max-batches-in-flight", 1),
        r.intAtLeast("until-received-max", 1));
  }

  private static Limits readLimits(BlockReader r) {
    return new Limits(
        r.bytesAtLeast("max-payload-bytes", 1),
        r.intAtLeast("max-headers", 0),
        r.bytesAtLeast("max-header-bytes", 0));
  }

  private static ConsumerSettings readConsumer(BlockReader r) {
    if (r.config().hasPath("idle-poll-max")) {
      // a key of earlier versions: say what took its place rather than ignore it
      throw new ConfigError("redis-router.consumer.idle-poll-max", "redis-router.consumer.idle-poll-max is no longer"
          + " used: idle subscriptions do not poll; remove it and set redis-router.consumer.watch-interval (how often"
          + " the streams of idle subscriptions are checked for entries no wake-up announced) if the default 2s does"
          + " not suit");
    }
    return new ConsumerSettings(
        r.positiveDuration("poll-interval"),
        r.positiveDuration("claim-interval"),
        r.positiveDuration("lease-renew-interval"),
        r.positiveDuration("idle-consumer-removal"),
        r.positiveDuration("watch-interval"),
        r.positiveDuration("idle-claim-max"),
        r.positiveDuration("quiet-trim-interval"));
  }
}
