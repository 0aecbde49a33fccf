package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The OpenAPI document of the HTTP API, served at {@code /v1/openapi.json}. It is kept as one fragment per route
 * group ({@code openapi/publish.json}, {@code consume.json}, {@code admin.json}, {@code ops.json}) next to
 * {@code openapi/base.json}, merged at start-up.
 */
public final class OpenApi {
  private static final List<String> FRAGMENTS = List.of("publish", "consume", "admin", "ops");

  private OpenApi() {}

  /** The merged document. */
  public static ObjectNode document() {
    ObjectNode base = (ObjectNode) read("base");
    ObjectNode paths = base.with("paths");
    for (String f : FRAGMENTS) {
      JsonNode fragment = read(f);
      mergeComponents(base, fragment.get("components"));
      JsonNode frag = fragment.get("paths");
      if (frag == null) continue;
      for (Iterator<Map.Entry<String, JsonNode>> it = frag.fields(); it.hasNext();) {
        Map.Entry<String, JsonNode> e = it.next();
        JsonNode existing = paths.get(e.getKey());
        if (existing instanceof ObjectNode o) {
          o.setAll((ObjectNode) e.getValue());
        } else {
          paths.set(e.getKey(), e.getValue());
        }
      }
    }
    return base;
  }

  /**
   * Adds a fragment's {@code components} (schemas, responses, headers, parameters, ...) to the document's, so that a
   * fragment may define the schemas its operations {@code $ref}; a name defined twice keeps the first definition.
   */
  private static void mergeComponents(ObjectNode base, JsonNode components) {
    if (components == null || !components.isObject()) return;
    ObjectNode target = base.with("components");
    components.fields().forEachRemaining(kind -> {
      ObjectNode into = target.with(kind.getKey());
      kind.getValue().fields().forEachRemaining(def -> {
        if (!into.has(def.getKey())) into.set(def.getKey(), def.getValue());
      });
    });
  }

  /** Every operation in the document as "METHOD /path". */
  public static Set<String> operations(JsonNode document) {
    Set<String> ops = new LinkedHashSet<>();
    document.get("paths").fields().forEachRemaining(p -> p.getValue().fieldNames().forEachRemaining(m -> {
      if (Set.of("get", "post", "put", "delete", "patch", "head").contains(m)) {
        ops.add(m.toUpperCase(java.util.Locale.ROOT) + " " + p.getKey());
      }
    }));
    return ops;
  }

  private static JsonNode read(String name) {
    String path = "/openapi/" + name + ".json";
    try (InputStream in = OpenApi.class.getResourceAsStream(path)) {
      if (in == null) throw new IllegalStateException("missing resource " + path);
      return RouteSupport.JSON.readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path, e);
    }
  }
}
