package io.redisrouter.router.http;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import io.redisrouter.testkit.RedisServer;
import io.redisrouter.testkit.TestCertificates;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TLS to Redis: the test makes its own CA and a server certificate for 127.0.0.1 signed by it ({@code openssl}), and
 * runs a {@code redis-server} with a TLS port only ({@code --port 0}: no plain port at all) and a password. The
 * router, given {@code rediss://}, the password and {@code tls-ca-file}, connects (its one connection is on the TLS
 * port, CLIENT LIST shows) and carries publishes and pulls over HTTP end to end, nothing lost. With a CA that did not
 * sign the server's certificate it does not connect, and the log and {@code /health/ready} say it is TLS and what to
 * check; with {@code tls-verify-peer = none} the same CA connects, with a WARN. The log is captured throughout: the
 * Redis password and the HTTP token appear in no log line and no response body.
 */
class RedisTlsIT {
  static final String NONCE = Long.toHexString(System.nanoTime());
  static final String PASSWORD = "Tls-redis-pw-" + NONCE;
  static final List<String> SECRETS = List.of(PASSWORD, HttpTestSupport.TOKEN);
  static final Duration WAIT = Duration.ofSeconds(15);
  static Path dir;
  static TestCertificates certs;
  /** A CA of its own, which did not sign the server's certificate. */
  static TestCertificates otherCa;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.of(() -> {
    try {
      dir = Files.createTempDirectory("redis-tls-it-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    certs = TestCertificates.create(dir.resolve("good"), "rr-test-ca");
    otherCa = TestCertificates.create(dir.resolve("other"), "rr-other-ca");
    return RedisServer.builder().tls(certs).arg("--requirepass", PASSWORD).start();
  });

  @AfterAll
  static void deleteCertificates() throws IOException {
    if (dir == null) return;
    try (var files = Files.walk(dir)) {
      for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }

  static String config(Path ca, String more) {
    return "redis-router.redis.instances.default { password = \"" + PASSWORD + "\", tls-ca-file = \"" + ca
        + "\" }\n" + more;
  }

  static void assertNoSecret(List<String> lines, List<String> bodies) {
    for (String secret : SECRETS) {
      List<String> leaks = lines.stream().filter(l -> l.contains(secret)).toList();
      assertTrue(leaks.isEmpty(), "secret " + secret + " appears in the log:\n" + String.join("\n", leaks));
      List<String> leakingBodies = bodies.stream().filter(b -> b.contains(secret)).toList();
      assertTrue(leakingBodies.isEmpty(), "secret " + secret + " appears in a response:\n"
          + String.join("\n", leakingBodies));
    }
  }

  static void awaitTrue(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "not within " + WAIT + ": " + what);
      Thread.sleep(20); // polling a condition with a deadline
    }
  }

  @Test
  void theRouterPublishesAndConsumesOverTlsWithThePassword() throws Exception {
    // the server has no plain port, and its TLS port does not answer plain RESP
    assertEquals(List.of("port", "0"), redis.server().callList("CONFIG", "GET", "port"));
    assertEquals(List.of("tls-port", Integer.toString(redis.server().port())),
        redis.server().callList("CONFIG", "GET", "tls-port"));
    assertTrue(redis.server().uri().startsWith("rediss://127.0.0.1:"), redis.server().uri());
    try (Socket s = new Socket("127.0.0.1", redis.server().port())) {
      s.setSoTimeout(3000);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      String answer;
      try {
        answer = new String(in.readNBytes(5), StandardCharsets.US_ASCII);
      } catch (IOException e) {
        answer = e.toString();
      }
      assertNotEquals("+PONG", answer, "a plain PING is not answered on the TLS port");
    }

    List<String> bodies = new ArrayList<>();
    List<String> lines;
    MessageChecker checker = new MessageChecker();
    try (LogCapture logs = LogCapture.everything(Level.DEBUG)) {
      RouterService service = HttpTestSupport.start("redis-tls", redis.server(), config(certs.caCert(), ""));
      try {
        String connected = logs.lines().stream().filter(l -> l.contains("connected at " + redis.server().uri()))
            .findFirst().orElseThrow(() -> new AssertionError("no connect line"));
        assertTrue(connected.contains("TLS (server certificate check: full, trusting " + certs.caCert()), connected);

        // the router's connection is the one on the TLS port (the only port there is)
        List<Map<String, String>> routers = redis.server().clients().stream()
            .filter(c -> c.getOrDefault("name", "").startsWith("rr:")).toList();
        assertEquals(1, routers.size(), routers.toString());
        assertTrue(routers.get(0).get("laddr").endsWith(":" + redis.server().port()), routers.toString());

        ConsumeHttpSupport.createPull(service, "tls-pull", "tls-orders");
        ConsumeHttpSupport.publish(service, "tls-orders", 50, "tls", checker);
        RouterClient.Reply one = new RouterClient(service).publish("tls-orders",
            RouterClient.Message.json(Map.of("single", true)).withKey("tls-key"));
        assertEquals(202, one.status(), one.body());
        checker.sent(one.get("messageId").asText());
        checker.acked(one.get("messageId").asText());
        List<JsonNode> got = ConsumeHttpSupport.pullUntil(service, "tls-pull", l -> l.size() >= 51);
        for (JsonNode d : got) checker.delivered(ConsumeHttpSupport.messageId(d));
        ConsumeHttpSupport.ackAll(service, "tls-pull", got);
        awaitTrue("nothing pending", () -> (Long) redis.server().callList("XPENDING",
            io.redisrouter.router.redis.RedisKeys.stream("tls-orders"), "tls-pull").get(0) == 0);
        bodies.add(HttpTestSupport.get(service, "/health/ready").body());
        bodies.add(HttpTestSupport.post(service, "/v1/channels/tls-orders/messages", "{not json").body());
        bodies.add(HttpTestSupport.get(service, "/v1/channels/tls-orders").body());
      } finally {
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      lines = logs.lines();
    }
    MessageChecker.Report r = checker.report();
    System.out.println("RedisTlsIT over TLS: " + r + "; " + lines.size() + " log lines checked");
    assertEquals(51, r.delivered(), r.toString());
    assertEquals(0, r.lost(), checker.lostIds().toString());
    assertEquals(0, r.duplicated(), checker.duplicatedIds().toString());
    assertNoSecret(lines, bodies);
  }

  @Test
  void aCaThatDidNotSignTheServerKeepsTheRouterOutAndSaysWhy() throws Exception {
    List<String> bodies = new ArrayList<>();
    List<String> lines;
    try (LogCapture logs = LogCapture.everything(Level.DEBUG)) {
      RouterService service = HttpTestSupport.startUnready("redis-tls-wrong-ca", redis.server(),
          config(otherCa.caCert(), ""));
      try {
        RedisHandle handle = service.runtime().handleFor("tls-any");
        // it keeps trying (backoff from 100 ms), and says each time that it is TLS
        awaitTrue("connect failures logged", () -> logs.linesContaining("connect failed").size() >= 2);
        assertFalse(handle.isUp());
        String reason = handle.lastError();
        assertTrue(reason.contains("TLS failed") && reason.contains("tls-ca-file"), reason);
        HttpResponse<String> ready = HttpTestSupport.get(service, "/health/ready");
        assertEquals(503, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("TLS failed"), ready.body());
        bodies.add(ready.body());
        HttpResponse<String> pub = HttpTestSupport.post(service, "/v1/channels/tls-any/messages", "{\"payload\": 1}");
        assertEquals(503, pub.statusCode(), pub.body());
        bodies.add(pub.body());
      } finally {
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      lines = logs.lines();
    }
    List<String> failures = lines.stream().filter(l -> l.contains("connect failed")).toList();
    System.out.println("RedisTlsIT wrong CA: " + failures.size() + " connect failures, the first: "
        + failures.get(0).split("\n")[0]);
    assertTrue(failures.stream().allMatch(l -> l.contains("unable to find valid certification path")
        && l.contains("TLS failed") && l.contains("tls-ca-file")),
        String.join("\n", failures));
    assertNoSecret(lines, bodies);
  }

  @Test
  void verifyPeerNoneConnectsWhateverTheCertificateAndWarns() throws Exception {
    List<String> lines;
    try (LogCapture logs = LogCapture.everything(Level.DEBUG)) {
      RouterService service = HttpTestSupport.start("redis-tls-none", redis.server(),
          config(otherCa.caCert(), "redis-router.redis.instances.default.tls-verify-peer = none\n"));
      try {
        RouterClient.Reply r = new RouterClient(service).publish("tls-none", RouterClient.Message.json(1));
        assertEquals(202, r.status(), r.body());
      } finally {
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      lines = logs.lines();
    }
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("WARN") && l.contains("tls-verify-peer = none")),
        "the missing check is announced");
    assertNoSecret(lines, List.of());
  }
}
