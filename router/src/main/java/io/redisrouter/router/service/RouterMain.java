package io.redisrouter.router.service;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.ConfigError;
import io.redisrouter.config.RedisInstanceSettings;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.http.HttpSettings;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The router service: reads the configuration (application.conf plus environment overrides such as
 * {@code ROUTER_REDIS_URI}), starts an embedded Redis when the configured local one does not answer and the
 * fallback is on, and runs the router until the process is stopped (SIGTERM runs Pekko's CoordinatedShutdown).
 */
public final class RouterMain {
  /** local: embedded Redis fallback on (reference.conf); production: overlay profile-production.conf. */
  static final List<String> PROFILES = List.of("local", "production");

  private RouterMain() {}

  public static void main(String[] args) throws Exception {
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "logback-router.xml");
    }
    Logger log = LoggerFactory.getLogger(RouterMain.class);
    String profile = System.getenv().getOrDefault("ROUTER_PROFILE", System.getProperty("router.profile", "local"));
    if (!PROFILES.contains(profile)) {
      log.error("ROUTER_PROFILE = '{}' is invalid: use local (embedded Redis fallback on) or production", profile);
      System.exit(2);
      return;
    }
    Config config = "production".equals(profile)
        ? ConfigFactory.parseResources("profile-production.conf").withFallback(ConfigFactory.load())
        : ConfigFactory.load();
    log.info("profile '{}'", profile);
    if ("production".equals(profile) && !config.getBoolean("redis-router.http.auth.enabled")) {
      log.error("redis-router.http.auth.enabled = false is refused in the production profile: configure tokens"
          + " (ROUTER_HTTP_TOKEN or redis-router.http.auth.tokens)");
      System.exit(2);
      return;
    }
    RouterSettings settings;
    try {
      settings = RouterSettings.load(config);
    } catch (ConfigError e) {
      log.error("invalid configuration: {}", e.getMessage());
      System.exit(2);
      return;
    }
    boolean fallback = config.getBoolean("redis-router.service.embedded-redis-fallback");
    List<redis.embedded.RedisServer> embedded = new ArrayList<>();
    for (RedisInstanceSettings instance : settings.redisInstances().values()) {
      URI uri = URI.create(instance.uri());
      String host = uri.getHost();
      int port = uri.getPort() > 0 ? uri.getPort() : 6379;
      if (answers(host, port, instance.connectTimeout())) {
        log.info("redis instance '{}' answers at {}", instance.name(), instance.redactedUri());
        continue;
      }
      if (fallback && isLocal(host) && !instance.tls()) {
        redis.embedded.RedisServer server = redis.embedded.RedisServer.newRedisServer()
            .port(port).bind("127.0.0.1").setting("save \"\"").setting("appendonly no")
            .onShutdownForceStop(true).build();
        server.start();
        embedded.add(server);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
          try {
            server.stop();
          } catch (IOException ignored) {
            // the process is exiting anyway
          }
        }, "stop-embedded-redis"));
        log.warn("redis instance '{}' did not answer at {}: started an EMBEDDED redis-server 6.2 on port {}"
            + " (nothing is persisted; for development only: set ROUTER_EMBEDDED_REDIS=false or"
            + " redis-router.service.embedded-redis-fallback = false in production)",
            instance.name(), instance.redactedUri(), port);
      } else {
        log.error("redis instance '{}' does not answer at {}; the router keeps retrying to connect"
            + (fallback ? "" : " (embedded fallback is off)"), instance.name(), instance.redactedUri());
      }
    }
    RouterService service;
    try {
      HttpSettings.load(config); // fail fast on a bad http block, before anything starts
      service = RouterService.start("redis-router", config);
    } catch (ConfigError e) {
      log.error("invalid configuration: {}", e.getMessage());
      stopAll(embedded);
      System.exit(2);
      return;
    } catch (Exception e) {
      Throwable c = e.getCause() != null ? e.getCause() : e;
      log.error("the router service could not start: {} (is the HTTP port free? set ROUTER_HTTP_PORT)", c.toString());
      stopAll(embedded);
      System.exit(1);
      return;
    }
    ActorSystem<RouterCommand> system = service.system();
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseActorSystemTerminate(), "stop-embedded-redis",
        () -> {
          for (redis.embedded.RedisServer s : embedded) {
            try {
              s.stop();
            } catch (IOException e) {
              log.warn("stopping the embedded redis failed: {}", e.toString());
            }
          }
          return CompletableFuture.completedFuture(Done.getInstance());
        });
    log.info("redis-router running (node '{}', redis instances {}); stop it with Ctrl-C or SIGTERM",
        settings.nodeId(), settings.redisInstances().values().stream()
            .map(i -> i.name() + "=" + i.redactedUri()).toList());
    system.getWhenTerminated().toCompletableFuture().join();
  }

  private static void stopAll(List<redis.embedded.RedisServer> servers) {
    for (redis.embedded.RedisServer s : servers) {
      try {
        s.stop();
      } catch (IOException ignored) {
        // exiting anyway
      }
    }
  }

  private static boolean isLocal(String host) {
    return host == null || host.equals("localhost") || host.equals("127.0.0.1") || host.equals("::1")
        || host.equals("[::1]");
  }

  /** Whether something that speaks RESP answers at host:port (a NOAUTH error counts as an answer). */
  static boolean answers(String host, int port, Duration timeout) {
    try (Socket s = new Socket()) {
      int ms = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
      s.connect(new InetSocketAddress(host, port), ms);
      s.setSoTimeout(ms);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      int first = in.read();
      return first == '+' || first == '-';
    } catch (IOException e) {
      return false;
    }
  }
}
