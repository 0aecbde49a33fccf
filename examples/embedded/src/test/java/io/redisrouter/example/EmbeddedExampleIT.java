package io.redisrouter.example;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's embedding example as a user runs it: this module depends on the core library alone. It runs the
 * example against a real {@code redis-server} (started here on a free port, from the PATH), checks that the README
 * shows exactly this code, and that the library brought no logging backend, no Redis binaries or other Redis
 * client, no HTTP server and no metrics library.
 */
class EmbeddedExampleIT {
  private static Process redis;
  private static int port;

  @BeforeAll
  static void startRedis() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    redis = new ProcessBuilder("redis-server", "--port", Integer.toString(port), "--save", "", "--appendonly", "no")
        .redirectErrorStream(true).redirectOutput(new File("target/example-redis.log")).start();
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      try (Socket probe = new Socket("127.0.0.1", port)) {
        return;
      } catch (IOException notYet) {
        assertTrue(redis.isAlive(), "redis-server exited: see target/example-redis.log");
        assertTrue(System.nanoTime() < deadline, "redis-server did not listen on " + port + " within 10 s");
        Thread.sleep(20);
      }
    }
  }

  @AfterAll
  static void stopRedis() throws Exception {
    if (redis != null) {
      redis.destroy();
      redis.waitFor();
    }
  }

  @Test
  void theExampleDeliversEveryOrder() throws Exception {
    List<String> received = EmbeddedExample.run("redis://127.0.0.1:" + port, 25);
    List<String> expected = IntStream.rangeClosed(1, 25).mapToObj(i -> "order-" + i).toList();
    assertEquals(expected.stream().sorted().toList(), received.stream().sorted().toList());
  }

  @Test
  void theReadmeShowsThisExample() throws Exception {
    Path source = Path.of("src/main/java/io/redisrouter/example/EmbeddedExample.java");
    String code = between(Files.readString(source, StandardCharsets.UTF_8), "// README-EXAMPLE-START\n",
        "// README-EXAMPLE-END");
    String doc = Files.readString(Path.of("../../README.md"), StandardCharsets.UTF_8);
    assertTrue(doc.contains(code.strip()), "README.md must contain the code of EmbeddedExample.java verbatim"
        + " (between the README-EXAMPLE markers); copy it again after changing the example");
  }

  @Test
  void theLibraryBringsNoLoggingBackendRedisBinariesHttpServerOrMetricsLibrary() {
    // a class each of them would bring; the core's own classes are there (the check itself can see classes)
    assertTrue(present("io.redisrouter.router.RedisRouter"), "the core library is on the classpath");
    List<String> found = new ArrayList<>();
    for (String[] c : new String[][]{{"logback", "ch.qos.logback.classic.Logger"},
        {"log4j2 binding", "org.apache.logging.slf4j.Log4jLoggerFactory"},
        {"slf4j-simple", "org.slf4j.simple.SimpleLogger"},
        {"embedded-redis", "redis.embedded.RedisServer"}, {"jedis", "redis.clients.jedis.Jedis"},
        {"pekko-http", "org.apache.pekko.http.scaladsl.Http"},
        {"prometheus", "io.prometheus.metrics.core.metrics.Counter"}}) {
      if (present(c[1])) found.add(c[0] + " (" + c[1] + ")");
    }
    assertTrue(found.isEmpty(), "the core library brought " + found + " to an embedding app");
    String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> jars = java.util.Arrays.stream(classpath.split(File.pathSeparator)).filter(p -> p.endsWith(".jar"))
        .toList();
    assertFalse(jars.isEmpty(), "the test classpath is known");
    assertTrue(jars.stream().noneMatch(j -> j.contains("logback") || j.contains("embedded-redis")
        || j.contains("pekko-http") || j.contains("prometheus") || j.contains("jedis")), jars::toString);
  }

  private static boolean present(String className) {
    try {
      Class.forName(className, false, EmbeddedExampleIT.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  private static String between(String s, String start, String end) {
    int a = s.indexOf(start);
    int b = s.indexOf(end);
    return s.substring(a + start.length(), b).lines().collect(Collectors.joining("\n"));
  }
}
