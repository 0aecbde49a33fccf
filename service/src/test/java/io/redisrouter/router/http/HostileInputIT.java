package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile input on every HTTP route: the cases are generated from the OpenAPI document the service serves (every
 * operation, its path and query parameters, its documented headers, its request body schema), so a new route or
 * field is covered without touching this class. Sent: bad path parameters (globs, CR/LF, NUL, 129-, 1000- and
 * 10,000-character names, non-UTF-8 and broken percent-encoding, dot segments, unicode), bad query parameters
 * (negative, huge, non-numeric, repeated), bad {@code Authorization} headers, wrong or malformed
 * {@code Content-Type}, bad router headers ({@code X-Router-TTL}, {@code X-Router-Deadline}, {@code Idempotency-Key},
 * {@code Last-Event-ID}, ...), and bodies that are malformed, truncated, 20 MB (declared and streamed), nested 100,000
 * deep, of the wrong type at every property of the schema, out of range, or with unknown fields.
 *
 * <p>
 * Every case must be answered within {@link #BOUND} (never a stuck connection) with a 4xx (never a 5xx; never a 2xx
 * for input the document says is invalid), with a JSON error body ({@code code}, {@code message}, {@code errors})
 * whose errors name the field that was wrong, without echoing the token. A value the document allows (a string
 * where a free string belongs, {@code null} for an optional field, a text/plain body that is a raw-body publish) is
 * marked "may be valid": then a 2xx or a 4xx naming a field is fine, a 5xx is not. Requests the JDK client refuses
 * to send (a raw CR, a NUL or non-ASCII bytes in a header, a malformed percent-encoding in the path) go through a
 * raw socket. What Pekko's HTTP parser refuses before any route runs (a URI over {@code max-uri-length}, a header
 * over {@code max-header-value-length}, a malformed request target or header) is answered by the router's
 * {@link ParsingErrors} handler, also as a JSON 4xx naming the part of the request ({@code uri}, {@code headers}).
 * After all cases the router still serves: a publish, pull and ack round trip works and /health/ready is 200.
 */
class HostileInputIT {
  private static String lastSegment(String field) {
    return field.substring(field.lastIndexOf('.') + 1);
  }

  /** Fields that are given together, so that one of them alone is refused naming the other. */
  private static final java.util.Map<String, String> PAIRED = java.util.Map.of("producerid", "sequence", "sequence",
      "producerId", "x-router-producer-id", "X-Router-Sequence", "x-router-sequence", "X-Router-Producer-Id");
  private static final Logger log = LoggerFactory.getLogger(HostileInputIT.class);
  /** Longest time a case may take to be answered. */
  static final Duration BOUND = Duration.ofSeconds(5);
  static final int PARALLEL = 8;
  static final String CHANNEL = "hostile.ch";
  static final String PULL = "hostile-pull";

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("hostile-input");

  static JsonNode document;

  @BeforeAll
  static void setUp() throws Exception {
    document = HttpTestSupport.json(HttpTestSupport.get(node.service(), "/v1/openapi.json"));
    HttpResponse<String> r = HttpTestSupport.post(node.service(), "/v1/subscriptions",
        "{\"name\": \"" + PULL + "\", \"channel\": \"" + CHANNEL + "\"}");
    assertTrue(r.statusCode() == 201 || r.statusCode() == 200, r.body());
  }

  /** One request and what its answer must be. */
  record Case(String operation, String name, Request request, String field, boolean mayBeValid) {
    Case {
      if (name.length() > 90) name = name.substring(0, 90) + "...";
    }

    @Override
    public String toString() {
      return operation + " [" + name + "]";
    }
  }

  /** A request: sent by the JDK client, or written byte for byte on a socket. */
  sealed interface Request {
    record Client(HttpRequest request) implements Request {}

    record Raw(byte[] bytes) implements Request {}
  }

  /** What came back. */
  record Answer(int status, String contentType, String body, long millis, String failure) {}

  // ---- generation -------------------------------------------------------------------------------------------------

  /** An operation of the document with its resolved parameters and body schema. */
  record Operation(String method, String template, JsonNode op, List<JsonNode> parameters, JsonNode bodySchema,
      JsonNode example) {
    String name() {
      return method + " " + template;
    }

    boolean bearer() {
      return op.path("security").toString().contains("bearer");
    }

    boolean hasBody() {
      return bodySchema != null;
    }
  }

  static JsonNode resolve(JsonNode n) {
    while (n != null && n.has("$ref")) n = document.at(n.get("$ref").asText().substring(1));
    if (n != null && n.has("allOf") && n.get("allOf").size() == 1) return resolve(n.get("allOf").get(0));
    return n;
  }

  static List<Operation> operations() {
    List<Operation> ops = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> paths = document.get("paths").fields(); paths.hasNext();) {
      Map.Entry<String, JsonNode> p = paths.next();
      for (Iterator<Map.Entry<String, JsonNode>> it = p.getValue().fields(); it.hasNext();) {
        Map.Entry<String, JsonNode> e = it.next();
        String method = e.getKey().toUpperCase(Locale.ROOT);
        if (!Set.of("GET", "POST", "PUT", "DELETE", "PATCH").contains(method)) continue;
        List<JsonNode> params = new ArrayList<>();
        e.getValue().path("parameters").forEach(x -> params.add(resolve(x)));
        JsonNode media = e.getValue().path("requestBody").path("content").path("application/json");
        JsonNode schema = media.isMissingNode() ? null : resolve(media.get("schema"));
        JsonNode example = null;
        if (!media.isMissingNode()) {
          example = media.has("example")
              ? media.get("example")
              : media.has("examples")
                  ? media.get("examples").elements().next().get("value")
                  : schema.has("example") ? schema.get("example") : null;
          if (example == null) example = exampleOf(schema);
        }
        ops.add(new Operation(method, p.getKey(), e.getValue(), params, schema, example));
      }
    }
    return ops;
  }

  /** A valid value of {@code schema}, built from its examples (for bodies the document gives no example of). */
  static JsonNode exampleOf(JsonNode given) {
    JsonNode schema = resolve(given);
    if (schema.has("example")) return schema.get("example");
    ObjectNode o = HttpTestSupport.JSON.createObjectNode();
    if ("array".equals(schema.path("type").asText())) {
      return HttpTestSupport.JSON.createArrayNode().add(exampleOf(schema.get("items")));
    }
    schema.path("required").forEach(r -> o.set(r.asText(), exampleOf(schema.path("properties").get(r.asText()))));
    return o;
  }

  /** The value of a path parameter that names an existing resource (or one that could exist). */
  static String validPathValue(Operation o, String param) {
    return switch (param) {
      case "channel" -> CHANNEL;
      case "name" -> PULL;
      case "id" -> "1-0";
      default -> "x";
    };
  }

  /** The operation's path with {@code param} set to the raw (already encoded) {@code value}, others valid. */
  static String path(Operation o, String param, String value) {
    String path = o.template();
    for (JsonNode p : o.parameters()) {
      if (!"path".equals(p.path("in").asText())) continue;
      String n = p.get("name").asText();
      path = path.replace("{" + n + "}", n.equals(param) ? value : validPathValue(o, n));
    }
    return path;
  }

  static String validPath(Operation o) {
    return path(o, null, null);
  }

  static byte[] validBody(Operation o) {
    if (!o.hasBody()) return new byte[0];
    return o.example().toString().getBytes(StandardCharsets.UTF_8);
  }

  /** A JDK client request with the token, the valid body and {@code headers}. */
  static HttpRequest client(Operation o, String path, byte[] body, Map<String, String> headers, boolean token) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.service().baseUrl() + path)).timeout(BOUND)
        .method(o.method(), body == null || (!o.hasBody() && body.length == 0)
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofByteArray(body));
    if (token) b.header("Authorization", "Bearer " + HttpTestSupport.TOKEN);
    if (o.hasBody() && !headers.containsKey("Content-Type")) b.header("Content-Type", "application/json");
    headers.forEach(b::header);
    return b.build();
  }

  /** A request written by hand: {@code target} as is, {@code headers} raw (they may hold any bytes). */
  static byte[] raw(Operation o, String target, byte[] body, List<byte[]> headers, boolean token) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes((o.method() + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
        .getBytes(StandardCharsets.ISO_8859_1));
    if (token)
      out.writeBytes(("Authorization: Bearer " + HttpTestSupport.TOKEN + "\r\n").getBytes(StandardCharsets.US_ASCII));
    boolean typed = false;
    for (byte[] h : headers) {
      out.writeBytes(h);
      out.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
      typed |= new String(h, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT).startsWith("content-type:");
    }
    if (o.hasBody() && !typed) out.writeBytes("Content-Type: application/json\r\n".getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(("Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(body);
    return out.toByteArray();
  }

  static byte[] bytes(String s) {
    // a lone surrogate cannot be encoded as UTF-8: in a JSON string it is sent as its escape
    return s.replace("\uD800", "\\uD800").getBytes(StandardCharsets.UTF_8);
  }

  /** Every case for every operation. */
  static List<Case> cases() {
    List<Case> cases = new ArrayList<>();
    for (Operation o : operations()) {
      if (!o.bearer()) {
        // open endpoints (health, metrics, the document) take no input: a junk query and junk headers change nothing
        cases.add(new Case(o.name(), "junk query and header",
            new Request.Client(client(o, o.template() + "?a=%00%FF&a=2", null,
                Map.of("X-Router-TTL", "-5", "Authorization", "Bearer junk"), false)),
            null, true));
        continue;
      }
      pathCases(o, cases);
      queryCases(o, cases);
      authCases(o, cases);
      headerCases(o, cases);
      if (o.hasBody()) bodyCases(o, cases);
    }
    return cases;
  }

  static void pathCases(Operation o, List<Case> cases) {
    for (JsonNode p : o.parameters()) {
      if (!"path".equals(p.path("in").asText())) continue;
      String param = p.get("name").asText();
      Pattern pattern = Pattern.compile(p.path("schema").path("pattern").asText(".*"));
      Map<String, String> values = new LinkedHashMap<>(); // case name -> encoded value
      values.put("glob *", "*");
      values.put("glob a.*", "a.*");
      values.put("glob ?", "a%3Fb");
      values.put("glob [a]", "%5Ba%5D");
      values.put("CR/LF", "a%0D%0Ab");
      values.put("CR/LF header injection", "a%0D%0AX-Injected:%201");
      values.put("NUL", "a%00b");
      values.put("space", "a%20b");
      values.put("encoded slash", "a%2Fb");
      values.put("129 characters", "n".repeat(129));
      values.put("1000 characters", "n".repeat(1000));
      values.put("non-UTF-8 %FF%FE", "%FF%FE");
      values.put("invalid UTF-8 %C3%28", "a%C3%28");
      values.put("unicode", "%C3%BCn%C3%AFc%C3%B6de");
      values.put("CJK", "%E5%90%8D%E5%89%8D");
      values.put("emoji", "%F0%9F%98%80");
      values.put("quote and angle", "%22%3Cscript%3E");
      values.put("backslash", "a%5Cb");
      values.put("encoded ..", "%2E%2E");
      values.put("wrong format", "zz-zz");
      for (Map.Entry<String, String> v : values.entrySet()) {
        String decoded = java.net.URLDecoder.decode(v.getValue().replace("+", "%2B"), StandardCharsets.UTF_8);
        boolean valid = pattern.matcher(decoded).matches();
        String path = path(o, param, v.getValue());
        // %2E%2E is "..", a dot segment: another path then (an unknown endpoint, or the parent resource)
        boolean dots = decoded.equals("..");
        cases.add(new Case(o.name(), param + " " + v.getKey(),
            new Request.Client(client(o, path, validBody(o), Map.of(), true)), dots ? null : param, valid || dots));
      }
      // what Pekko's parser refuses, or routing never reaches: the field is the request's part, not the parameter
      cases.add(new Case(o.name(), param + " 10,000 characters (over max-uri-length)",
          new Request.Client(client(o, path(o, param, "n".repeat(10_000)), validBody(o), Map.of(), true)), "uri",
          false));
      for (String bad : List.of("%", "%zz", "a%0", "a b", "a\tb")) {
        cases.add(new Case(o.name(), param + " malformed target '" + bad + "'",
            new Request.Raw(raw(o, path(o, param, bad), validBody(o), List.of(), true)), "uri", false));
      }
      // ".." and "." are dot segments, empty is no segment: the path is another (unknown) endpoint then
      for (String dot : List.of("..", ".", "")) {
        cases.add(new Case(o.name(), param + " '" + dot + "'",
            new Request.Raw(raw(o, path(o, param, dot), validBody(o), List.of(), true)), null, true));
      }
    }
  }

  static void queryCases(Operation o, List<Case> cases) {
    for (JsonNode p : o.parameters()) {
      if (!"query".equals(p.path("in").asText())) continue;
      String q = p.get("name").asText();
      List<String> values = new ArrayList<>(List.of("-1", "0", "99999999999999999999", "-99999999999999999999",
          "abc", "1e3", "1.5", "%00", "%FF%FE", "NaN", "0x10", "1%0D%0A", "n".repeat(1000)));
      JsonNode schema = p.path("schema");
      for (String v : values) {
        String decoded = java.net.URLDecoder.decode(v, StandardCharsets.UTF_8);
        boolean valid = valid(schema, decoded);
        cases.add(new Case(o.name(), "query " + q + "=" + v,
            new Request.Client(client(o, validPath(o) + "?" + q + "=" + v, validBody(o), Map.of(), true)), q, valid));
      }
      cases.add(new Case(o.name(), "query " + q + " empty",
          new Request.Client(client(o, validPath(o) + "?" + q + "=", validBody(o), Map.of(), true)), q, false));
      String good = schema.has("default") ? schema.get("default").asText() : "1-0";
      cases.add(new Case(o.name(), "query " + q + " repeated",
          new Request.Client(client(o, validPath(o) + "?" + q + "=" + good + "&" + q + "=" + good, validBody(o),
              Map.of(), true)),
          q, false));
    }
  }

  /** Whether a query or header value is valid by its schema (pattern, integer bounds). */
  static boolean valid(JsonNode schema, String v) {
    if (schema.has("pattern") && !Pattern.compile(schema.get("pattern").asText()).matcher(v).find()) return false;
    if ("integer".equals(schema.path("type").asText())) {
      try {
        long n = Long.parseLong(v);
        return n >= schema.path("minimum").asLong(Long.MIN_VALUE) && n <= schema.path("maximum").asLong(Long.MAX_VALUE);
      } catch (NumberFormatException e) {
        return false;
      }
    }
    return true;
  }

  static void authCases(Operation o, List<Case> cases) {
    String path = validPath(o);
    byte[] body = validBody(o);
    cases.add(new Case(o.name(), "no token", new Request.Client(client(o, path, body, Map.of(), false)),
        "Authorization", false));
    Map<String, String> bad = new LinkedHashMap<>();
    bad.put("Bearer alone", "Bearer");
    bad.put("Bearer and space", "Bearer ");
    bad.put("wrong token", "Bearer not-the-token");
    bad.put("token with a suffix", "Bearer " + HttpTestSupport.TOKEN + "x");
    bad.put("Basic scheme", "Basic dXNlcjpwYXNz");
    bad.put("empty", "");
    bad.put("7 KB token", "Bearer " + "t".repeat(7_000));
    for (Map.Entry<String, String> b : bad.entrySet()) {
      cases.add(new Case(o.name(), "Authorization " + b.getKey(),
          new Request.Client(client(o, path, body, Map.of("Authorization", b.getValue()), false)), "Authorization",
          false));
    }
    cases.add(new Case(o.name(), "Authorization 10 KB token (over max-header-value-length)",
        new Request.Client(client(o, path, body, Map.of("Authorization", "Bearer " + "t".repeat(10_000)), false)),
        "headers", false));
    cases.add(new Case(o.name(), "Authorization non-ASCII token",
        new Request.Raw(raw(o, path, body, List.of(bytes("Authorization: Bearer t\u00f6k\u00e9n\u540d")), false)),
        "Authorization", false));
    cases.add(new Case(o.name(), "Authorization with NUL",
        new Request.Raw(raw(o, path, body, List.of(bytes("Authorization: Bearer a\u0000b")), false)), "headers",
        false));
    cases.add(new Case(o.name(), "Authorization with a bare CR",
        new Request.Raw(raw(o, path, body, List.of(bytes("Authorization: Bearer a\rb")), false)), "headers", false));
    cases.add(new Case(o.name(), "two Authorization headers, one wrong",
        new Request.Raw(raw(o, path, body, List.of(bytes("Authorization: Bearer wrong")), true)), "Authorization",
        false));
  }

  static void headerCases(Operation o, List<Case> cases) {
    String path = validPath(o);
    byte[] body = validBody(o);
    if (o.hasBody()) {
      // a publish of any other type is a raw-body publish: valid
      boolean raw = o.op().path("requestBody").path("content").has("*/*");
      for (String type : List.of("text/plain", "application/xml", "multipart/form-data; boundary=x")) {
        cases.add(new Case(o.name(), "Content-Type " + type,
            new Request.Client(client(o, path, body, Map.of("Content-Type", type), true)), "Content-Type", raw));
      }
      for (String type : List.of(";;;", "application/json; charset=\"", "no-slash")) {
        cases.add(new Case(o.name(), "malformed Content-Type " + type,
            new Request.Raw(raw(o, path, body, List.of(bytes("Content-Type: " + type)), true)), "Content-Type",
            false));
      }
    }
    cases.add(new Case(o.name(), "header name with a space",
        new Request.Raw(raw(o, path, body, List.of(bytes("Bad Name: x")), true)), "headers", false));
    cases.add(new Case(o.name(), "header without a colon",
        new Request.Raw(raw(o, path, body, List.of(bytes("NoColon")), true)), "headers", false));
    cases.add(new Case(o.name(), "200 headers (over max-header-count)", new Request.Raw(raw(o, path, body,
        java.util.stream.IntStream.range(0, 200).mapToObj(i -> bytes("X-Filler-" + i + ": v")).toList(), true)),
        "headers", false));
    // the headers the operation documents, with hostile values; on a JSON publish the X-Router-* ones belong in the
    // body, so they are a 400 there too (else they would be dropped without a word)
    for (JsonNode p : o.parameters()) {
      if (!"header".equals(p.path("in").asText())) continue;
      String h = p.get("name").asText();
      String name = h.endsWith("*") ? h.replace("*", "bad*name") : h;
      List<String> values = h.endsWith("*")
          ? List.of("v")
          : new ArrayList<>(List.of("-5", "-5s", "0s", "garbage", "99999999999999999999d", "P-1D", "1.5",
              "2000-01-01T00:00:00Z", "n".repeat(300), " "));
      for (String v : values) {
        boolean valid = false;
        if (h.equals("Idempotency-Key")) valid = valid(p.path("schema"), v);
        if (!valid && h.equals("X-Router-Partition-Key")) valid = v.length() <= 256 && !v.isBlank();
        // a stream that stays open: valid (blank is no Last-Event-ID)
        if (h.equals("Last-Event-ID") && (v.matches("-?\\d{1,18}") || v.isBlank())) continue;
        for (boolean json : o.hasBody() ? List.of(true, false) : List.of(true)) {
          Map<String, String> headers = new LinkedHashMap<>();
          headers.put(name, v);
          if (!json) headers.put("Content-Type", "text/plain");
          // a JSON publish takes only Idempotency-Key of them; a valid one is accepted
          boolean mayBeValid = valid && (!json || h.equals("Idempotency-Key") || !o.hasBody());
          cases.add(new Case(o.name(), h + ": " + v + (o.hasBody() ? json ? " (JSON)" : " (raw)" : ""),
              new Request.Client(client(o, path, json ? body : bytes("raw"), headers, true)),
              h.endsWith("*") ? h : name, mayBeValid));
        }
      }
      cases.add(new Case(o.name(), h + " 10 KB (over max-header-value-length)",
          new Request.Client(client(o, path, body, Map.of(name, "n".repeat(10_000)), true)), "headers", false));
      cases.add(new Case(o.name(), h + " non-ASCII",
          new Request.Raw(raw(o, path, body, List.of(bytes(name + ": \u00fc\u540d")), true)),
          h.endsWith("*") ? h : name,
          h.endsWith("*")
              ? false
              : !h.equals("Idempotency-Key") && !h.equals("Last-Event-ID")
                  && !h.startsWith("X-Router-")));
    }
  }

  static void bodyCases(Operation o, List<Case> cases) {
    String path = validPath(o);
    List<String> malformed = List.of("{", "{\"a\":", "}{", "nul", "[", "\"", "{\"a\" 1}", "{,}", "{\"a\":1,}",
        "{'a': 1}", "\u0000", "{} {}", "{}}", "NaN", "{\"a\":01}");
    for (String m : malformed) {
      cases.add(new Case(o.name(), "malformed body " + m.replace("\u0000", "NUL"),
          new Request.Client(client(o, path, bytes(m), Map.of(), true)), "body", false));
    }
    cases.add(new Case(o.name(), "body with non-UTF-8 bytes", new Request.Client(client(o, path,
        new byte[]{'{', '"', 'a', '"', ':', '"', (byte) 0xFF, (byte) 0xFE, '"', '}'}, Map.of(), true)), "body",
        false));
    byte[] valid = validBody(o);
    for (int i = 1; i <= 5; i++) {
      int n = valid.length * i / 6;
      if (n == 0) continue;
      cases.add(new Case(o.name(), "truncated at " + n + " of " + valid.length,
          new Request.Client(client(o, path, java.util.Arrays.copyOf(valid, n), Map.of(), true)), "body", false));
    }
    cases.add(new Case(o.name(), "20 MB body", new Request.Client(client(o, path, null, Map.of(), true)), "body",
        false));
    // streamed in 64 KiB chunks without a Content-Length: the router reads up to its limit, then answers 413
    cases.add(new Case(o.name(), "20 MB body, streamed", new Request.Client(client(o, path, null, Map.of(), true)),
        "body", false));
    String deep = "[".repeat(100_000) + "]".repeat(100_000);
    cases.add(new Case(o.name(), "arrays nested 100,000 deep",
        new Request.Client(client(o, path, bytes(deep), Map.of(), true)), "body", false));
    cases.add(new Case(o.name(), "objects nested 100,000 deep", new Request.Client(client(o, path,
        bytes("{\"a\":".repeat(100_000) + "1" + "}".repeat(100_000)), Map.of(), true)), "body", false));
    for (String notObject : List.of("[]", "\"text\"", "1", "true", "[{}]")) {
      cases.add(new Case(o.name(), "body " + notObject,
          new Request.Client(client(o, path, bytes(notObject), Map.of(), true)), "body", false));
    }
    cases.add(new Case(o.name(), "body null", new Request.Client(client(o, path, bytes("null"), Map.of(), true)),
        "body", o.bodySchema().path("required").isEmpty()));
    // every property of the schema (and of its nested objects and array items), with values of the wrong type
    propertyCases(o, path, (ObjectNode) o.example(), o.bodySchema(), "", cases, x -> x);
  }

  /**
   * Cases for each property of {@code schema} (an object schema at {@code prefix} in the body): {@code example} (the
   * valid object there) with that property replaced, put back into the whole body by {@code wrap}.
   */
  static void propertyCases(Operation o, String path, ObjectNode example, JsonNode schema, String prefix,
      List<Case> cases, java.util.function.Function<JsonNode, JsonNode> wrap) {
    schema = resolve(schema);
    Set<String> required = new java.util.HashSet<>();
    schema.path("required").forEach(r -> required.add(r.asText()));
    ObjectNode unknown = example.deepCopy();
    unknown.put("hostileUnknown", 1);
    cases.add(new Case(o.name(), "unknown field " + prefix + "hostileUnknown",
        new Request.Client(client(o, path, bytes(wrap.apply(unknown).toString()), Map.of(), true)),
        prefix + "hostileUnknown", false));
    for (Iterator<Map.Entry<String, JsonNode>> it = schema.path("properties").fields(); it.hasNext();) {
      Map.Entry<String, JsonNode> p = it.next();
      String key = p.getKey();
      String field = prefix + key;
      JsonNode ps = resolve(p.getValue());
      String type = ps.path("type").asText("");
      for (Map.Entry<String, JsonNode> v : hostileValues(ps).entrySet()) {
        ObjectNode body = example.deepCopy();
        body.set(key, v.getValue());
        boolean mayBeValid = valueValid(ps, v.getValue(), required.contains(key));
        cases.add(new Case(o.name(), field + " = " + v.getKey(),
            new Request.Client(client(o, path, bytes(wrap.apply(body).toString()), Map.of(), true)), field,
            mayBeValid));
      }
      ObjectNode nested = example.deepCopy();
      nested.put(key, DEEP);
      cases.add(new Case(o.name(), field + " nested 2,000 deep", new Request.Client(client(o, path,
          bytes(wrap.apply(nested).toString().replace("\"" + DEEP + "\"", "[".repeat(2_000) + "]".repeat(2_000))),
          Map.of(), true)), field, false));
      if (type.equals("object") && ps.has("properties")) {
        ObjectNode inner = example.get(key) instanceof ObjectNode obj ? obj : (ObjectNode) exampleOf(ps);
        propertyCases(o, path, inner, ps, field + ".", cases, x -> {
          ObjectNode outer = example.deepCopy();
          outer.set(key, x);
          return wrap.apply(outer);
        });
      } else if (type.equals("array") && resolve(ps.get("items")).has("properties")) {
        JsonNode itemSchema = resolve(ps.get("items"));
        JsonNode ex = example.has(key) && example.get(key).size() > 0
            ? example.get(key).get(0)
            : exampleOf(itemSchema);
        propertyCases(o, path, (ObjectNode) ex, itemSchema, field + "[0].", cases, x -> {
          ObjectNode outer = example.deepCopy();
          outer.set(key, HttpTestSupport.JSON.createArrayNode().add(x));
          return wrap.apply(outer);
        });
      }
    }
  }

  /** Stands for 2,000 nested arrays in a body (more than the client's own mapper writes). */
  static final String DEEP = "hostile-deep-placeholder";

  /** Values of every JSON type but the property's, and the edge values of its own type. */
  static Map<String, JsonNode> hostileValues(JsonNode schema) {
    Map<String, JsonNode> v = new LinkedHashMap<>();
    var f = HttpTestSupport.JSON.getNodeFactory();
    v.put("null", f.nullNode());
    v.put("true", f.booleanNode(true));
    v.put("1", f.numberNode(1));
    v.put("-1", f.numberNode(-1));
    v.put("1.5", f.numberNode(1.5));
    v.put("1e400", f.numberNode(new java.math.BigDecimal("1e400")));
    v.put("Long.MAX+1", f.numberNode(new java.math.BigInteger("9223372036854775808")));
    v.put("Integer.MAX+1", f.numberNode(2147483648L));
    v.put("-10^20", f.numberNode(new java.math.BigInteger("-100000000000000000000")));
    v.put("\"NaN\"", f.textNode("NaN"));
    v.put("\"1\"", f.textNode("1"));
    v.put("\"\"", f.textNode(""));
    v.put("NUL string", f.textNode("a\u0000b"));
    v.put("CR/LF string", f.textNode("a\r\nb"));
    v.put("lone surrogate", f.textNode("a\uD800b"));
    v.put("10 KB string", f.textNode("s".repeat(10_240)));
    v.put("glob", f.textNode("orders.*"));
    v.put("[]", f.arrayNode());
    v.put("[1, null]", f.arrayNode().add(1).addNull());
    v.put("{}", f.objectNode());
    v.put("{\"a\": 1}", f.objectNode().put("a", 1));
    return v;
  }

  /** Whether {@code value} is valid for the property by its schema (so that a 2xx is fine). */
  static boolean valueValid(JsonNode schema, JsonNode value, boolean required) {
    String type = schema.path("type").asText("");
    if (value.isNull()) return !required;
    if (type.isEmpty()) return true; // any JSON value (a publish's payload)
    switch (type) {
      case "string" : {
        if (!value.isTextual()) return false;
        String s = value.asText();
        if (schema.has("pattern") && !Pattern.compile(schema.get("pattern").asText()).matcher(s).find()) return false;
        if (s.length() < schema.path("minLength").asInt(0)) return false;
        if (s.length() > schema.path("maxLength").asInt(Integer.MAX_VALUE)) return false;
        if (schema.has("format") || schema.has("example")) return s.isEmpty() ? false : true; // may or may not parse
        return true;
      }
      case "integer" :
        if (!value.isIntegralNumber() || !value.canConvertToLong()) return false;
        return value.asLong() >= schema.path("minimum").asLong(Long.MIN_VALUE)
            && value.asLong() <= schema.path("maximum").asLong(Integer.MAX_VALUE);
      case "number" :
        return value.isNumber();
      case "boolean" :
        return value.isBoolean();
      case "array" :
        if (!value.isArray()) return false;
        return value.size() >= schema.path("minItems").asInt(0) && value.isEmpty() ? true : false;
      case "object" :
        if (!value.isObject()) return false;
        if (schema.has("additionalProperties") && schema.get("additionalProperties").isObject()) {
          for (JsonNode x : value) if (!x.isTextual()) return false;
          return true;
        }
        return value.isEmpty() && schema.path("required").isEmpty();
      default :
        return true;
    }
  }

  // ---- sending ----------------------------------------------------------------------------------------------------

  static Answer send(Case c) {
    long start = System.nanoTime();
    try {
      if (c.request() instanceof Request.Client cl) {
        HttpRequest r = cl.request();
        if (c.name().equals("20 MB body")) {
          // the router answers 413 from the declared length and closes the connection while the JDK client is
          // still writing (it then reports no answer): sent by hand, read while it is written
          return sendLarge(r, start, false);
        }
        if (c.name().equals("20 MB body, streamed")) return sendLarge(r, start, true);
        HttpResponse<String> resp = HttpTestSupport.client().send(r, HttpResponse.BodyHandlers.ofString());
        return new Answer(resp.statusCode(), resp.headers().firstValue("Content-Type").orElse(""), resp.body(),
            millis(start), null);
      }
      return sendRaw(((Request.Raw) c.request()).bytes(), start);
    } catch (java.net.http.HttpTimeoutException e) {
      return new Answer(-1, "", "", millis(start), "no answer within " + BOUND.toSeconds() + " s");
    } catch (Exception e) {
      return new Answer(-1, "", "", millis(start), "failed: " + e);
    }
  }

  private static byte[] bigBody;

  static synchronized byte[] big() {
    if (bigBody == null) {
      bigBody = new byte[20 << 20];
      java.util.Arrays.fill(bigBody, (byte) ' ');
      bigBody[0] = '[';
    }
    return bigBody;
  }

  /** {@code r} with a 20 MB body, written by a thread of its own while the answer is read. */
  static Answer sendLarge(HttpRequest r, long start, boolean chunked) throws IOException {
    String head = r.method() + " " + r.uri().getRawPath() + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + "Authorization: Bearer " + HttpTestSupport.TOKEN + "\r\nContent-Type: application/json\r\n"
        + (chunked ? "Transfer-Encoding: chunked" : "Content-Length: " + big().length) + "\r\n\r\n";
    URI base = URI.create(node.service().baseUrl());
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(base.getHost(), base.getPort()), (int) BOUND.toMillis());
      s.setSoTimeout((int) BOUND.toMillis());
      Thread writer = new Thread(() -> {
        try {
          OutputStream out = s.getOutputStream();
          out.write(head.getBytes(StandardCharsets.US_ASCII));
          if (!chunked) {
            out.write(big());
          } else {
            int chunk = 64 * 1024;
            for (int off = 0; off < big().length; off += chunk) {
              out.write((Integer.toHexString(chunk) + "\r\n").getBytes(StandardCharsets.US_ASCII));
              out.write(big(), off, chunk);
              out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
            }
            out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
          }
          out.flush();
        } catch (IOException e) {
          // the router closed the connection after its answer: expected
        }
      }, "hostile-large-writer");
      writer.setDaemon(true);
      writer.start();
      return readAnswer(s, start);
    }
  }

  static long millis(long start) {
    return (System.nanoTime() - start) / 1_000_000;
  }

  /** Writes {@code request} on a socket and reads the answer (the server closes: the request asks it to). */
  static Answer sendRaw(byte[] request, long start) throws IOException {
    URI base = URI.create(node.service().baseUrl());
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(base.getHost(), base.getPort()), (int) BOUND.toMillis());
      s.setSoTimeout((int) BOUND.toMillis());
      OutputStream out = s.getOutputStream();
      out.write(request);
      out.flush();
      return readAnswer(s, start);
    }
  }

  /** Reads one answer from {@code s} (until its Content-Length, the end of the stream, or the bound). */
  static Answer readAnswer(Socket s, long start) throws IOException {
    {
      InputStream in = s.getInputStream();
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      byte[] buf = new byte[8192];
      long deadline = start + BOUND.toNanos();
      int headerEnd = -1;
      int length = -1;
      while (System.nanoTime() < deadline) {
        int n;
        try {
          n = in.read(buf);
        } catch (java.net.SocketTimeoutException e) {
          break;
        } catch (java.net.SocketException e) {
          break; // reset after the answer: what came is what we judge
        }
        if (n < 0) break;
        got.write(buf, 0, n);
        String text = got.toString(StandardCharsets.ISO_8859_1);
        if (headerEnd < 0 && (headerEnd = text.indexOf("\r\n\r\n")) >= 0) {
          var m = Pattern.compile("(?im)^content-length:\\s*(\\d+)").matcher(text.substring(0, headerEnd));
          if (m.find()) length = Integer.parseInt(m.group(1));
        }
        if (headerEnd >= 0 && length >= 0 && got.size() >= headerEnd + 4 + length) break;
      }
      String text = got.toString(StandardCharsets.UTF_8);
      int end = text.indexOf("\r\n\r\n");
      if (!text.startsWith("HTTP/1.1 ") || end < 0) {
        return new Answer(-1, "", text, millis(start), "no complete answer within " + BOUND.toSeconds() + " s: '"
            + text.substring(0, Math.min(80, text.length())) + "'");
      }
      int status = Integer.parseInt(text.substring(9, 12));
      var m = Pattern.compile("(?im)^content-type:\\s*(.+)$").matcher(text.substring(0, end));
      String type = m.find() ? m.group(1).trim() : "";
      return new Answer(status, type, text.substring(end + 4), millis(start), null);
    }
  }

  /** What is wrong with the answer to {@code c}, or null. */
  static String judge(Case c, Answer a) {
    if (a.failure() != null) return a.failure();
    if (a.millis() > BOUND.toMillis()) return "answered after " + a.millis() + " ms";
    if (a.status() >= 500) return a.status() + " " + abbreviate(a.body());
    if (a.status() / 100 == 2) {
      return c.mayBeValid() ? null : "accepted (" + a.status() + ") invalid input: " + abbreviate(a.body());
    }
    if (a.status() / 100 != 4) return "answered " + a.status();
    if (a.body().contains(HttpTestSupport.TOKEN)) return "the error body quotes the token";
    if (!a.contentType().startsWith("application/json")) {
      return a.status() + " with Content-Type '" + a.contentType() + "': " + abbreviate(a.body());
    }
    JsonNode body;
    try {
      body = HttpTestSupport.JSON.readTree(a.body());
    } catch (IOException e) {
      return a.status() + " with a body that is not JSON: " + abbreviate(a.body());
    }
    if (!body.path("code").isTextual() || !body.path("message").isTextual() || !body.path("errors").isArray()) {
      return a.status() + " without code, message and errors: " + abbreviate(a.body());
    }
    if (c.field() == null) return null;
    List<String> fields = new ArrayList<>();
    body.get("errors").forEach(e -> fields.add(e.path("field").asText("")));
    String want = c.field();
    String loose = want.replaceAll("\\[\\d+]", "");
    // producerId and sequence go together (both or neither): a valid value of one alone is refused naming the other
    String partner = PAIRED.get(lastSegment(loose).toLowerCase(Locale.ROOT));
    if (partner != null) {
      for (String f : fields) {
        if (lastSegment(f).equalsIgnoreCase(partner)) return null;
      }
    }
    for (String f : fields) {
      if (want.endsWith("*") && f.toLowerCase(Locale.ROOT).startsWith(want.substring(0, want.length() - 1)
          .toLowerCase(Locale.ROOT))) {
        return null; // X-Router-Header-*: any message header
      }
      if (f.equalsIgnoreCase(want) || f.replaceAll("\\[\\d+]", "").equalsIgnoreCase(loose)
          || f.startsWith(want + ".") || f.startsWith(want + "[")) {
        return null;
      }
    }
    // a "may be valid" value refused for another field's reason (a 404 for a resource that does not exist) is fine
    if (c.mayBeValid() && (a.status() == 404 || a.status() == 409)) return null;
    return a.status() + " naming " + fields + ", not '" + want + "': " + abbreviate(a.body());
  }

  static String abbreviate(String s) {
    if (s == null) return "";
    return s.length() > 300 ? s.substring(0, 300) + "..." : s;
  }

  @Test
  void everyHostileInputIsA4xxNamingTheFieldAndTheRouterKeepsServing() throws Exception {
    List<Case> cases = cases();
    ExecutorService pool = Executors.newFixedThreadPool(PARALLEL);
    Map<String, AtomicInteger> classes = new TreeMap<>();
    ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    Set<String> operations = new java.util.TreeSet<>();
    long start = System.nanoTime();
    try {
      List<Future<?>> done = new ArrayList<>();
      for (Case c : cases) {
        operations.add(c.operation());
        done.add(pool.submit(() -> {
          Answer a = send(c);
          String k = a.status() < 0 ? "none" : (a.status() / 100) + "xx";
          synchronized (classes) {
            classes.computeIfAbsent(k, x -> new AtomicInteger()).incrementAndGet();
          }
          String problem = judge(c, a);
          if (problem != null) failures.add(c + ": " + problem);
        }));
      }
      for (Future<?> f : done) f.get(2, TimeUnit.MINUTES);
    } finally {
      pool.shutdownNow();
    }
    long took = millis(start);
    log.info("HostileInputIT: {} cases over {} operations in {} ms: {}; {} failures{}", cases.size(),
        operations.size(), took, classes, failures.size(),
        failures.isEmpty() ? "" : ":\n  " + String.join("\n  ", failures.stream().sorted().toList()));
    // the router still serves: a publish, a pull and its ack
    HttpResponse<String> ready = HttpTestSupport.get(node.service(), "/health/ready");
    assertEquals(200, ready.statusCode(), ready.body());
    String sub = "hostile-after";
    assertEquals(201, HttpTestSupport.post(node.service(), "/v1/subscriptions",
        "{\"name\": \"" + sub + "\", \"channel\": \"hostile.after\"}").statusCode());
    assertEquals(202, HttpTestSupport.post(node.service(), "/v1/channels/hostile.after/messages",
        "{\"payload\": {\"n\": 1}}").statusCode());
    JsonNode pulled = HttpTestSupport.json(HttpTestSupport.post(node.service(), "/v1/subscriptions/" + sub + "/pull",
        "{\"maxMessages\": 1, \"waitMs\": 3000}"));
    assertEquals(1, pulled.get("messages").size(), pulled.toString());
    assertEquals("{\"n\":1}", pulled.get("messages").get(0).get("payload").toString());
    JsonNode acked = HttpTestSupport.json(HttpTestSupport.post(node.service(), "/v1/subscriptions/" + sub + "/ack",
        "{\"deliveryIds\": [\"" + pulled.get("messages").get(0).get("deliveryId").asText() + "\"]}"));
    assertEquals(1, acked.get("acked").asInt(), acked.toString());
    assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " cases failed:\n"
        + String.join("\n", failures.stream().sorted().toList()));
    assertTrue(cases.size() >= 500 && operations.size() >= 20, cases.size() + " cases, " + operations);
  }
}
