package io.redisrouter.bench;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.util.Base64;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The HTTP floor: a bare Pekko HTTP route that reads the body and answers 202 without touching Redis, driven by
 * the same client and window as the router's single-message publish. "Delivered" is the 202.
 */
public final class BareHttp extends AllDirectives implements Scenario {
  private ActorSystem<Void> system;
  private ServerBinding binding;
  private HttpClient http;
  private URI uri;
  private Tracker tracker;

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) throws Exception {
    this.tracker = tracker;
    system = ActorSystem.create(Behaviors.empty(), "bench-bare-http");
    binding = Http.get(system).newServerAt("127.0.0.1", 0).bind(route()).toCompletableFuture().get(10,
        TimeUnit.SECONDS);
    uri = URI.create("http://127.0.0.1:" + binding.localAddress().getPort() + "/v1/channels/bare/messages");
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .executor(Executors.newFixedThreadPool(2)).build();
  }

  /**
   * Runs the bare route alone on {@code args[0]} (port) until the process is stopped, for wrk
   * ({@code scripts/http-publish-bench.sh} compares it with the router's publish endpoint). CLI tool.
   */
  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    BareHttp bare = new BareHttp();
    bare.system = ActorSystem.create(Behaviors.empty(), "bare-http");
    bare.binding = Http.get(bare.system).newServerAt("127.0.0.1", port).bind(bare.route()).toCompletableFuture()
        .get(10, TimeUnit.SECONDS);
    System.out
        .println("bare Pekko HTTP route answering 202 on http://127.0.0.1:" + port + "/v1/channels/{channel}/messages");
    bare.system.getWhenTerminated().toCompletableFuture().get();
  }

  private Route route() {
    byte[] accepted = "{\"status\":202,\"messageId\":\"x\"}".getBytes();
    // the router's publish path, answered at once
    return pathPrefix("v1", () -> pathPrefix("channels", () -> pathPrefix(
        org.apache.pekko.http.javadsl.server.PathMatchers.segment(),
        ch -> pathPrefix("messages",
            () -> pathEnd(() -> post(() -> entity(Unmarshaller.entityToByteString(),
                body -> complete(HttpResponse.create().withStatus(StatusCodes.ACCEPTED)
                    .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, accepted))))))))));
  }

  @Override
  public int window() {
    return 64;
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    String body = "{\"payloadBase64\":\"" + Base64.getEncoder().encodeToString(payload) + "\"}";
    return http.sendAsync(HttpRequest.newBuilder(uri).header("Authorization", "Bearer x")
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        java.net.http.HttpResponse.BodyHandlers.discarding()).thenApply(r -> {
          if (r.statusCode() != 202) throw new IllegalStateException("status " + r.statusCode());
          tracker.delivered(payload);
          return r;
        });
  }

  @Override
  public void close() throws Exception {
    binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }
}
