package io.redisrouter.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.service.RouterService;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Our router as a service, over HTTP (auth on). {@link Mode#PUBLISH_ONE} / {@link Mode#PUBLISH_BATCH}: publishes
 * over HTTP (one message per request, or batches of {@value #BATCH}), consumed by an embedded subscriber actor.
 * {@link Mode#PULL}: published through the embedded path, consumed over HTTP by one client pulling
 * ({@code maxMessages} 500) and acking each batch. {@link Mode#WEBHOOK}: consumed by webhook (32 calls in flight, one
 * delivery each) to a local HTTP server that answers 204; {@link Mode#WEBHOOK_BATCH}: the same with batches of up to
 * 100 deliveries per call, 8 calls in flight.
 */
final class RouterHttp implements Scenario {
  enum Mode { PUBLISH_ONE, PUBLISH_BATCH, PULL, WEBHOOK, WEBHOOK_BATCH }

  static final String TOKEN = "bench-token";
  static final int BATCH = 100;
  private static final java.util.concurrent.atomic.AtomicInteger FAILURES = new java.util.concurrent.atomic.AtomicInteger();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final java.util.concurrent.ScheduledExecutorService LINGER = Executors
      .newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bench-batch-linger");
        t.setDaemon(true);
        return t;
      });

  private final Mode mode;
  private RouterService service;
  private HttpClient http;
  private String channel;
  private String base;
  private Tracker tracker;
  private final List<CompletableFuture<Object>> pendingBatch = new ArrayList<>();
  private ArrayNode batch;
  private Thread puller;
  private volatile boolean running = true;
  private org.apache.pekko.actor.typed.ActorSystem<Void> receiverSystem;
  private org.apache.pekko.http.javadsl.ServerBinding receiver;

  /**
   * The webhook receiver's route: POST /hook, the delivery's payload tracked (each delivery's, when the body is a
   * batch: a JSON array), 204.
   */
  private static final class Receiver extends org.apache.pekko.http.javadsl.server.AllDirectives {
    private final Tracker tracker;

    Receiver(Tracker tracker) {
      this.tracker = tracker;
    }

    org.apache.pekko.http.javadsl.server.Route route() {
      return path("hook", () -> post(() -> entity(
          org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller.entityToByteString(), body -> {
            try {
              JsonNode d = JSON.readTree(body.toArray());
              if (d.isArray()) {
                for (JsonNode one : d) tracker.delivered(Base64.getDecoder().decode(one.get("payloadBase64").asText()));
              } else {
                tracker.delivered(Base64.getDecoder().decode(d.get("payloadBase64").asText()));
              }
            } catch (java.io.IOException e) {
              return complete(org.apache.pekko.http.javadsl.model.StatusCodes.BAD_REQUEST);
            }
            return complete(org.apache.pekko.http.javadsl.model.StatusCodes.NO_CONTENT);
          })));
    }
  }

  RouterHttp(Mode mode) {
    this.mode = mode;
  }

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) throws Exception {
    this.tracker = tracker;
    this.channel = key;
    Config config = ConfigFactory.parseString(
        "redis-router.http.port = 0\n"
            + "redis-router.http.auth.tokens = [{ name = bench, token = \"" + TOKEN
            + "\", scopes = [publish, consume, admin] }]\n"
            + "redis-router.http.max-pull-count = 1000\n"
            // every row gets a warm-up run of its own (BenchMain.measure), not counted
            + "redis-router.http.warm-up = 0s\n")
        .withFallback(RouterEmbedded.config(redis, "")).resolve();
    service = RouterService.start("bench-http", config);
    base = service.baseUrl();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .executor(Executors.newFixedThreadPool(2)).build();
    switch (mode) {
      case PUBLISH_ONE, PUBLISH_BATCH -> subscribeEmbedded();
      case PULL -> {
        createSubscription("{\"name\": \"bench\", \"channel\": \"" + channel + "\"}");
        puller = new Thread(this::pullLoop, "bench-puller");
        puller.start();
      }
      case WEBHOOK, WEBHOOK_BATCH -> {
        // a fast receiver: a bare Pekko HTTP route in an actor system of its own that reads the delivery and
        // answers 204
        receiverSystem = org.apache.pekko.actor.typed.ActorSystem.create(Behaviors.empty(), "bench-webhook-receiver");
        receiver = org.apache.pekko.http.javadsl.Http.get(receiverSystem).newServerAt("127.0.0.1", 0)
            .bind(new Receiver(tracker).route()).toCompletableFuture().get(10, TimeUnit.SECONDS);
        createSubscription("{\"name\": \"bench\", \"channel\": \"" + channel + "\", \"webhook\": {\"url\":"
            + " \"http://127.0.0.1:" + receiver.localAddress().getPort()
            + "/hook\", \"parallelism\": " + (mode == Mode.WEBHOOK ? "32" : "8, \"batchSize\": 100")
            + ", \"timeoutMs\": 1000}}");
      }
    }
  }

  private void subscribeEmbedded() throws Exception {
    ActorRef<Delivery> sub = service.system().systemActorOf(Behaviors.<Delivery>receiveMessage(d -> {
      tracker.delivered(d.envelope().payload());
      d.replyTo().tell(d.ack());
      return Behaviors.same();
    }), "bench-subscriber", Props.empty());
    SubscribeReply r = AskPattern.<RouterCommand, SubscribeReply>ask(service.runtime().router(),
        replyTo -> new RouterCommand.Subscribe(channel, "bench", sub, replyTo), Duration.ofSeconds(10),
        service.system().scheduler()).toCompletableFuture().get(15, TimeUnit.SECONDS);
    if (!(r instanceof SubscribeReply.Subscribed)) throw new IllegalStateException(r.toString());
  }

  private void createSubscription(String body) throws Exception {
    HttpResponse<String> r = http.send(request("/v1/subscriptions").POST(HttpRequest.BodyPublishers.ofString(body))
        .build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 201) throw new IllegalStateException("create subscription: " + r.body());
  }

  private HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + TOKEN)
        .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30));
  }

  private void pullLoop() {
    while (running) {
      try {
        HttpResponse<byte[]> r = http.send(request("/v1/subscriptions/bench/pull")
            .POST(HttpRequest.BodyPublishers.ofString("{\"maxMessages\": 500, \"waitMs\": 200}")).build(),
            HttpResponse.BodyHandlers.ofByteArray());
        JsonNode messages = JSON.readTree(r.body()).get("messages");
        if (messages == null || messages.isEmpty()) continue;
        ObjectNode ack = JSON.createObjectNode();
        ArrayNode ids = ack.putArray("deliveryIds");
        for (JsonNode m : messages) {
          tracker.delivered(Base64.getDecoder().decode(m.get("payloadBase64").asText()));
          ids.add(m.get("deliveryId").asText());
        }
        http.send(request("/v1/subscriptions/bench/ack").POST(HttpRequest.BodyPublishers.ofByteArray(
            JSON.writeValueAsBytes(ack))).build(), HttpResponse.BodyHandlers.discarding());
      } catch (Exception e) {
        if (!running) return;
      }
    }
  }

  @Override
  public int window() {
    return switch (mode) {
      case PUBLISH_ONE -> 64;
      case PUBLISH_BATCH -> BATCH * 16;
      default -> 4096;
    };
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    switch (mode) {
      case PUBLISH_ONE -> {
        ObjectNode body = JSON.createObjectNode().put("payloadBase64", Base64.getEncoder().encodeToString(payload));
        return http.sendAsync(request("/v1/channels/" + channel + "/messages")
            .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
            HttpResponse.BodyHandlers.discarding()).thenApply(r -> {
              if (r.statusCode() != 202) throw new IllegalStateException("status " + r.statusCode());
              return r;
            });
      }
      case PUBLISH_BATCH -> {
        synchronized (pendingBatch) {
          if (batch == null) {
            ArrayNode fresh = JSON.createArrayNode();
            batch = fresh;
            // a batch waits at most LINGER for more messages (also for republished ones, after the producer is done)
            LINGER.schedule(() -> {
              synchronized (pendingBatch) {
                if (batch == fresh && !fresh.isEmpty()) sendBatch();
              }
            }, 2, TimeUnit.MILLISECONDS);
          }
          batch.addObject().put("payloadBase64", Base64.getEncoder().encodeToString(payload));
          CompletableFuture<Object> f = new CompletableFuture<>();
          pendingBatch.add(f);
          if (batch.size() >= BATCH) sendBatch();
          return f;
        }
      }
      default -> {
        return service.runtime().publish(PublishRequest.of(channel, payload)).thenApply(r -> {
          if (r instanceof PublishReply.Accepted) return r;
          throw new IllegalStateException(r.toString());
        });
      }
    }
  }

  @Override
  public void flush() {
    // batches go out when full or after their linger (2 ms): a flush per message would make batches of one
  }

  private void sendBatch() {
    ObjectNode body = JSON.createObjectNode();
    body.set("messages", batch);
    List<CompletableFuture<Object>> waiting = List.copyOf(pendingBatch);
    batch = null;
    pendingBatch.clear();
    http.sendAsync(request("/v1/channels/" + channel + "/messages/batch")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
        HttpResponse.BodyHandlers.ofByteArray()).whenComplete((r, err) -> {
          if (err != null) {
            waiting.forEach(f -> f.completeExceptionally(err));
            return;
          }
          try {
            JsonNode results = JSON.readTree(r.body()).get("results");
            for (int i = 0; i < waiting.size(); i++) {
              if (results != null && results.get(i).get("status").asInt() == 202) {
                waiting.get(i).complete(null);
              } else {
                waiting.get(i).completeExceptionally(new IllegalStateException("not accepted"));
              }
            }
          } catch (Exception e) {
            waiting.forEach(f -> f.completeExceptionally(e));
          }
          if (r.statusCode() != 202 && FAILURES.incrementAndGet() <= 3) {
            System.err.println("batch publish answered " + r.statusCode() + ": "
                + new String(r.body(), java.nio.charset.StandardCharsets.UTF_8).lines().findFirst().orElse(""));
          }
        });
  }

  @Override
  public void close() throws Exception {
    running = false;
    if (puller != null) puller.join(3000);
    service.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
    if (receiver != null) { // after the router: no call is cut off
      receiver.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
      receiverSystem.terminate();
      receiverSystem.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
