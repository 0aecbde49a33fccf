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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The configuration reference (docs/configuration.md) stays true: its block of the core keys is cluster-config's
 * reference.conf as it is, every key of the service module's reference.conf ({@code redis-router.http},
 * {@code redis-router.service}) is described in it, and every {@code redis-router.} key that README or the docs name
 * exists in one of the two reference.conf files.
 */
class ReadmeConfigTest {
  private static final Path ROOT = Path.of("..");
  private static final String CONFIG_DOC = "docs/configuration.md";
  /** A full key as the documents write it: {@code redis-router.} and dotted lower-case segments. */
  private static final Pattern RELATIVE = Pattern.compile("`([a-z][a-z0-9-]*(?:\\.[a-z][a-z0-9-]*)+)[` ]");
  private static final Pattern KEY = Pattern.compile("redis-router(\\.[a-z][a-z0-9-]*)+");

  private static String read(String path) throws IOException {
    return Files.readString(ROOT.resolve(path), StandardCharsets.UTF_8);
  }

  @Test
  void theConfigurationBlockIsTheReferenceConf() throws IOException {
    String readme = read(CONFIG_DOC);
    String marker = "All keys, with their defaults, from `cluster-config/src/main/resources/reference.conf`";
    int at = readme.indexOf(marker);
    assertTrue(at >= 0, CONFIG_DOC + " names the reference.conf it copies");
    int open = readme.indexOf("```", at);
    int bodyStart = readme.indexOf('\n', open) + 1;
    int close = readme.indexOf("```", bodyStart);
    assertEquals(read("cluster-config/src/main/resources/reference.conf"), readme.substring(bodyStart, close),
        CONFIG_DOC + "'s configuration block differs from cluster-config/src/main/resources/reference.conf: copy"
            + " the file into it");
  }

  @Test
  void everyRouterModuleKeyIsDescribed() throws IOException {
    String readme = read(CONFIG_DOC);
    Config router = ConfigFactory.parseFile(ROOT.resolve("service/src/main/resources/reference.conf").toFile());
    List<String> keys = router.getConfig("redis-router").entrySet().stream().map(Map.Entry::getKey).sorted().toList();
    assertTrue(keys.size() > 10, "keys read: " + keys);
    for (String key : keys) {
      // named in full, or relative to its block (http, service), as README's key lists write them
      String full = "redis-router." + key;
      String relative = key.substring(key.indexOf('.') + 1);
      boolean named = false;
      for (String form : List.of(full, key, relative))
        named |= readme.contains("`" + form) || readme.contains(form + " =");
      assertTrue(named, full + " (service/src/main/resources/reference.conf) is not described in " + CONFIG_DOC);
    }
  }

  @Test
  void everyKeyTheDocumentsNameExists() throws IOException {
    Config all = ConfigFactory.parseFile(ROOT.resolve("service/src/main/resources/reference.conf").toFile())
        .withFallback(ConfigFactory.parseFile(ROOT.resolve("cluster-config/src/main/resources/reference.conf")
            .toFile()));
    java.util.Set<String> blocks = all.getConfig("redis-router").root().keySet();
    int checked = 0;
    for (String doc : List.of("README.md", CONFIG_DOC, "docs/http-api.md", "docs/operations.md")) {
      String text = read(doc);
      List<String> named = new java.util.ArrayList<>();
      Matcher full = KEY.matcher(text);
      while (full.find()) named.add(full.group());
      // keys written relative to redis-router in backquotes: `consumer.watch-interval`, `http.max-batch`
      Matcher relative = RELATIVE.matcher(text);
      while (relative.find()) {
        if (blocks.contains(relative.group(1).substring(0, relative.group(1).indexOf('.')))) {
          named.add("redis-router." + relative.group(1));
        }
      }
      for (String found : named) {
        String key = found;
        if (key.endsWith(".")) key = key.substring(0, key.length() - 1);
        // a key, or a block of keys (redis-router.http); overrides name a channel of the user's after them
        String path = key.startsWith("redis-router.channels.overrides") ? "redis-router.channels" : key;
        assertTrue(all.hasPathOrNull(path), doc + " names " + key + ", which no reference.conf has: fix the name"
            + " or add the key");
        checked++;
      }
    }
    assertTrue(checked > 10, "keys named in the documents: " + checked);
  }
}
