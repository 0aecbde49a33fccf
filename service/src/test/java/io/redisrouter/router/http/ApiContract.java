package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaValidatorsConfig;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import com.networknt.schema.oas.OpenApi30;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The OpenAPI document as a contract the tests enforce: every response an integration test receives through
 * {@link HttpTestSupport} is checked against the operation the document gives for its method and path. Its status
 * must be listed for that operation (or a {@code default} response), and a JSON body must validate against the
 * documented schema (OpenAPI 3.0 dialect: {@code nullable}, {@code additionalProperties}, {@code enum},
 * {@code required}, formats). A drift in a field name, a type or a status code fails the test that saw it, naming
 * the operation, the status and what did not match.
 *
 * <p>
 * The checks read the document strictly: an object schema with {@code properties} and no
 * {@code additionalProperties} is taken as closed, so a field the server sends that the document does not name (a
 * renamed or new field) fails too. The served document stays open for clients, so that adding a field later is not
 * a breaking change for them.
 */
public final class ApiContract {
  /** The document's identity for the schema loader; {@code $ref}s inside it resolve against it. */
  private static final String DOCUMENT_IRI = "https://redis-router.test/openapi.json";
  private static final Set<String> METHODS = Set.of("get", "post", "put", "delete", "patch", "head");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNode DOCUMENT = OpenApi.document();
  private static final List<Template> TEMPLATES = templates(DOCUMENT);
  private static final JsonSchemaFactory FACTORY = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V4,
      b -> b.metaSchema(OpenApi30.getInstance()).defaultMetaSchemaIri(OpenApi30.getInstance().getIri())
          .schemaLoaders(l -> l.schemas(Map.of(DOCUMENT_IRI, closed(DOCUMENT.deepCopy()).toString()))));
  private static final SchemaValidatorsConfig CONFIG = SchemaValidatorsConfig.builder().formatAssertionsEnabled(true)
      .build();
  private static final Map<String, JsonSchema> SCHEMAS = new ConcurrentHashMap<>();

  private ApiContract() {}

  /** The merged document the checks use (the one the server serves). */
  public static JsonNode document() {
    return DOCUMENT;
  }

  /**
   * Checks {@code r} against the document: throws {@link AssertionError} naming the operation when the status is not
   * documented for it or its JSON body does not validate. Paths the document does not describe at all (the
   * server's "no such endpoint" answers) are left to the tests that probe them.
   */
  public static <T> HttpResponse<T> check(HttpResponse<T> r) {
    if (!(r.body() instanceof String) && r.body() != null) return r; // streamed bodies are checked by their own tests
    Optional<String> problem = problem(r.request().method(), r.request().uri(), r.statusCode(),
        r.headers().firstValue("Content-Type").orElse(""), (String) r.body());
    if (problem.isPresent()) throw new AssertionError(problem.get());
    return r;
  }

  /**
   * What is wrong with a response of {@code status}, {@code contentType} and {@code body} to {@code method}
   * {@code uri} by the document; empty when nothing is (or the document does not describe the path).
   */
  public static Optional<String> problem(String method, URI uri, int status, String contentType, String body) {
    String m = method.toLowerCase(Locale.ROOT);
    Optional<Template> template = match(uri);
    if (template.isEmpty()) return Optional.empty();
    String path = template.get().path;
    JsonNode operation = DOCUMENT.path("paths").path(path).path(m);
    if (operation.isMissingNode()) return Optional.empty(); // a method the path lacks: 405, probed elsewhere
    String op = m.toUpperCase(Locale.ROOT) + " " + path;
    String code = Integer.toString(status);
    String responsePointer = "/paths/" + escape(path) + "/" + m + "/responses/";
    JsonNode response = operation.path("responses").path(code);
    if (response.isMissingNode()) {
      response = operation.path("responses").path("default");
      responsePointer += "default";
    } else {
      responsePointer += code;
    }
    if (response.isMissingNode()) {
      return Optional.of(op + " answered " + code + ", which the OpenAPI document does not list for it (documented: "
          + fieldNames(operation.path("responses")) + "); body: " + abbreviate(body));
    }
    if (response.has("$ref")) {
      responsePointer = response.get("$ref").asText().substring(1);
      response = DOCUMENT.at(responsePointer);
    }
    if (!contentType.startsWith("application/json")) return Optional.empty();
    if (response.path("content").path("application/json").path("schema").isMissingNode()) {
      return Optional.of(op + " answered " + code + " with a JSON body, but the document gives no application/json"
          + " schema for that response (" + fieldNames(response.path("content")) + ")");
    }
    JsonNode value;
    try {
      value = JSON.readTree(body == null ? "" : body);
    } catch (IOException e) {
      return Optional.of(op + " answered " + code + " with Content-Type " + contentType + " but a body that is not"
          + " JSON: " + abbreviate(body));
    }
    List<String> problems = validate(responsePointer + "/content/application~1json/schema", value);
    if (problems.isEmpty()) return Optional.empty();
    return Optional.of(op + " answered " + code + " with a body that does not match the documented schema: "
        + problems + "; body: " + abbreviate(body));
  }

  /**
   * Validates {@code value} against the schema at {@code pointer} (a JSON pointer into the document, e.g.
   * {@code /components/schemas/PublishMessage}); answers the problems, none when it matches.
   */
  public static List<String> validate(String pointer, JsonNode value) {
    JsonSchema schema = SCHEMAS.computeIfAbsent(pointer,
        p -> FACTORY.getSchema(SchemaLocation.of(DOCUMENT_IRI + "#" + p), CONFIG));
    Set<ValidationMessage> messages = schema.validate(value);
    return messages.stream().map(ValidationMessage::getMessage).sorted().collect(Collectors.toList());
  }

  /** The documented operation template ("/v1/subscriptions/{name}") that {@code uri}'s path matches, if any. */
  public static Optional<String> templateOf(URI uri) {
    return match(uri).map(t -> t.path);
  }

  /** Escapes a path for a JSON pointer ({@code ~} as {@code ~0}, {@code /} as {@code ~1}). */
  public static String escape(String segment) {
    return segment.replace("~", "~0").replace("/", "~1");
  }

  private static Optional<Template> match(URI uri) {
    String path = uri.getRawPath();
    return TEMPLATES.stream().filter(t -> t.pattern.matcher(path).matches()).findFirst();
  }

  /** The document's paths as patterns, the most literal first (so {@code /a/b} wins over {@code /a/{x}}). */
  private static List<Template> templates(JsonNode document) {
    List<Template> out = new ArrayList<>();
    document.path("paths").fieldNames().forEachRemaining(p -> {
      long params = p.chars().filter(c -> c == '{').count();
      String regex = Pattern.quote(p).replaceAll("\\{[^}]+}", "\\\\E[^/]+\\\\Q");
      out.add(new Template(p, Pattern.compile(regex), params));
    });
    out.sort(Comparator.comparingLong((Template t) -> t.params).thenComparing(t -> -t.path.length()));
    return List.copyOf(out);
  }

  /**
   * Marks every object schema in {@code node} that names its {@code properties} but says nothing of others as
   * {@code additionalProperties: false}; examples are data, not schemas, and are left alone.
   */
  private static JsonNode closed(JsonNode node) {
    if (node instanceof ObjectNode o) {
      if (o.path("properties").isObject() && !o.has("additionalProperties")) o.put("additionalProperties", false);
      o.fields().forEachRemaining(e -> {
        if (!e.getKey().equals("example") && !e.getKey().equals("examples")) closed(e.getValue());
      });
    } else if (node.isArray()) {
      node.forEach(ApiContract::closed);
    }
    return node;
  }

  private static List<String> fieldNames(JsonNode node) {
    List<String> names = new ArrayList<>();
    node.fieldNames().forEachRemaining(n -> {
      if (!METHODS.contains(n)) names.add(n);
    });
    return names;
  }

  private static String abbreviate(Object body) {
    String s = String.valueOf(body);
    return s.length() <= 400 ? s : s.substring(0, 400) + "...";
  }

  private record Template(String path, Pattern pattern, long params) {}
}
