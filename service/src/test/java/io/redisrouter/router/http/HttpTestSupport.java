package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.RedisServer;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** Starts router services on port 0 against a test Redis, and calls them with a real HTTP client. */
public final class HttpTestSupport {
  public static final String TOKEN = "test-token-all-scopes";
  public static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private HttpTestSupport() {}

  /**
   * Configuration of a service on {@code redis}, HTTP on 127.0.0.1:0 with auth on and {@link #TOKEN} (all scopes,
   * unless {@code extra} sets {@code redis-router.http.auth.tokens}), no warm-up (unless {@code extra} sets one),
   * fast consumer timings; {@code extra} is HOCON at the root (e.g. {@code redis-router.channels.defaults.ack-timeout = 1s}).
   */
  public static Config config(RedisServer redis, String extra) {
    return config(redis.uri(), extra);
  }

  /** {@link #config(RedisServer, String)} for the Redis at {@code redisUri} (a node in a process of its own). */
  public static Config config(String redisUri, String extra) {
    return ConfigFactory.parseString(extra + "\n"
        + "redis-router.redis.instances.default.uri = \"" + redisUri + "\"\n"
        + "redis-router.http.port = 0\n"
        + "redis-router.http.host = \"127.0.0.1\"\n"
        + "redis-router.http.auth.enabled = true\n")
        .withFallback(ConfigFactory.parseString(
            "redis-router.http.auth.tokens = [{ name = test, token = \"" + TOKEN
                + "\", scopes = [publish, consume, admin] }]\n"
                // no warm-up unless a test asks for one (WarmUpIT, SecretsNotLoggedIT): a test's node is ready at once
                + "redis-router.http.warm-up = 0s\n"))
        .withFallback(io.redisrouter.router.RouterTestSupport.testConfig())
        .withFallback(ConfigFactory.load())
        .resolve();
  }

  /**
   * Starts a service and waits until it is ready ({@code /health/ready} answers 200: connected to Redis), so that a
   * test's first request does not race the connection (it would rightly be answered 503).
   */
  public static RouterService start(String name, RedisServer redis, String extra) throws Exception {
    return awaitReady(startUnready(name, redis, extra));
  }

  /** Waits until {@code s} is ready ({@code /health/ready} answers 200), at most 15 s; returns it. */
  public static RouterService awaitReady(RouterService s) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (get(s, "/health/ready").statusCode() != 200) {
      if (System.nanoTime() > deadline) {
        s.stop();
        throw new IllegalStateException("router service at " + s.baseUrl() + " not ready within 15 s");
      }
      Thread.sleep(20); // polling a condition with a deadline
    }
    return s;
  }

  /** Starts a service without waiting for Redis (for tests where it cannot connect). */
  public static RouterService startUnready(String name, RedisServer redis, String extra) throws Exception {
    return RouterService.start(name, config(redis, extra));
  }

  /** A request builder with the bearer token set. */
  public static HttpRequest.Builder request(RouterService s, String path) {
    return request(s.baseUrl(), path);
  }

  /** A request builder with the bearer token set, to the service at {@code baseUrl} (one in another process). */
  public static HttpRequest.Builder request(String baseUrl, String path) {
    return HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofSeconds(30))
        .header("Authorization", "Bearer " + TOKEN);
  }

  public static HttpResponse<String> post(RouterService s, String path, String json)
      throws IOException, InterruptedException {
    return post(s.baseUrl(), path, json);
  }

  public static HttpResponse<String> post(String baseUrl, String path, String json)
      throws IOException, InterruptedException {
    return send(request(baseUrl, path).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(json)).build());
  }

  public static HttpResponse<String> get(RouterService s, String path) throws IOException, InterruptedException {
    return get(s.baseUrl(), path);
  }

  public static HttpResponse<String> get(String baseUrl, String path) throws IOException, InterruptedException {
    return send(request(baseUrl, path).GET().build());
  }

  public static HttpResponse<String> delete(RouterService s, String path) throws IOException, InterruptedException {
    return send(request(s.baseUrl(), path).DELETE().build());
  }

  /**
   * Sends {@code request} and checks the response against the OpenAPI document ({@link ApiContract#check}): a status
   * the document does not list for the operation, or a JSON body that does not match its schema, fails the test.
   */
  public static HttpResponse<String> send(HttpRequest request) throws IOException, InterruptedException {
    return ApiContract.check(CLIENT.send(request, HttpResponse.BodyHandlers.ofString()));
  }

  /** {@link #send} without waiting. */
  public static java.util.concurrent.CompletableFuture<HttpResponse<String>> sendAsync(HttpRequest request) {
    return CLIENT.sendAsync(request, HttpResponse.BodyHandlers.ofString()).thenApply(ApiContract::check);
  }

  /** The shared client, for streamed bodies (server-sent events); prefer {@link #send}, which checks the contract. */
  public static HttpClient client() {
    return CLIENT;
  }

  public static JsonNode json(HttpResponse<String> r) throws IOException {
    return JSON.readTree(r.body());
  }
}
