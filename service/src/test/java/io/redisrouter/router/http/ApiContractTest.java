package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OpenAPI document agrees with itself (every example matches the schema it illustrates) and {@link ApiContract}
 * can tell a response that matches from one that does not, so the integration tests that go through it can fail.
 */
class ApiContractTest {
  private static final URI READY = URI.create("http://127.0.0.1:1/health/ready");
  private static final URI PUBLISH = URI.create("http://127.0.0.1:1/v1/channels/orders.created/messages");

  @Test
  void everyExampleInTheDocumentMatchesItsSchema() {
    List<String> checked = new ArrayList<>();
    List<String> wrong = new ArrayList<>();
    walk(ApiContract.document(), "", (pointer, schemaPointer, example) -> {
      checked.add(pointer);
      List<String> problems = ApiContract.validate(schemaPointer, example);
      if (!problems.isEmpty()) wrong.add(pointer + ": " + problems);
    });
    // the document has examples for requests, responses, errors and single fields: all of them were found
    assertTrue(checked.size() >= 40, "only " + checked.size() + " examples found: " + checked);
    assertTrue(checked.stream().anyMatch(p -> p.contains("examples/webhook")), checked.toString());
    assertTrue(wrong.isEmpty(), wrong.size() + " of " + checked.size() + " examples do not match: " + wrong);
  }

  @Test
  void aDocumentedBodyPassesAndADriftedOneFailsNamingTheField() {
    String good = "{\"status\":\"ready\",\"accepting\":true,\"ingress\":\"running\",\"redis\":{\"default\":\"up\"},\"cluster\":\"off\",\"warmUp\":\"off\"}";
    assertEquals(Optional.empty(), ApiContract.problem("GET", READY, 200, "application/json", good));

    String renamed = "{\"status\":\"ready\",\"accepting\":true,\"ingres\":\"running\",\"redis\":{\"default\":\"up\"},\"cluster\":\"off\",\"warmUp\":\"off\"}";
    Optional<String> extra = ApiContract.problem("GET", READY, 200, "application/json", renamed);
    assertTrue(extra.isPresent() && extra.get().contains("ingres") && extra.get().contains("GET /health/ready"),
        String.valueOf(extra));

    String wrongType = "{\"status\":\"ready\",\"accepting\":\"yes\",\"ingress\":\"running\",\"redis\":{},\"cluster\":\"off\",\"warmUp\":\"off\"}";
    Optional<String> type = ApiContract.problem("GET", READY, 200, "application/json", wrongType);
    assertTrue(type.isPresent() && type.get().contains("accepting"), String.valueOf(type));

    Optional<String> missing = ApiContract.problem("POST", PUBLISH, 202, "application/json", "{\"status\":202}");
    assertTrue(missing.isPresent() && missing.get().contains("messageId"), String.valueOf(missing));
  }

  @Test
  void aStatusTheOperationDoesNotListFails() {
    Optional<String> p = ApiContract.problem("GET", READY, 418, "application/json", "{}");
    assertTrue(p.isPresent() && p.get().contains("418") && p.get().contains("documented: [200, 503]"),
        String.valueOf(p));
    // a 503 from the publish endpoint is documented as a PublishResult or an Error
    assertEquals(Optional.empty(), ApiContract.problem("POST", PUBLISH, 503, "application/json",
        "{\"status\":503,\"messageId\":\"m-1\",\"code\":\"unavailable\",\"message\":\"redis is down\",\"retryAfterMs\":1000}"));
  }

  @Test
  void pathsMatchTheirMostLiteralTemplate() {
    assertEquals(Optional.of("/v1/channels/{channel}/messages/batch"),
        ApiContract.templateOf(URI.create("http://h/v1/channels/a.b/messages/batch")));
    assertEquals(Optional.of("/v1/channels/{channel}/dead-letters/replay"),
        ApiContract.templateOf(URI.create("http://h/v1/channels/a/dead-letters/replay")));
    assertEquals(Optional.of("/v1/channels/{channel}/dead-letters/{id}"),
        ApiContract.templateOf(URI.create("http://h/v1/channels/a/dead-letters/1-0")));
    assertEquals(Optional.empty(), ApiContract.templateOf(URI.create("http://h/v2/nothing")));
  }

  interface ExampleVisitor {
    void visit(String examplePointer, String schemaPointer, JsonNode example);
  }

  /**
   * Finds the examples in the document: a media type's {@code example} and {@code examples.*.value} (against its
   * {@code schema}), and a schema's own {@code example} (against that schema). Non-JSON media types are skipped.
   */
  static void walk(JsonNode node, String pointer, ExampleVisitor visitor) {
    if (!node.isObject()) {
      if (node.isArray()) {
        for (int i = 0; i < node.size(); i++) walk(node.get(i), pointer + "/" + i, visitor);
      }
      return;
    }
    boolean jsonMedia = pointer.endsWith("/application~1json");
    if (jsonMedia && node.has("schema")) {
      if (node.has("example")) visitor.visit(pointer + "/example", pointer + "/schema", node.get("example"));
      if (node.has("examples")) {
        node.get("examples").fields().forEachRemaining(e -> visitor.visit(pointer + "/examples/" + e.getKey(),
            pointer + "/schema", e.getValue().get("value")));
      }
    } else if (isSchema(pointer) && node.has("example")) {
      visitor.visit(pointer + "/example", pointer, node.get("example"));
    }
    for (Map.Entry<String, JsonNode> e : iterable(node)) {
      if (e.getKey().equals("example") || e.getKey().equals("examples")) continue;
      walk(e.getValue(), pointer + "/" + ApiContract.escape(e.getKey()), visitor);
    }
  }

  /** A schema object: a component schema, a {@code schema}, or a property, item or additional-properties schema. */
  private static boolean isSchema(String pointer) {
    return pointer.matches(".*/components/schemas/[^/]+") || pointer.endsWith("/schema")
        || pointer.matches(".*/properties/[^/]+") || pointer.endsWith("/items")
        || pointer.endsWith("/additionalProperties");
  }

  private static Iterable<Map.Entry<String, JsonNode>> iterable(JsonNode node) {
    return node::fields;
  }
}
