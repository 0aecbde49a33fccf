package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.RedisServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OpenAPI document served at /v1/openapi.json and the server agree: every documented operation is registered
 * in the server's {@link Endpoints} and the other way round, every documented operation is routed by the live
 * server (no "no such endpoint" 404, no 405, no 500; path parameters filled with dummy values, so 400 and a
 * resource's own 404 are fine), its documented security matches (a bearer operation answers 401 without a token,
 * an open one does not), and every {@code $ref} in the document resolves.
 */
class OpenApiCoverageIT {
  private static final Logger log = LoggerFactory.getLogger(OpenApiCoverageIT.class);
  static RedisServer redis;
  static RouterService service;
  static JsonNode document;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisServer.start();
    service = HttpTestSupport.start("openapi-coverage", redis, "");
    HttpResponse<String> r = HttpTestSupport.get(service, "/v1/openapi.json");
    assertEquals(200, r.statusCode(), r.body());
    document = HttpTestSupport.json(r);
  }

  @AfterAll
  static void stop() throws Exception {
    service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    redis.close();
  }

  @Test
  void documentedAndRegisteredOperationsAreTheSame() {
    Set<String> documented = new TreeSet<>(OpenApi.operations(document));
    Set<String> registered = new TreeSet<>(service.http().endpoints().all());
    Set<String> undocumented = new TreeSet<>(registered);
    undocumented.removeAll(documented);
    Set<String> notServed = new TreeSet<>(documented);
    notServed.removeAll(registered);
    log.info("OpenApiCoverageIT: {} documented, {} registered; registered but not documented: {}; documented but"
        + " not registered: {}", documented.size(), registered.size(), undocumented, notServed);
    assertTrue(undocumented.isEmpty() && notServed.isEmpty(), "registered but not documented: " + undocumented
        + "\ndocumented but not registered: " + notServed);
    assertTrue(documented.containsAll(List.of("POST /v1/channels/{channel}/messages",
        "POST /v1/channels/{channel}/messages/batch", "GET /health/live", "GET /health/ready",
        "GET /v1/openapi.json")), documented.toString());
  }

  @Test
  void everyDocumentedOperationIsRoutedAndItsSecurityMatches() throws Exception {
    List<String> problems = new ArrayList<>();
    List<String> seen = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> paths = document.get("paths").fields(); paths.hasNext(); ) {
      Map.Entry<String, JsonNode> p = paths.next();
      for (Iterator<Map.Entry<String, JsonNode>> ops = p.getValue().fields(); ops.hasNext(); ) {
        Map.Entry<String, JsonNode> op = ops.next();
        String method = op.getKey().toUpperCase(java.util.Locale.ROOT);
        if (!Set.of("GET", "POST", "PUT", "DELETE", "PATCH").contains(method)) continue;
        String path = p.getKey().replaceAll("\\{([^}]+)}", "coverage-$1");
        String name = method + " " + p.getKey();

        Answer withToken = call(method, path, true);
        seen.add(name + " -> " + withToken);
        if (withToken.status == 404 && withToken.body.contains("no such endpoint")) {
          problems.add(name + ": not routed (404 " + withToken.body + ")");
        } else if (withToken.status == 405) {
          problems.add(name + ": method not routed (405 " + withToken.body + ")");
        } else if (withToken.status == 500) {
          problems.add(name + ": 500 " + withToken.body);
        }
        if (!op.getValue().has("responses") || op.getValue().get("responses").isEmpty()) {
          problems.add(name + ": no responses documented");
        }
        JsonNode security = op.getValue().get("security");
        boolean bearer = security != null && security.toString().contains("bearer");
        if (security == null) problems.add(name + ": no security documented (use [] for an open endpoint)");
        Answer without = call(method, path, false);
        if (bearer && without.status != 401) {
          problems.add(name + ": documented with bearer auth but answers " + without + " without a token");
        } else if (!bearer && without.status == 401) {
          problems.add(name + ": documented as open but answers 401 without a token");
        }
      }
    }
    log.info("OpenApiCoverageIT: live answers with dummy parameters:\n  {}", String.join("\n  ", seen));
    assertTrue(problems.isEmpty(), String.join("\n", problems));
    assertTrue(seen.size() >= 5, seen.toString());
  }

  @Test
  void everyReferenceResolves() {
    List<String> unresolved = new ArrayList<>();
    collectRefs(document, unresolved);
    assertTrue(unresolved.isEmpty(), "unresolved $ref: " + unresolved);
    assertEquals("3.0.3", document.get("openapi").asText());
  }

  private static void collectRefs(JsonNode node, List<String> unresolved) {
    if (node.isObject()) {
      JsonNode ref = node.get("$ref");
      if (ref != null && ref.isTextual()) {
        String r = ref.asText();
        if (!r.startsWith("#/") || document.at(r.substring(1)).isMissingNode()) unresolved.add(r);
      }
      node.elements().forEachRemaining(n -> collectRefs(n, unresolved));
    } else if (node.isArray()) {
      node.elements().forEachRemaining(n -> collectRefs(n, unresolved));
    }
  }

  record Answer(int status, String body) {
    @Override
    public String toString() {
      return status < 0 ? "no answer within the timeout (long poll or stream)" : Integer.toString(status);
    }
  }

  /**
   * One request with a JSON body "{}" where the method takes one; the body is read up to 2 KiB or for 3 s (a stream
   * does not end). A request that gets no answer in 3 s (a long poll) counts as routed: the router's 404 comes at once.
   */
  private static Answer call(String method, String path, boolean token) throws Exception {
    boolean hasBody = Set.of("POST", "PUT", "PATCH").contains(method);
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(service.baseUrl() + path))
        .timeout(Duration.ofSeconds(3))
        .method(method, hasBody ? HttpRequest.BodyPublishers.ofString("{}") : HttpRequest.BodyPublishers.noBody());
    if (hasBody) b.header("Content-Type", "application/json");
    if (token) b.header("Authorization", "Bearer " + HttpTestSupport.TOKEN);
    try {
      HttpResponse<InputStream> r = HttpTestSupport.client().send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
      InputStream in = r.body();
      // a stream (server-sent events) never ends: read what comes within 3 s, then close it
      java.util.concurrent.CompletableFuture<String> body = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
        try {
          return new String(in.readNBytes(2048), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
          return "(body: " + e + ")";
        }
      });
      try {
        return new Answer(r.statusCode(), body.get(3, TimeUnit.SECONDS));
      } catch (java.util.concurrent.TimeoutException e) {
        return new Answer(r.statusCode(), "(a stream: still open after 3 s)");
      } finally {
        in.close();
      }
    } catch (HttpTimeoutException e) {
      return new Answer(-1, "");
    }
  }
}
