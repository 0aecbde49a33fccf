package io.redisrouter.router.service;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.ConfigError;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.router.http.HttpSettings;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The router service: reads the configuration (application.conf plus environment overrides such as
 * {@code ROUTER_REDIS_URI}), starts an embedded Redis when the configured local one does not answer and the
 * fallback is on ({@link EmbeddedRedis}), and runs the router until the process is stopped (SIGTERM runs Pekko's
 * CoordinatedShutdown). Exit code 2 is a configuration error, 1 a start that failed.
 */
public final class RouterMain {
  /**
   * local: embedded Redis fallback on (reference.conf); production: overlay profile-production.conf;
   * cluster-local-N: node N of the local three-node cluster (profile-cluster-local-N.conf, cluster-config);
   * cluster-production: the production profile with cluster mode (profile-cluster-production.conf).
   */
  static final List<String> PROFILES = List.of("local", "production", "cluster-local-1", "cluster-local-2",
      "cluster-local-3", "cluster-production");

  private static final Logger log;

  static {
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "logback-router.xml");
    }
    log = LoggerFactory.getLogger(RouterMain.class);
  }

  private RouterMain() {}

  /** Ends the process with {@code code} after its message was logged. */
  private static final class Exit extends RuntimeException {
    final int code;

    Exit(int code, String message) {
      super(message, null, false, false);
      this.code = code;
    }
  }

  public static void main(String[] args) throws Exception {
    try {
      run();
    } catch (Exit e) {
      log.error(e.getMessage());
      System.exit(e.code);
    }
  }

  private static void run() throws Exception {
    Config config = profileConfig();
    RouterSettings settings = settings(config);
    EmbeddedRedis embedded = EmbeddedRedis.startWhereMissing(settings,
        config.getBoolean("redis-router.service.embedded-redis-fallback"));
    RouterService service = start(config, embedded);
    CoordinatedShutdown.get(service.system()).addTask(CoordinatedShutdown.PhaseActorSystemTerminate(),
        "stop-embedded-redis", () -> {
          embedded.stopAll();
          return CompletableFuture.completedFuture(Done.getInstance());
        });
    log.info("redis-router running (node '{}', redis instances {}); stop it with Ctrl-C or SIGTERM",
        settings.nodeId(), settings.redisInstances().values().stream()
            .map(i -> i.name() + "=" + i.redactedUri()).toList());
    service.system().getWhenTerminated().toCompletableFuture().join();
  }

  /** The configuration of the profile ROUTER_PROFILE (or -Drouter.profile) names. */
  private static Config profileConfig() {
    String profile = System.getenv().getOrDefault("ROUTER_PROFILE", System.getProperty("router.profile", "local"));
    if (!PROFILES.contains(profile)) {
      throw new Exit(2, "ROUTER_PROFILE = '" + profile + "' is invalid: use local (embedded Redis fallback on),"
          + " production, cluster-local-1, cluster-local-2, cluster-local-3 or cluster-production");
    }
    boolean production = profile.endsWith("production");
    Config config = ConfigFactory.load();
    if (production) config = ConfigFactory.parseResources("profile-production.conf").withFallback(config);
    if (profile.startsWith("cluster-")) {
      try {
        config = ConfigFactory.parseResources("profile-" + profile + ".conf").resolve().withFallback(config);
      } catch (com.typesafe.config.ConfigException.UnresolvedSubstitution e) {
        throw new Exit(2, "profile '" + profile + "' needs an environment variable that is not set: "
            + e.getMessage());
      }
    }
    log.info("profile '{}'", profile);
    if (production && !config.getBoolean("redis-router.http.auth.enabled")) {
      throw new Exit(2, "redis-router.http.auth.enabled = false is refused in the production profile: configure"
          + " tokens (ROUTER_HTTP_TOKEN or redis-router.http.auth.tokens)");
    }
    return config;
  }

  /** The router's and the HTTP endpoint's settings, checked before anything starts. */
  private static RouterSettings settings(Config config) {
    try {
      RouterSettings settings = RouterSettings.load(config);
      HttpSettings.load(config);
      return settings;
    } catch (ConfigError e) {
      throw new Exit(2, "invalid configuration: " + e.getMessage());
    }
  }

  private static RouterService start(Config config, EmbeddedRedis embedded) {
    try {
      return RouterService.start("redis-router", config);
    } catch (ConfigError e) {
      embedded.stopAll();
      throw new Exit(2, "invalid configuration: " + e.getMessage());
    } catch (Exception e) {
      embedded.stopAll();
      Throwable c = e.getCause() != null ? e.getCause() : e;
      throw new Exit(1, "the router service could not start: " + c + " (is the HTTP port free? set"
          + " ROUTER_HTTP_PORT)");
    }
  }
}
