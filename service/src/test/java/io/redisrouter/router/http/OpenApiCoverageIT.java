package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
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
  static JsonNode document;
  /** Scope name to a token that has only that scope. */
  static final Map<String, String> SCOPED_TOKENS = Map.of("publish", "only-publish-token",
      "consume", "only-consume-token", "admin", "only-admin-token");

  // the test's token with every scope, and one token per scope
  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("openapi-coverage")
      .config("redis-router.http.auth.tokens = ["
          + "{ name = all, token = \"" + HttpTestSupport.TOKEN + "\", scopes = [publish, consume, admin] }, "
          + "{ name = p, token = \"" + SCOPED_TOKENS.get("publish") + "\", scopes = [publish] }, "
          + "{ name = c, token = \"" + SCOPED_TOKENS.get("consume") + "\", scopes = [consume] }, "
          + "{ name = a, token = \"" + SCOPED_TOKENS.get("admin") + "\", scopes = [admin] }]\n");

  /** The service's OpenAPI document, read once for the class. */
  @BeforeAll
  static void readDocument() throws Exception {
    HttpResponse<String> r = HttpTestSupport.get(node.service(), "/v1/openapi.json");
    assertEquals(200, r.statusCode(), r.body());
    document = HttpTestSupport.json(r);
  }

  @Test
  void documentedAndRegisteredOperationsAreTheSame() {
    Set<String> documented = new TreeSet<>(OpenApi.operations(document));
    Set<String> registered = new TreeSet<>(node.service().http().endpoints().all());
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
    for (Iterator<Map.Entry<String, JsonNode>> paths = document.get("paths").fields(); paths.hasNext();) {
      Map.Entry<String, JsonNode> p = paths.next();
      for (Iterator<Map.Entry<String, JsonNode>> ops = p.getValue().fields(); ops.hasNext();) {
        Map.Entry<String, JsonNode> op = ops.next();
        String method = op.getKey().toUpperCase(java.util.Locale.ROOT);
        if (!Set.of("GET", "POST", "PUT", "DELETE", "PATCH").contains(method)) continue;
        String path = p.getKey().replaceAll("\\{([^}]+)}", "coverage-$1");
        String name = method + " " + p.getKey();

        Answer withToken = call(method, path, true);
        seen.add(name + " -> " + withToken);
        if (withToken.problem() != null) problems.add(withToken.problem());
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
        if (without.problem() != null) problems.add(without.problem());
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

  /**
   * Every request example the document gives (a request body's {@code example} or {@code examples}, or the example
   * of the schema it references) is sent, in an order that makes sense (subscription, publish, pull, ack, nack),
   * with path parameters from their documented examples, and is accepted (2xx); {@link HttpTestSupport#send}
   * checks each answer against its documented schema. An example added to the document and not sent here fails.
   */
  @Test
  void everyDocumentedRequestExampleIsSentAndAccepted() throws Exception {
    Map<String, JsonNode> examples = requestExamples();
    List<String> sent = new ArrayList<>();
    List<String> refused = new ArrayList<>();
    java.util.function.BiConsumer<String, String> send = (key, path) -> {
      JsonNode body = examples.get(key);
      if (body == null) {
        refused.add(key + ": no such example in the document");
        return;
      }
      try {
        HttpResponse<String> r = HttpTestSupport.post(node.service(), path, body.toString());
        sent.add(key);
        if (r.statusCode() / 100 != 2) refused.add(key + " -> " + r.statusCode() + " " + r.body());
      } catch (Exception e) {
        refused.add(key + " -> " + e);
      }
    };
    String channel = example("/components/parameters/Channel/schema/example");
    String name = example("/components/parameters/SubscriptionName/schema/example");
    send.accept("POST /v1/subscriptions#pull", "/v1/subscriptions");
    send.accept("POST /v1/channels/{channel}/messages", "/v1/channels/" + channel + "/messages");
    send.accept("POST /v1/channels/{channel}/messages/batch", "/v1/channels/" + channel + "/messages/batch");
    send.accept("POST /v1/subscriptions/{name}/pull", "/v1/subscriptions/" + name + "/pull");
    send.accept("POST /v1/subscriptions/{name}/ack", "/v1/subscriptions/" + name + "/ack");
    send.accept("POST /v1/subscriptions/{name}/nack", "/v1/subscriptions/" + name + "/nack");
    send.accept("POST /v1/subscriptions#webhook", "/v1/subscriptions");
    for (JsonNode created : List.of(examples.get("POST /v1/subscriptions#pull"),
        examples.get("POST /v1/subscriptions#webhook"))) {
      assertEquals(204, HttpTestSupport.delete(node.service(), "/v1/subscriptions/" + created.get("name").asText())
          .statusCode());
    }
    Set<String> notSent = new TreeSet<>(examples.keySet());
    sent.forEach(notSent::remove);
    log.info("OpenApiCoverageIT: request examples sent and accepted: {}", sent);
    assertTrue(refused.isEmpty(), "refused: " + refused);
    assertTrue(notSent.isEmpty(), "documented request examples this test does not send: " + notSent);
    assertTrue(sent.size() >= 7, sent.toString());
  }

  private static String example(String pointer) {
    JsonNode n = document.at(pointer);
    assertTrue(n.isTextual(), "no example at " + pointer);
    return n.asText();
  }

  /**
   * The document's JSON request examples by operation ("POST /path", or "POST /path#name" for named ones): the
   * media type's {@code example}, its {@code examples}, or else the example of the schema it {@code $ref}s.
   */
  private static Map<String, JsonNode> requestExamples() {
    Map<String, JsonNode> out = new java.util.TreeMap<>();
    document.get("paths").fields().forEachRemaining(p -> p.getValue().fields().forEachRemaining(op -> {
      JsonNode media = op.getValue().path("requestBody").path("content").path("application/json");
      if (media.isMissingNode()) return;
      String key = op.getKey().toUpperCase(java.util.Locale.ROOT) + " " + p.getKey();
      if (media.has("example")) {
        out.put(key, media.get("example"));
      } else if (media.has("examples")) {
        media.get("examples").fields()
            .forEachRemaining(e -> out.put(key + "#" + e.getKey(), e.getValue().get("value")));
      } else {
        String ref = media.path("schema").path("$ref").asText("");
        JsonNode schemaExample = ref.startsWith("#/") ? document.at(ref.substring(1)).get("example") : null;
        if (schemaExample != null) out.put(key, schemaExample);
      }
    }));
    return out;
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

  record Answer(int status, String body, String problem) {
    Answer(int status, String body) {
      this(status, body, null);
    }

    @Override
    public String toString() {
      return status < 0 ? "no answer within the timeout (long poll or stream)" : Integer.toString(status);
    }
  }

  /**
   * One request with a JSON body "{}" where the method takes one; the body is read up to 2 KiB or for 3 s (a stream
   * does not end). A request that gets no answer in 3 s (a long poll) counts as routed: the router's 404 comes at once.
   */
  /**
   * Every bearer operation names its scope ({@code x-required-scope}) and the live server enforces exactly that:
   * a token with only that scope is let through (whatever the answer then), a token with only another scope is
   * answered 403. Undocumented methods on a documented path are not served (404 or 405).
   */
  @Test
  void everyOperationAnswers403ToATokenWithoutItsScopeAndNothingUndocumentedIsServed() throws Exception {
    List<String> problems = new ArrayList<>();
    int checked = 0;
    int refused = 0;
    for (Iterator<Map.Entry<String, JsonNode>> paths = document.get("paths").fields(); paths.hasNext();) {
      Map.Entry<String, JsonNode> p = paths.next();
      String path = p.getKey().replaceAll("\\{([^}]+)}", "coverage-$1");
      Set<String> documentedMethods = new java.util.HashSet<>();
      for (Iterator<Map.Entry<String, JsonNode>> ops = p.getValue().fields(); ops.hasNext();) {
        Map.Entry<String, JsonNode> op = ops.next();
        String method = op.getKey().toUpperCase(java.util.Locale.ROOT);
        if (!Set.of("GET", "POST", "PUT", "DELETE", "PATCH").contains(method)) continue;
        documentedMethods.add(method);
        String name = method + " " + p.getKey();
        JsonNode security = op.getValue().get("security");
        if (security == null || !security.toString().contains("bearer")) continue;
        String scope = op.getValue().path("x-required-scope").asText(null);
        if (scope == null || !SCOPED_TOKENS.containsKey(scope)) {
          problems.add(name + ": bearer operation without a known x-required-scope (" + scope + ")");
          continue;
        }
        for (Map.Entry<String, String> t : SCOPED_TOKENS.entrySet()) {
          Answer a = call(method, path, t.getValue());
          checked++;
          if (a.problem() != null) problems.add(a.problem());
          if (t.getKey().equals(scope)) {
            if (a.status == 403 || a.status == 401)
              problems.add(name + ": refused " + a + " to a '" + scope + "' token");
          } else if (a.status != 403) {
            problems
                .add(name + ": a token with only '" + t.getKey() + "' got " + a + ", not 403 (needs '" + scope + "')");
          } else {
            refused++;
          }
        }
      }
      for (String other : List.of("GET", "POST", "PUT", "DELETE", "PATCH")) {
        if (documentedMethods.contains(other)) continue;
        // a literal segment that another documented template of that method matches ({id} = "replay") is that one
        if (matchesDocumented(other, path)) continue;
        Answer a = call(other, path, HttpTestSupport.TOKEN);
        if (a.status != 405 && !(a.status == 404 && a.body.contains("no such endpoint"))) {
          problems.add(other + " " + p.getKey() + ": undocumented, yet answered " + a);
        }
      }
    }
    log.info("OpenApiCoverageIT: {} scoped calls, {} refused 403 as documented", checked, refused);
    assertTrue(problems.isEmpty(), String.join("\n", problems));
    assertTrue(refused >= 30, "403s seen: " + refused);
  }

  /** Whether a documented operation of {@code method} has a path template matching the concrete {@code path}. */
  private static boolean matchesDocumented(String method, String path) {
    for (Iterator<Map.Entry<String, JsonNode>> paths = document.get("paths").fields(); paths.hasNext();) {
      Map.Entry<String, JsonNode> p = paths.next();
      if (!p.getValue().has(method.toLowerCase(java.util.Locale.ROOT))) continue;
      String regex = p.getKey().replaceAll("\\{[^}]+}", "[^/]+");
      if (path.matches(regex)) return true;
    }
    return false;
  }

  private static Answer call(String method, String path, boolean token) throws Exception {
    return call(method, path, token ? HttpTestSupport.TOKEN : null);
  }

  private static Answer call(String method, String path, String token) throws Exception {
    boolean hasBody = Set.of("POST", "PUT", "PATCH").contains(method);
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.service().baseUrl() + path))
        .timeout(Duration.ofSeconds(3))
        .method(method, hasBody ? HttpRequest.BodyPublishers.ofString("{}") : HttpRequest.BodyPublishers.noBody());
    if (hasBody) b.header("Content-Type", "application/json");
    if (token != null) b.header("Authorization", "Bearer " + token);
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
        String text = body.get(3, TimeUnit.SECONDS);
        // a whole body (not cut at 2 KiB) is held to the contract too: status documented, JSON matching its schema
        String problem = text.length() >= 2048
            ? null
            : ApiContract.problem(method, r.uri(), r.statusCode(),
                r.headers().firstValue("Content-Type").orElse(""), text).orElse(null);
        return new Answer(r.statusCode(), text, problem);
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
