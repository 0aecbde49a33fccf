package io.redisrouter.router.docs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * README's configuration reference stays true: its block of the core keys is cluster-config's reference.conf as it
 * is, and every key of the router module's reference.conf ({@code redis-router.http}, {@code redis-router.service})
 * is named in README.
 */
class ReadmeConfigTest {
  private static final Path ROOT = Path.of("..");

  private static String read(String path) throws IOException {
    return Files.readString(ROOT.resolve(path), StandardCharsets.UTF_8);
  }

  @Test
  void theConfigurationBlockIsTheReferenceConf() throws IOException {
    String readme = read("README.md");
    String marker = "All keys, with their defaults, from `cluster-config/src/main/resources/reference.conf`";
    int at = readme.indexOf(marker);
    assertTrue(at >= 0, "README names the reference.conf it copies");
    int open = readme.indexOf("```", at);
    int bodyStart = readme.indexOf('\n', open) + 1;
    int close = readme.indexOf("```", bodyStart);
    assertEquals(read("cluster-config/src/main/resources/reference.conf"), readme.substring(bodyStart, close),
        "README's configuration block differs from cluster-config/src/main/resources/reference.conf: copy the file"
            + " into it");
  }

  @Test
  void everyRouterModuleKeyIsNamedInReadme() throws IOException {
    String readme = read("README.md");
    Config router = ConfigFactory.parseFile(ROOT.resolve("router/src/main/resources/reference.conf").toFile());
    List<String> keys = router.getConfig("redis-router").entrySet().stream().map(Map.Entry::getKey).sorted().toList();
    assertTrue(keys.size() > 10, "keys read: " + keys);
    for (String key : keys) {
      // named in full, or relative to its block (http, service), as README's key lists write them
      String full = "redis-router." + key;
      String relative = key.substring(key.indexOf('.') + 1);
      boolean named = false;
      for (String form : List.of(full, key, relative)) named |= readme.contains("`" + form) || readme.contains(form + " =");
      assertTrue(named, full + " (router/src/main/resources/reference.conf) is not described in README.md");
    }
  }
}
