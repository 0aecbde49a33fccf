package io.redisrouter.example;

import io.redisrouter.testkit.RedisServer;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the README's embedding example, and checks that the README shows exactly this code. */
class EmbeddedExampleIT {

  @Test
  void theExampleDeliversEveryOrder() throws Exception {
    try (RedisServer redis = RedisServer.start()) {
      List<String> received = EmbeddedExample.run(redis.uri(), 25);
      List<String> expected = IntStream.rangeClosed(1, 25).mapToObj(i -> "order-" + i).toList();
      assertEquals(expected.stream().sorted().toList(), received.stream().sorted().toList());
    }
  }

  @Test
  void theReadmeShowsThisExample() throws Exception {
    Path source = Path.of("src/test/java/io/redisrouter/example/EmbeddedExample.java");
    Path readme = Path.of("../README.md");
    String code = between(Files.readString(source, StandardCharsets.UTF_8), "// README-EXAMPLE-START\n",
        "// README-EXAMPLE-END");
    String doc = Files.readString(readme, StandardCharsets.UTF_8);
    assertTrue(doc.contains(code.strip()), "README.md must contain the code of EmbeddedExample.java verbatim"
        + " (between the README-EXAMPLE markers); copy it again after changing the example");
  }

  private static String between(String s, String start, String end) {
    int a = s.indexOf(start);
    int b = s.indexOf(end);
    return s.substring(a + start.length(), b).lines().collect(Collectors.joining("\n"));
  }
}
