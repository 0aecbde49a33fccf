package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.fault.DeadLettersView;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The steady load of a fault scenario, on one channel of one router service: an embedded publisher (the router's
 * actor API) and an HTTP publisher (single publishes with an idempotency key), each a producer whose messages are
 * {@code producer-sequence}; and three consumers, each a subscription of its own that must see everything: an
 * embedded subscriber actor ({@code embedded}), a pull subscription polled and acked over HTTP ({@code pull}) and a
 * webhook ({@code webhook}). Everything is accounted in one {@link MessageChecker}; what a subscription dead-lettered
 * is read from the channel's dead-letter stream.
 *
 * <p>Publishers never block the scheduler that paces them: each keeps at most {@code maxInFlight} publishes open and
 * records every answer's time, so a test can bound how fast refusals came ({@link #slowestRefusalMs()}). A refused
 * publish is given up (counted by reason), or with {@link Options#retry} sent again with the same id, so the router's
 * deduplication decides whether an unconfirmed write made it.
 */
final class FaultLoad implements AutoCloseable {

  /** What the load does; {@code perSecond} is per publisher. */
  record Options(int perSecond, int maxInFlight, Duration timeToLive, boolean retry, boolean embedded, boolean pull,
      boolean webhook, Predicate<String> poison, Predicate<String> crash) {
    static Options steady() {
      return new Options(100, 50, Duration.ofMinutes(2), true, true, true, true, id -> false, id -> false);
    }

    Options perSecond(int n) {
      return new Options(n, maxInFlight, timeToLive, retry, embedded, pull, webhook, poison, crash);
    }

    Options timeToLive(Duration ttl) {
      return new Options(perSecond, maxInFlight, ttl, retry, embedded, pull, webhook, poison, crash);
    }

    Options retry(boolean on) {
      return new Options(perSecond, maxInFlight, timeToLive, on, embedded, pull, webhook, poison, crash);
    }

    Options consumers(boolean embeddedOn, boolean pullOn, boolean webhookOn) {
      return new Options(perSecond, maxInFlight, timeToLive, retry, embeddedOn, pullOn, webhookOn, poison, crash);
    }

    /** Ids every consumer fails on every time: the embedded subscriber and pull nack them, the webhook answers 500. */
    Options poison(Predicate<String> p) {
      return new Options(perSecond, maxInFlight, timeToLive, retry, embedded, pull, webhook, p, crash);
    }

    /**
     * Ids on whose first delivery the embedded subscriber crashes (throws: the actor stops with what it holds
     * unanswered); a new subscriber is started and subscribed 200 ms later, as a restarted application would.
     */
    Options crash(Predicate<String> p) {
      return new Options(perSecond, maxInFlight, timeToLive, retry, embedded, pull, webhook, poison, p);
    }
  }

  final MessageChecker checker = new MessageChecker();
  final String channel;
  private final RouterService service;
  private final RedisServer redis;
  private final Options options;
  private final ScheduledExecutorService ticker;
  private final AtomicBoolean publishing = new AtomicBoolean(true);
  private final AtomicBoolean pulling = new AtomicBoolean(true);
  private final List<Producer> producers = new ArrayList<>();
  private final Map<String, String> subscriptionToConsumer = new java.util.concurrent.ConcurrentHashMap<>();
  private final AtomicInteger webhookStatus = new AtomicInteger(200);
  private final ConcurrentLinkedQueue<Long> refusalMs = new ConcurrentLinkedQueue<>();
  private final LongAdder refusedWithoutRetryAfter = new LongAdder();
  private final AtomicLong lastAcceptedNanos = new AtomicLong();
  private final Map<String, Long> acceptedAt = new java.util.concurrent.ConcurrentHashMap<>();
  private WebhookReceiver hook;
  private Thread puller;

  private FaultLoad(RouterService service, RedisServer redis, String channel, Options options) {
    this.service = service;
    this.redis = redis;
    this.channel = channel;
    this.options = options;
    this.ticker = Executors.newScheduledThreadPool(2, r -> {
      Thread t = new Thread(r, "fault-load-" + channel);
      t.setDaemon(true);
      return t;
    });
  }

  /** Subscribes the consumers {@code options} asks for, then starts both publishers. */
  static FaultLoad start(RouterService service, ActorTestKit kit, RedisServer redis, String channel, Options options)
      throws Exception {
    FaultLoad load = new FaultLoad(service, redis, channel, options);
    load.subscribe(kit);
    load.producers.add(load.new Producer("emb", true));
    load.producers.add(load.new Producer("http", false));
    for (Producer p : load.producers) {
      load.ticker.scheduleAtFixedRate(p::tick, 0, 20, TimeUnit.MILLISECONDS);
    }
    return load;
  }

  private void subscribe(ActorTestKit kit) throws Exception {
    if (options.embedded()) {
      subscriptionToConsumer.put(channel + "-embedded", "embedded");
      subscribeEmbedded(kit);
    }
    if (options.webhook()) {
      MessageChecker.Consumer c = checker.consumer("webhook");
      subscriptionToConsumer.put(channel + "-hook", "webhook");
      hook = WebhookReceiver.start(8, call -> {
        int status = options.poison().test(call.messageId()) ? 500 : webhookStatus.get();
        if (status / 100 == 2) {
          c.delivered(call.messageId());
          c.acked(call.messageId());
        }
        return status;
      });
      HttpResponse<String> created = HttpTestSupport.post(service, "/v1/subscriptions", "{\"name\": \"" + channel
          + "-hook\", \"channel\": \"" + channel + "\", \"webhook\": {\"url\": \"" + hook.url()
          + "\", \"timeoutMs\": 2000, \"parallelism\": 8}}");
      assertEquals(201, created.statusCode(), created.body());
    }
    if (options.pull()) {
      MessageChecker.Consumer c = checker.consumer("pull");
      subscriptionToConsumer.put(channel + "-pull", "pull");
      ConsumeHttpSupport.createPull(service, channel + "-pull", channel);
      puller = new Thread(() -> {
        while (pulling.get()) {
          try {
            List<JsonNode> got = ConsumeHttpSupport.pull(service, channel + "-pull", 100, 300);
            List<JsonNode> good = new ArrayList<>();
            for (JsonNode d : got) {
              String id = ConsumeHttpSupport.messageId(d);
              if (options.poison().test(id)) {
                ConsumeHttpSupport.nack(service, channel + "-pull", d.get("deliveryId").asText(), "poison", false);
              } else {
                c.delivered(id);
                good.add(d);
              }
            }
            if (!good.isEmpty()) {
              ConsumeHttpSupport.ackAll(service, channel + "-pull", good);
              for (JsonNode d : good) c.acked(ConsumeHttpSupport.messageId(d));
            }
          } catch (Throwable e) {
            java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // e.g. Redis down
          }
        }
      }, "fault-load-puller-" + channel);
      puller.setDaemon(true);
      puller.start();
    }
  }

  private final Set<String> crashedOn = ConcurrentHashMap.newKeySet();
  private final AtomicInteger embeddedCrashes = new AtomicInteger();

  private void subscribeEmbedded(ActorTestKit kit) {
    MessageChecker.Consumer c = checker.consumer("embedded");
    ActorRef<Delivery> sub = kit.spawn(Behaviors.receiveMessage(d -> {
      String id = d.envelope().id();
      if (options.poison().test(id)) {
        d.replyTo().tell(d.nack("poison", false));
        return Behaviors.same();
      }
      if (options.crash().test(id) && crashedOn.add(id)) {
        embeddedCrashes.incrementAndGet();
        ticker.schedule(() -> subscribeEmbedded(kit), 200, TimeUnit.MILLISECONDS);
        throw new IllegalStateException("the subscriber crashes on " + id + " (a fault test's crash)");
      }
      c.delivered(id);
      d.replyTo().tell(d.ack());
      c.acked(id);
      return Behaviors.same();
    }));
    SubscribeReply reply = RouterTestSupport.subscribe(kit, service.runtime().router(), channel, channel
        + "-embedded", sub);
    if (!(reply instanceof SubscribeReply.Subscribed)) {
      throw new IllegalStateException("embedded subscriber not subscribed: " + reply);
    }
  }

  /** How many times the embedded subscriber crashed (and was started again). */
  int embeddedCrashes() {
    return embeddedCrashes.get();
  }

  /** The webhook's answer from now on (200 by default; a 5xx makes the router retry). */
  void webhookAnswers(int status) {
    webhookStatus.set(status);
  }

  WebhookReceiver webhook() {
    return hook;
  }

  /** Messages accepted so far, over both publishers. */
  long accepted() {
    return checker.report().accepted();
  }

  /** When the last publish was accepted ({@link System#nanoTime}), 0 before the first. */
  long lastAcceptedNanos() {
    return lastAcceptedNanos.get();
  }

  /** Ids whose first acceptance came before {@code nanos} ({@link System#nanoTime}). */
  java.util.Set<String> acceptedBefore(long nanos) {
    java.util.Set<String> out = new java.util.HashSet<>();
    acceptedAt.forEach((id, at) -> {
      if (at < nanos) out.add(id);
    });
    return out;
  }

  /** The slowest answer (ms) to a publish that was refused, over both publishers, since the last call. */
  long slowestRefusalMs() {
    long max = 0;
    for (Long ms; (ms = refusalMs.poll()) != null;) max = Math.max(max, ms);
    return max;
  }

  /** HTTP refusals (429 / 503) that came without a Retry-After header. */
  long refusedWithoutRetryAfter() {
    return refusedWithoutRetryAfter.sum();
  }

  /** Stops publishing and waits (at most 30 s) for the publishes in flight to be answered. */
  void stopPublishing() throws InterruptedException {
    publishing.set(false);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (producers.stream().anyMatch(p -> p.inFlight.get() > 0 || !p.retries.isEmpty())
        && System.nanoTime() < deadline) {
      Thread.sleep(50); // polling the in-flight counts, bounded
    }
  }

  /**
   * Waits (at most {@code within}) until every accepted message reached every consumer or its dead letters, then
   * stops the consumers' polling; the checker judges the rest.
   */
  void awaitAccounted(Duration within) throws Exception {
    long deadline = System.nanoTime() + within.toNanos();
    while (System.nanoTime() < deadline) {
      recordDeadLetters();
      if (checker.lostIds().isEmpty()) break;
      Thread.sleep(200); // polling the checker, bounded by within
    }
    recordDeadLetters();
    if (!checker.lostIds().isEmpty() && redis.isAlive()) {
      // what Redis holds for each group, for the failure's diagnosis
      for (String group : ConsumeHttpSupport.groups(redis, channel)) {
        org.slf4j.LoggerFactory.getLogger(FaultLoad.class).warn("not accounted for yet: {} ({}); group {}: XPENDING"
            + " {}, consumers {}", checker.lostIds().size(), checker.lostIds().stream().limit(10).toList(), group,
            redis.callList("XPENDING", io.redisrouter.router.redis.RedisKeys.stream(channel), group),
            redis.callList("XINFO", "CONSUMERS", io.redisrouter.router.redis.RedisKeys.stream(channel), group));
      }
    }
  }

  /** What each subscription dead-lettered, read from Redis, into the checker (a no-op while Redis is down). */
  void recordDeadLetters() {
    if (!redis.isAlive()) return;
    try {
      DeadLettersView.bySubscription(redis, channel).forEach((sub, byId) -> {
        String consumer = subscriptionToConsumer.get(sub);
        if (consumer != null) byId.forEach((id, reason) -> checker.consumer(consumer).deadLettered(id, reason));
      });
    } catch (RuntimeException e) {
      // Redis refused or went away between the check and the call: the next round reads it
    }
  }

  @Override
  public void close() {
    publishing.set(false);
    pulling.set(false);
    ticker.shutdownNow();
    if (puller != null) {
      try {
        puller.join(5_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (hook != null) hook.close();
  }

  /** One publisher: embedded (the actor API) or HTTP, paced by the ticker every 20 ms. */
  private final class Producer {
    final String name;
    final boolean embedded;
    final AtomicInteger inFlight = new AtomicInteger();
    final ConcurrentLinkedQueue<String> retries = new ConcurrentLinkedQueue<>();
    long next;
    double owed;

    Producer(String name, boolean embedded) {
      this.name = name;
      this.embedded = embedded;
    }

    void tick() {
      try {
        if (!publishing.get()) {
          // in-flight retries of a stopped load are given up, as refused
          for (String id; (id = retries.poll()) != null;) checker.refused(id, "given-up");
          return;
        }
        owed += options.perSecond() / 50.0;
        while (owed >= 1 && inFlight.get() < options.maxInFlight()) {
          owed -= 1;
          String retry = retries.poll();
          String id = retry != null ? retry : MessageChecker.id(name, next++);
          checker.attempted(id);
          send(id);
        }
        owed = Math.min(owed, options.perSecond()); // at most a second's worth waits for room
      } catch (Throwable e) {
        // keep ticking: a throw would cancel the schedule
      }
    }

    private void send(String id) {
      inFlight.incrementAndGet();
      long start = System.nanoTime();
      CompletableFuture<String> outcome = embedded ? sendEmbedded(id) : sendHttp(id);
      outcome.whenComplete((reason, err) -> {
        inFlight.decrementAndGet();
        String why = err != null ? "no-reply" : reason;
        if (why == null) {
          checker.accepted(id);
          long now = System.nanoTime();
          acceptedAt.putIfAbsent(id, now);
          lastAcceptedNanos.set(now);
          return;
        }
        refusalMs.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        checker.refused(id, why);
        if (options.retry() && publishing.get()) {
          ticker.schedule(() -> retries.add(id), 500, TimeUnit.MILLISECONDS);
        }
      });
    }

    /** Null when accepted, else the refusal's reason. */
    private CompletableFuture<String> sendEmbedded(String id) {
      PublishRequest r = PublishRequest.of(channel, RouterTestSupport.payload(id, 64)).withMessageId(id)
          .withTimeToLive(options.timeToLive());
      return service.runtime().publish(r).toCompletableFuture().orTimeout(30, TimeUnit.SECONDS)
          .thenApply(reply -> {
            if (reply instanceof PublishReply.Accepted) return null;
            if (reply instanceof PublishReply.Rejected rej) return rej.reason().code();
            return "expired";
          });
    }

    private CompletableFuture<String> sendHttp(String id) {
      HttpRequest request = HttpRequest.newBuilder(URI.create(service.baseUrl() + "/v1/channels/" + channel
          + "/messages")).timeout(Duration.ofSeconds(30))
          .header("Authorization", "Bearer " + HttpTestSupport.TOKEN)
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"payload\": {\"id\": \"" + id + "\"}, \"idempotencyKey\": \""
              + id + "\", \"ttl\": \"" + options.timeToLive().toMillis() + "ms\"}"))
          .build();
      return HttpTestSupport.sendAsync(request).thenApply(resp -> {
        int status = resp.statusCode();
        if (status == 202) return null;
        if ((status == 503 || status == 429) && resp.headers().firstValue("Retry-After").isEmpty()) {
          refusedWithoutRetryAfter.increment();
        }
        try {
          JsonNode body = HttpTestSupport.json(resp);
          return status + " " + (body.hasNonNull("code") ? body.get("code").asText() : "?");
        } catch (Exception e) {
          return status + " not-json";
        }
      });
    }
  }

  /** The ids of {@code ids} matching {@code p}, as a sorted set. */
  static Set<String> sortedSet(java.util.Collection<String> ids, Predicate<String> p) {
    return new java.util.TreeSet<>(sorted(ids, p));
  }

  /** The ids of {@code ids} matching {@code p}, sorted (for failure messages). */
  static List<String> sorted(java.util.Collection<String> ids, Predicate<String> p) {
    List<String> out = new ArrayList<>(ids.stream().filter(p).toList());
    Collections.sort(out);
    return out;
  }
}
