package io.redisrouter.router.service;

import io.redisrouter.config.RedisInstanceSettings;
import io.redisrouter.config.RouterSettings;
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

/**
 * The development fallback of the service: for each configured local Redis instance that does not answer, an
 * embedded redis-server (6.2, from the embedded-redis jar) on its port, without persistence, said so loudly in the
 * log. Stopped with the service, or by a JVM shutdown hook.
 */
final class EmbeddedRedis {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedRedis.class);

  private final List<redis.embedded.RedisServer> servers = new ArrayList<>();

  private EmbeddedRedis() {}

  /** Checks every instance; with {@code fallback}, starts an embedded server for each local one that is silent. */
  static EmbeddedRedis startWhereMissing(RouterSettings settings, boolean fallback) throws IOException {
    EmbeddedRedis started = new EmbeddedRedis();
    for (RedisInstanceSettings instance : settings.redisInstances().values()) {
      URI uri = URI.create(instance.uri());
      String host = uri.getHost();
      int port = uri.getPort() > 0 ? uri.getPort() : 6379;
      if (answers(host, port, instance.connectTimeout())) {
        log.info("redis instance '{}' answers at {}", instance.name(), instance.redactedUri());
      } else if (fallback && isLocal(host) && !instance.tls()) {
        started.start(port);
        log.warn("redis instance '{}' did not answer at {}: started an EMBEDDED redis-server 6.2 on port {}"
            + " (nothing is persisted; for development only: set ROUTER_EMBEDDED_REDIS=false or"
            + " redis-router.service.embedded-redis-fallback = false in production)",
            instance.name(), instance.redactedUri(), port);
      } else {
        log.error("redis instance '{}' does not answer at {}; the router keeps retrying to connect"
            + (fallback ? "" : " (embedded fallback is off)"), instance.name(), instance.redactedUri());
      }
    }
    return started;
  }

  private void start(int port) throws IOException {
    redis.embedded.RedisServer server = redis.embedded.RedisServer.newRedisServer()
        .port(port).bind("127.0.0.1").setting("save \"\"").setting("appendonly no")
        .onShutdownForceStop(true).build();
    server.start();
    servers.add(server);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(server), "stop-embedded-redis"));
  }

  /** Stops every embedded server started. */
  void stopAll() {
    servers.forEach(EmbeddedRedis::stop);
  }

  private static void stop(redis.embedded.RedisServer server) {
    try {
      server.stop();
    } catch (IOException e) {
      log.warn("stopping the embedded redis failed: {}", e.toString());
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
