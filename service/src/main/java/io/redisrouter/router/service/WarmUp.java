package io.redisrouter.router.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.http.HttpSettings;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.redis.RedisKeys;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.Authorization;
import org.apache.pekko.stream.Materializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Warm-up before readiness ({@code redis-router.http.warm-up}, off when 0): for that long a fresh node drives its own
 * hot paths over loopback HTTP, as its clients will: single and batch publishes (JSON parsing, the ingress, XADD on
 * the connection), pulls and acks of a pull subscription (the delivery core, XREADGROUP, the delivery JSON, XACK) and
 * the HTTP client and server pipelines both ways. The JIT compiles them before the first real request instead of
 * during the first seconds of traffic. It uses a channel and subscription of its own
 * ({@code rr-warmup.<node id>}), deletes both at the end, and never fails the start: whatever goes wrong is logged
 * and the node becomes ready at the end of the warm-up anyway (at the latest the duration plus 10 s).
 *
 * <p>Everything here is asynchronous (Pekko HTTP client futures); nothing blocks a dispatcher thread.
 */
final class WarmUp {
  private static final Logger log = LoggerFactory.getLogger(WarmUp.class);
  private static final ObjectMapper JSON = EnvelopeCodec.mapper();
  /** Publish loops running at once: enough to batch in the ingress like real load, few enough for 2 cores. */
  static final int PUBLISHERS = 16;
  static final int BATCH = 50;
  /** Longest wait for one call, and for Redis to answer before the warm-up starts. */
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);

  /** What the warm-up did: messages published and pulled (acked), and what it left out (null: nothing). */
  record Result(long published, long acked, long failedCalls, Duration took, String leftOut) {}

  private final ActorSystem<?> system;
  private final RouterRuntime runtime;
  private final Materializer materializer;
  private final String baseUrl;
  private final Optional<String> publishToken;
  private final Optional<String> consumeToken;
  private final Optional<String> adminToken;
  private final boolean auth;
  private final String channel;
  private final AtomicLong published = new AtomicLong();
  private final AtomicLong acked = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private long endNanos;

  private WarmUp(ActorSystem<?> system, RouterRuntime runtime, HttpSettings settings, String baseUrl) {
    this.system = system;
    this.runtime = runtime;
    this.materializer = Materializer.matFromSystem(system);
    this.baseUrl = baseUrl;
    this.auth = settings.authEnabled();
    this.publishToken = tokenWith(settings, HttpSettings.Scope.PUBLISH);
    this.consumeToken = tokenWith(settings, HttpSettings.Scope.CONSUME);
    this.adminToken = tokenWith(settings, HttpSettings.Scope.ADMIN);
    this.channel = channelFor(runtime.settings().nodeId());
  }

  /** The warm-up channel and subscription of node {@code nodeId}: a valid name, unique per node. */
  static String channelFor(String nodeId) {
    String name = "rr-warmup." + nodeId.replaceAll("[^A-Za-z0-9._:-]", "-");
    return name.length() <= 128 ? name : name.substring(0, 128);
  }

  /** Runs the warm-up for {@code duration} against this node's endpoint at {@code baseUrl}; never fails. */
  static CompletionStage<Result> run(ActorSystem<?> system, RouterRuntime runtime, HttpSettings settings,
      String baseUrl, Duration duration) {
    return new WarmUp(system, runtime, settings, baseUrl).run(duration);
  }

  private CompletionStage<Result> run(Duration duration) {
    long started = System.nanoTime();
    if (auth && publishToken.isEmpty()) {
      return CompletableFuture.completedFuture(new Result(0, 0, 0, Duration.ZERO,
          "everything: no token has the publish scope"));
    }
    boolean consume = !auth || (consumeToken.isPresent() && adminToken.isPresent());
    return awaitRedis(started + CALL_TIMEOUT.toNanos()).thenCompose(up -> {
      if (!up) {
        return CompletableFuture.completedFuture(new Result(0, 0, 0, elapsed(started),
            "everything: Redis did not answer within " + CALL_TIMEOUT.toSeconds() + " s"));
      }
      endNanos = System.nanoTime() + duration.toNanos();
      CompletionStage<Boolean> subscribed = consume ? createSubscription() : CompletableFuture.completedFuture(false);
      return subscribed.thenCompose(sub -> {
        List<CompletableFuture<Void>> loops = new ArrayList<>();
        for (int i = 0; i < PUBLISHERS; i++) loops.add(publishLoop(i).toCompletableFuture());
        if (sub) loops.add(pullLoop().toCompletableFuture());
        String leftOut = sub
            ? null
            : consume
                ? "pull and ack: the subscription could not be created"
                : "pull and ack: no token has both the consume and admin scopes";
        return CompletableFuture.allOf(loops.toArray(CompletableFuture[]::new))
            .thenCompose(v -> cleanUp(sub))
            .thenApply(v -> new Result(published.get(), acked.get(), failed.get(), elapsed(started), leftOut));
      });
    }).exceptionally(e -> new Result(published.get(), acked.get(), failed.get(), elapsed(started),
        "the rest: " + e));
  }

  private static Duration elapsed(long startedNanos) {
    return Duration.ofNanos(System.nanoTime() - startedNanos);
  }

  /** Completes true once every Redis instance answers, false at {@code byNanos}. */
  private CompletionStage<Boolean> awaitRedis(long byNanos) {
    if (runtime.allRedisUp()) return CompletableFuture.completedFuture(true);
    if (System.nanoTime() - byNanos > 0) return CompletableFuture.completedFuture(false);
    return Stages.plain(org.apache.pekko.pattern.Patterns.after(Duration.ofMillis(50), system.classicSystem(),
        () -> awaitRedis(byNanos)));
  }

  private boolean running() {
    return System.nanoTime() - endNanos < 0;
  }

  /** One publisher: single publishes, about every fourth call a batch, until the warm-up time is up. */
  private CompletionStage<Void> publishLoop(int loop) {
    if (!running()) return CompletableFuture.completedFuture(null);
    long n = published.get();
    boolean batch = (n / BATCH + loop) % 4 == 0;
    ObjectNode body = JSON.createObjectNode();
    int count;
    String path = "/v1/channels/" + channel + "/messages";
    if (batch) {
      ArrayNode messages = body.putArray("messages");
      for (int i = 0; i < BATCH; i++) messages.addObject().putObject("payload").put("warmUp", n + i);
      count = BATCH;
      path += "/batch";
    } else {
      body.putObject("payload").put("warmUp", n);
      count = 1;
    }
    return call(HttpRequest.POST(baseUrl + path), body, publishToken).thenCompose(r -> {
      if (r != null && r.status() == 202) published.addAndGet(count);
      return publishLoop(loop);
    });
  }

  /** Pulls up to 100 at a time and acks what came, until the warm-up time is up. */
  private CompletionStage<Void> pullLoop() {
    if (!running()) return CompletableFuture.completedFuture(null);
    ObjectNode pull = JSON.createObjectNode().put("maxMessages", 100).put("waitMs", 100);
    return call(HttpRequest.POST(baseUrl + "/v1/subscriptions/" + channel + "/pull"), pull, consumeToken)
        .thenCompose(r -> {
          ArrayNode ids = JSON.createArrayNode();
          if (r != null && r.status() == 200) {
            for (JsonNode d : r.body().path("messages")) ids.add(d.path("deliveryId").asText());
          }
          if (ids.isEmpty()) return pullLoop();
          ObjectNode ack = JSON.createObjectNode();
          ack.set("deliveryIds", ids);
          return call(HttpRequest.POST(baseUrl + "/v1/subscriptions/" + channel + "/ack"), ack, consumeToken)
              .thenCompose(a -> {
                if (a != null && a.status() == 200) acked.addAndGet(ids.size());
                return pullLoop();
              });
        });
  }

  private CompletionStage<Boolean> createSubscription() {
    ObjectNode body = JSON.createObjectNode().put("name", channel).put("channel", channel);
    return call(HttpRequest.POST(baseUrl + "/v1/subscriptions"), body, adminToken).thenApply(r -> {
      boolean ok = r != null && (r.status() == 201 || r.status() == 200);
      if (!ok && r != null) {
        log.info("warm-up: pull subscription '{}' not created ({}: {}); publishing only", channel, r.status(),
            r.body().path("message").asText());
      }
      return ok;
    });
  }

  /**
   * Deletes the subscription (and its consumer group) and the warm-up channel's stream and dead letters. The
   * subscription is deleted even when its creation seemed to fail: a create that timed out here may still have been
   * carried out (a 404 then is fine).
   */
  private CompletionStage<Void> cleanUp(boolean subscribed) {
    boolean mayExist = subscribed || !auth || adminToken.isPresent();
    CompletionStage<Reply> unsubscribed = mayExist
        ? call(HttpRequest.DELETE(baseUrl + "/v1/subscriptions/" + channel), null, adminToken)
        : CompletableFuture.completedFuture(null);
    return unsubscribed.thenCompose(r -> runtime.<Long>onCommands(channel, c -> c.del(RedisKeys.stream(channel),
        RedisKeys.deadLetters(channel)).toCompletableFuture()))
        .handle((deleted, e) -> {
          if (e != null)
            log.info("warm-up: could not delete channel '{}' ({}); its stream stays", channel, e.toString());
          return null;
        });
  }

  /** An answer: its status and JSON body (an empty object when it has none). */
  private record Reply(int status, JsonNode body) {}

  /** One call; completes with null (counted as failed) when it fails or takes longer than {@link #CALL_TIMEOUT}. */
  private CompletionStage<Reply> call(HttpRequest request, ObjectNode body, Optional<String> token) {
    HttpRequest r = body == null ? request : request.withEntity(ContentTypes.APPLICATION_JSON, body.toString());
    if (auth && token.isPresent()) r = r.addHeader(Authorization.oauth2(token.get()));
    CompletableFuture<Reply> reply = Stages.plain(Http.get(system).singleRequest(r))
        .thenCompose(this::read).toCompletableFuture();
    return reply.orTimeout(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).handle((ok, e) -> {
      if (e != null || ok.status() >= 500) failed.incrementAndGet();
      return e == null ? ok : null;
    });
  }

  private CompletionStage<Reply> read(HttpResponse response) {
    return Stages.plain(response.entity().toStrict(CALL_TIMEOUT.toMillis(), materializer)).thenApply(strict -> {
      JsonNode json;
      try {
        json = strict.getData().isEmpty() ? JSON.createObjectNode() : JSON.readTree(strict.getData().toArray());
      } catch (IOException e) {
        json = JSON.createObjectNode();
      }
      return new Reply(response.status().intValue(), json);
    });
  }

  private static Optional<String> tokenWith(HttpSettings settings, HttpSettings.Scope scope) {
    return settings.tokens().stream().filter(t -> t.scopes().contains(scope) && !t.secret().isEmpty())
        .map(HttpSettings.Token::secret).findFirst();
  }
}
