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
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Our router as a service, over HTTP (auth on). {@link Mode#PUBLISH_ONE} / {@link Mode#PUBLISH_BATCH}: publishes
 * over HTTP (one message per request, or batches of {@value #BATCH}), consumed by an embedded subscriber actor.
 * {@link Mode#PULL}: published through the embedded path, consumed over HTTP by one client pulling
 * ({@code maxMessages} 500) and acking each batch. {@link Mode#EVENTS}: published the same way, consumed over one
 * server-sent-event stream read on a thread of its own, the deliveries acked in batches (whatever arrived while the
 * previous ack was in flight, at most {@value #ACK_BATCH}) by another thread, so that reading the stream never waits
 * for an ack. {@link Mode#WEBHOOK}: consumed by webhook (32 calls in flight, one delivery each) to a local HTTP server
 * that answers 204; {@link Mode#WEBHOOK_BATCH}: the same with batches of up to 100 deliveries per call, 8 calls in
 * flight.
 */
final class RouterHttp implements Scenario {
  enum Mode { PUBLISH_ONE, PUBLISH_BATCH, PULL, EVENTS, WEBHOOK, WEBHOOK_BATCH }

  static final String TOKEN = "bench-token";
  static final int BATCH = 100;
  /** The most delivery ids one ack of the events mode carries (as many as a pull of the pull mode hands out). */
  static final int ACK_BATCH = 500;
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
  private java.util.concurrent.ExecutorService clientThreads;
  private String channel;
  private String base;
  private Tracker tracker;
  private final List<CompletableFuture<Object>> pendingBatch = new ArrayList<>();
  private ArrayNode batch;
  private Thread puller;
  private Thread acker;
  private final LinkedBlockingQueue<String> toAck = new LinkedBlockingQueue<>();
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
    // the client's threads end with the run (close); daemon threads besides, since under exec:java a run that
    // failed before its close would otherwise wait forever for them instead of reporting its exception
    clientThreads = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "bench-http-client");
      t.setDaemon(true);
      return t;
    });
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(clientThreads).build();
    awaitReady();
    switch (mode) {
      case PUBLISH_ONE, PUBLISH_BATCH -> subscribeEmbedded();
      case PULL -> {
        createSubscription("{\"name\": \"bench\", \"channel\": \"" + channel + "\"}");
        puller = new Thread(this::pullLoop, "bench-puller");
        puller.start();
      }
      case EVENTS -> {
        createSubscription("{\"name\": \"bench\", \"channel\": \"" + channel + "\"}");
        // connected here, before the first publish: the stream is open (its response headers are in) when the run
        // starts, so the first messages do not wait for a connection
        HttpResponse<Stream<String>> first = openEvents(null);
        puller = new Thread(() -> eventsLoop(first), "bench-events");
        acker = new Thread(this::ackLoop, "bench-events-acker");
        puller.start();
        acker.start();
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

  /**
   * Waits until the router answers ready: it starts before its Redis connection is up, and a subscription created
   * in between is refused (503, Redis not connected yet); a run measures a router that is up, not its start.
   */
  private void awaitReady() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    HttpResponse<String> r;
    while ((r = http.send(HttpRequest.newBuilder(URI.create(base + "/health/ready")).timeout(Duration.ofSeconds(5))
        .build(), HttpResponse.BodyHandlers.ofString())).statusCode() != 200) {
      if (System.nanoTime() > deadline) throw new IllegalStateException("router not ready after 20 s: " + r.body());
      Thread.sleep(20);
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

  /** Opens the subscription's event stream, resuming after event {@code lastEventId} (null: a fresh stream). */
  private HttpResponse<Stream<String>> openEvents(String lastEventId) throws Exception {
    // no request timeout: the JDK client's timeout is meant for an answer, and this one streams for the whole run
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/v1/subscriptions/bench/events"))
        .header("Authorization", "Bearer " + TOKEN).header("Accept", "text/event-stream").GET();
    if (lastEventId != null) b.header("Last-Event-ID", lastEventId);
    HttpResponse<Stream<String>> r = http.send(b.build(), HttpResponse.BodyHandlers.ofLines());
    if (r.statusCode() != 200) {
      r.body().close();
      throw new IllegalStateException("events: status " + r.statusCode());
    }
    return r;
  }

  /**
   * Reads the event stream line by line: {@code data:} lines make up an event's data, a blank line ends the event
   * (heartbeats have no data); each delivery is tracked and its id queued for the acker. Should the stream end while
   * the run goes on, it reconnects with {@code Last-Event-ID}, as an SSE client does, so what was sent but not acked
   * comes again rather than being lost. Ends when the stream does once {@link #close()} stopped the run.
   */
  private void eventsLoop(HttpResponse<Stream<String>> first) {
    HttpResponse<Stream<String>> r = first;
    String lastEventId = null;
    while (running) {
      if (r == null) {
        try {
          r = openEvents(lastEventId);
        } catch (InterruptedException e) {
          return;
        } catch (Exception e) {
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100)); // the router does not answer yet: again
          continue;
        }
      }
      StringBuilder data = new StringBuilder();
      String id = null;
      try (Stream<String> lines = r.body()) {
        Iterator<String> it = lines.iterator();
        while (running && it.hasNext()) {
          String line = it.next();
          if (line.isEmpty()) {
            if (data.length() > 0) {
              event(data.toString());
              if (id != null) lastEventId = id;
            }
            data.setLength(0);
            id = null;
          } else if (line.startsWith("data:")) {
            if (data.length() > 0) data.append('\n');
            data.append(field(line, 5));
          } else if (line.startsWith("id:")) {
            id = field(line, 3);
          } // "event:" is always "message" here; a line starting with ':' is a comment
        }
      } catch (RuntimeException e) {
        // the stream broke off: reconnected while the run goes on
      }
      r = null;
    }
  }

  /** A field's value: what follows the name and colon, less one leading space. */
  private static String field(String line, int nameAndColon) {
    return line.startsWith(" ", nameAndColon) ? line.substring(nameAndColon + 1) : line.substring(nameAndColon);
  }

  private void event(String data) {
    try {
      JsonNode d = JSON.readTree(data);
      tracker.delivered(Base64.getDecoder().decode(d.get("payloadBase64").asText()));
      toAck.add(d.get("deliveryId").asText());
    } catch (java.io.IOException e) {
      // not a delivery: the message it should have been shows as lost
    }
  }

  /** Acks what the stream delivered: waits for one id, then takes whatever else is there, up to ACK_BATCH. */
  private void ackLoop() {
    List<String> ids = new ArrayList<>();
    while (running) {
      try {
        String one = toAck.poll(100, TimeUnit.MILLISECONDS);
        if (one == null) continue;
        ids.add(one);
        toAck.drainTo(ids, ACK_BATCH - 1);
        ObjectNode ack = JSON.createObjectNode();
        ArrayNode arr = ack.putArray("deliveryIds");
        ids.forEach(arr::add);
        http.send(request("/v1/subscriptions/bench/ack").POST(HttpRequest.BodyPublishers.ofByteArray(
            JSON.writeValueAsBytes(ack))).build(), HttpResponse.BodyHandlers.discarding());
      } catch (InterruptedException e) {
        return;
      } catch (Exception e) {
        if (!running) return; // an ack that failed: its messages come again after the ack timeout (duplicates)
      } finally {
        ids.clear();
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
    if (acker != null) {
      // the events mode: the acker stops now; the stream's reader waits in a read that an interrupt does not end (the
      // JDK client's body stream), so the router ends it: stopping, it ends its event streams with their last chunk
      acker.interrupt();
      acker.join(3000);
    } else if (puller != null) {
      puller.join(3000);
    }
    service.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
    if (acker != null) puller.join(3000);
    if (receiver != null) { // after the router: no call is cut off
      receiver.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
      receiverSystem.terminate();
      receiverSystem.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    clientThreads.shutdown();
  }
}
