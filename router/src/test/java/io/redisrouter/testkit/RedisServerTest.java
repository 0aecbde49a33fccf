package io.redisrouter.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

class RedisServerTest {

  @Test
  void startsAndAnswersCommands() {
    try (RedisServer redis = RedisServer.start()) {
      assertTrue(redis.port() > 0);
      assertEquals("redis://127.0.0.1:" + redis.port(), redis.uri());
      assertTrue(redis.version().matches("\\d+\\.\\d+.*"), redis.version());

      assertEquals("OK", redis.call("SET", "k", "v"));
      assertEquals("v", redis.call("GET", "k"));
      assertEquals("v", redis.command("GET", "k"));
      assertNull(redis.call("GET", "missing"));
      assertEquals(3L, redis.call("INCRBY", "n", "3"));
      assertEquals("3", redis.command("GET", "n"));

      RedisServer.RedisError err = assertThrows(RedisServer.RedisError.class,
          () -> redis.call("NOSUCHCOMMAND"));
      assertEquals("ERR", err.code());
      // the connection stays usable after an error reply
      assertEquals("PONG", redis.call("PING"));

      redis.call("XADD", "s", "*", "f", "1");
      redis.call("XADD", "s", "*", "f", "2");
      assertEquals(2L, redis.callLong("XLEN", "s"));
      List<Object> range = redis.callList("XRANGE", "s", "-", "+");
      assertEquals(2, range.size());
      assertEquals(List.of("f", "2"), ((List<?>) range.get(1)).get(1));
    }
  }

  @Test
  void countsClientsButNotTheHarness() throws IOException {
    try (RedisServer redis = RedisServer.start()) {
      redis.call("PING"); // harness connection is open now
      assertEquals(0, redis.clientCountExcludingSelf());
      try (Socket a = new Socket("127.0.0.1", redis.port());
          Socket b = new Socket("127.0.0.1", redis.port())) {
        rawCommand(a, "CLIENT", "SETNAME", "router-publisher-1");
        rawCommand(b, "PING");
        assertEquals(1, redis.clientCount("router-"));
        assertEquals(0, redis.clientCount("nobody-"));
        assertEquals(2, redis.clientCountExcludingSelf());
      }
      await(Duration.ofSeconds(10), () -> redis.clientCountExcludingSelf() == 0);
      assertEquals(0, redis.clientCount("router-"));
    }
  }

  @Test
  void kill9AndRestartKeepsAofData() {
    try (RedisServer redis = RedisServer.builder().appendOnly("always").start()) {
      int port = redis.port();
      long pid = redis.pid();
      assertEquals("OK", redis.call("SET", "before-kill", "survives"));
      redis.call("XADD", "stream", "*", "f", "v");

      redis.kill9();
      assertFalse(redis.isAlive());
      assertEquals(137, redis.lastExitValue(), "exit value 128+9 proves SIGKILL");
      assertFalse(redis.ping(Duration.ofMillis(500)));

      redis.restart();
      assertEquals(port, redis.port());
      assertTrue(redis.pid() != pid);
      assertEquals("survives", redis.call("GET", "before-kill"));
      assertEquals(1L, redis.callLong("XLEN", "stream"));
    }
  }

  @Test
  void restartWithoutAofLosesData() {
    try (RedisServer redis = RedisServer.start()) {
      redis.call("SET", "k", "v");
      redis.restart(); // kills the running process first
      assertNull(redis.call("GET", "k"));
    }
  }

  @Test
  void pauseStopsAnsweringAndResumeContinues() throws IOException {
    try (RedisServer redis = RedisServer.start()) {
      redis.pause();
      try {
        assertThrows(SocketTimeoutException.class,
            () -> redis.callOnce(Duration.ofMillis(300), "PING"));
        assertFalse(redis.ping(Duration.ofMillis(300)));
      } finally {
        redis.resume();
      }
      assertEquals("PONG", redis.callOnce(Duration.ofSeconds(5), "PING"));
      assertEquals("PONG", redis.call("PING"));
    }
  }

  @Test
  void kill9WhilePaused() {
    try (RedisServer redis = RedisServer.builder().appendOnly("always").start()) {
      redis.call("SET", "k", "v");
      redis.pause();
      redis.kill9();
      assertEquals(137, redis.lastExitValue());
      redis.restart();
      assertEquals("v", redis.call("GET", "k"));
    }
  }

  @Test
  void embeddedBinaryWorksWithoutRedisOnPath() {
    try (RedisServer redis = RedisServer.builder().embeddedBinary(true).appendOnly("always").start()) {
      assertTrue(redis.usesEmbeddedBinary());
      assertTrue(redis.version().startsWith("6.2"), redis.version());
      assertEquals("OK", redis.call("SET", "k", "v"));
      redis.call("XADD", "s", "*", "f", "v");
      redis.call("XGROUP", "CREATE", "s", "g", "0");
      assertEquals(1, redis.callList("XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "s", ">")
          .size());
      assertEquals(1L, redis.callList("XPENDING", "s", "g").get(0));

      redis.kill9();
      redis.restart();
      assertEquals("v", redis.call("GET", "k"));
      assertEquals(1L, redis.callLong("XLEN", "s"));
    }
  }

  @Test
  void optionsArePassedToTheServer() {
    try (RedisServer redis = RedisServer.builder()
        .maxMemory("10mb", "allkeys-lru")
        .arg("--maxclients", "77")
        .start()) {
      assertEquals(List.of("maxmemory", "10485760"), redis.callList("CONFIG", "GET", "maxmemory"));
      assertEquals(List.of("maxmemory-policy", "allkeys-lru"),
          redis.callList("CONFIG", "GET", "maxmemory-policy"));
      assertEquals(List.of("maxclients", "77"), redis.callList("CONFIG", "GET", "maxclients"));
      assertEquals(List.of("save", ""), redis.callList("CONFIG", "GET", "save"));
      assertEquals(List.of("appendonly", "no"), redis.callList("CONFIG", "GET", "appendonly"));
    }
  }

  @Test
  void startupFailureReportsTheLogTail() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> RedisServer.builder().arg("--no-such-directive", "x").start());
    assertTrue(e.getMessage().contains("no-such-directive"), e.getMessage());
  }

  @Test
  void closeKillsTheProcessAndDeletesTheDir() {
    RedisServer redis = RedisServer.start();
    Path dir = redis.dir();
    long pid = redis.pid();
    assertTrue(Files.isDirectory(dir));
    redis.close();
    assertFalse(Files.exists(dir));
    assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
    redis.close(); // idempotent
  }

  private static void await(Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within " + timeout);
      }
      LockSupport.parkNanos(Duration.ofMillis(10).toNanos()); // poll interval, not a timing assumption
    }
  }

  /** Sends one command on a raw socket and reads the (single-line) reply. */
  private static String rawCommand(Socket s, String... args) throws IOException {
    StringBuilder b = new StringBuilder("*").append(args.length).append("\r\n");
    for (String a : args) {
      b.append('$').append(a.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(a).append("\r\n");
    }
    OutputStream out = s.getOutputStream();
    out.write(b.toString().getBytes(StandardCharsets.UTF_8));
    out.flush();
    s.setSoTimeout(5000);
    InputStream in = s.getInputStream();
    StringBuilder line = new StringBuilder();
    int c;
    while ((c = in.read()) >= 0 && c != '\n') {
      if (c != '\r') {
        line.append((char) c);
      }
    }
    return line.toString();
  }
}
