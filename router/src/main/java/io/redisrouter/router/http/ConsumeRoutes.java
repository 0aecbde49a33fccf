package io.redisrouter.router.http;

import io.redisrouter.router.internal.DeliveryIds;
import io.redisrouter.router.internal.Stages;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.consume.DeliveryJson;
import io.redisrouter.router.consume.HttpConsumers;
import io.redisrouter.router.consume.HttpSubscription;
import io.redisrouter.router.consume.PullGateway;
import io.redisrouter.router.consume.SubscriptionStore;
import io.redisrouter.router.redis.GroupInfo;
import io.redisrouter.router.redis.GroupLag;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.RedisUnavailableException;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.marshalling.sse.EventStreamMarshalling;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Consume over HTTP. Subscriptions ({@code admin} scope to create and delete, {@code consume} to read):
 * {@code POST /v1/subscriptions}, {@code GET /v1/subscriptions}, {@code GET|DELETE /v1/subscriptions/{name}}; they
 * are stored in Redis and survive restarts. Pull subscriptions ({@code consume} scope):
 * {@code POST /v1/subscriptions/{name}/pull}, {@code .../ack}, {@code .../nack}, and server-sent events at
 * {@code GET /v1/subscriptions/{name}/events} (acked through the same endpoints; a node that shuts down ends its
 * event streams, and clients reconnect with {@code Last-Event-ID}). Webhook subscriptions are pushed
 * by the router. Every way goes through the same delivery core as the embedded API: retries, deadlines and dead
 * letters are the core's.
 */
public final class ConsumeRoutes extends RouteSupport {
  private static final Logger log = LoggerFactory.getLogger(ConsumeRoutes.class);

  static final int DEFAULT_PULL_COUNT = 10;
  static final Duration DEFAULT_PULL_WAIT = Duration.ofSeconds(1);
  /** How long after its wait a pull may take to be answered by the gateway. */
  static final Duration PULL_ASK_MARGIN = Duration.ofSeconds(10);
  static final int DEFAULT_WEBHOOK_PARALLELISM_CAP = 1000;
  static final Duration MAX_WEBHOOK_TIMEOUT = Duration.ofMinutes(5);
  /** Most delivery ids one ack or nack may name. */
  static final int MAX_SETTLE_IDS = 10_000;
  /** Deliveries buffered per server-sent-event stream before the gateway holds them back. */
  static final int SSE_BUFFER = 64;
  /** Longest wait, when deleting a subscription, for this node to stop consuming it. */
  static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(15);
  private static final Set<String> CREATE_FIELDS = Set.of("name", "channel", "webhook");
  private static final Set<String> WEBHOOK_FIELDS = Set.of("url", "timeoutMs", "parallelism");
  private static final Set<String> PULL_FIELDS = Set.of("maxMessages", "waitMs");
  private static final Set<String> SETTLE_FIELDS = Set.of("deliveryIds", "error", "doNotRetry");

  private final ActorSystem<?> system;
  private final RouterRuntime runtime;
  private final HttpSettings settings;
  private final SubscriptionStore store;
  private final ActorRef<HttpConsumers.Command> consumers;
  private final AtomicLong streamKeys = new AtomicLong();
  /** Ends every server-sent-event stream of this node when it shuts down (see the constructor). */
  private final SharedKillSwitch eventStreams = KillSwitches.shared("server-sent-events");

  public ConsumeRoutes(ActorSystem<?> system, RouterRuntime runtime, HttpSettings settings, Auth auth,
                       Endpoints endpoints) {
    super(auth, endpoints);
    this.system = system;
    this.runtime = runtime;
    this.settings = settings;
    this.store = new SubscriptionStore(runtime, settings.subscriptionTombstoneRetention());
    this.consumers = system.systemActorOf(HttpConsumers.create(runtime, store, settings.subscriptionRefresh(),
        settings.pullIdleRelease()), "http-consumers", Props.empty());
    // an event stream never ends by itself: end them all (properly, with the last chunk) when the node stops taking
    // requests, rather than having the connections cut; clients reconnect, to another node, with Last-Event-ID
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseServiceUnbind(), "http-end-event-streams",
        () -> {
          eventStreams.shutdown();
          return CompletableFuture.completedFuture(Done.getInstance());
        });
    // webhook pushes stop before the actors do: their client pools shut down in order (what is in flight stays
    // pending in Redis), rather than being cut off by the actor system's termination
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseServiceStop(), "webhook-clients", () ->
        Stages.plain(Http.get(system).shutdownAllConnectionPools()).thenApply(x -> Done.getInstance()));
  }

  public Route route() {
    endpoints.add("POST", "/v1/subscriptions");
    endpoints.add("GET", "/v1/subscriptions");
    endpoints.add("GET", "/v1/subscriptions/{name}");
    endpoints.add("DELETE", "/v1/subscriptions/{name}");
    endpoints.add("POST", "/v1/subscriptions/{name}/pull");
    endpoints.add("POST", "/v1/subscriptions/{name}/ack");
    endpoints.add("POST", "/v1/subscriptions/{name}/nack");
    endpoints.add("GET", "/v1/subscriptions/{name}/events");
    HttpSettings.Scope admin = HttpSettings.Scope.ADMIN;
    HttpSettings.Scope consume = HttpSettings.Scope.CONSUME;
    return pathPrefix("v1", () -> pathPrefix("subscriptions", () -> concat(
        pathEnd(() -> concat(
            post(() -> authorized(admin, () -> entity(Unmarshaller.entityToByteString(), body ->
                onSuccess(create(body), this::complete)))),
            get(() -> authorized(consume, () -> onSuccess(list(), this::complete))))),
        pathPrefix(PathMatchers.segment(), name -> concat(
            pathEnd(() -> concat(
                get(() -> authorized(consume, () -> onSuccess(show(name), this::complete))),
                delete(() -> authorized(admin, () -> onSuccess(remove(name), this::complete))))),
            // a long poll may wait up to max-pull-wait, longer than Pekko's request-timeout (20 s against 30 s by
            // default), which would answer 503 in its place and hand what comes later to nobody
            path("pull", () -> post(() -> authorized(consume, () -> withRequestTimeout(pullRequestTimeout(), () ->
                entity(Unmarshaller.entityToByteString(), body -> onSuccess(pull(name, body), this::complete)))))),
            path("ack", () -> post(() -> authorized(consume, () ->
                entity(Unmarshaller.entityToByteString(), body ->
                    onSuccess(settle(name, body, true), this::complete))))),
            path("nack", () -> post(() -> authorized(consume, () ->
                entity(Unmarshaller.entityToByteString(), body ->
                    onSuccess(settle(name, body, false), this::complete))))),
            path("events", () -> get(() -> authorized(consume, () ->
                optionalHeaderValueByName("Last-Event-ID", last -> events(name, last))))))))));
  }

  // ---- subscriptions ----------------------------------------------------------------------------------------------

  private CompletionStage<HttpResponse> create(ByteString body) {
    JsonNode n;
    try {
      n = JSON.readTree(body.toArray());
    } catch (IOException e) {
      return done(error(StatusCodes.BAD_REQUEST, "invalid-json", "the body is not valid JSON ("
          + firstLine(e.getMessage()) + "): send {\"name\": ..., \"channel\": ...}"));
    }
    List<FieldError> errors = new ArrayList<>();
    if (n == null || !n.isObject()) {
      return done(invalid(List.of(new FieldError("", "invalid", "the body must be a JSON object like"
          + " {\"name\": \"billing\", \"channel\": \"orders\"}"))));
    }
    unknownFields(n, CREATE_FIELDS, "", errors);
    String name = text(n, "name");
    String channel = text(n, "channel");
    FieldError e1 = Validation.checkName("name", name);
    if (e1 != null) errors.add(e1);
    FieldError e2 = Validation.checkName("channel", channel);
    if (e2 != null) errors.add(e2);
    if (e2 == null) {
      ChannelPolicy policy = runtime.settings().policyFor(channel);
      if (policy.mode() != ChannelMode.RELIABLE) {
        errors.add(new FieldError("channel", "broadcast-channel", "channel '" + channel + "' is a broadcast"
            + " channel (at-most-once, no consumer groups): subscribe to a reliable channel"));
      } else if (!runtime.handles().containsKey(policy.redisInstance())) {
        errors.add(new FieldError("channel", "unknown-instance", "channel '" + channel + "' uses redis instance '"
            + policy.redisInstance() + "', which is not configured"));
      }
    }
    HttpSubscription.Webhook webhook = null;
    JsonNode w = n.get("webhook");
    if (w != null && !w.isNull()) {
      webhook = webhook(w, errors);
    }
    if (!errors.isEmpty()) return done(invalid(errors));
    HttpSubscription s = new HttpSubscription(name, channel, webhook, Instant.now());
    return store.create(s).thenApply(r -> switch (r.result()) {
      case CREATED -> {
        consumers.tell(new HttpConsumers.Upsert(r.subscription()));
        log.info("subscription '{}' on channel '{}' created ({})", name, channel,
            s.isPush() ? "webhook" : "pull");
        yield json(StatusCodes.CREATED, r.subscription().toPublicJson());
      }
      case ALREADY_EXISTS -> json(StatusCodes.OK, r.subscription().toPublicJson());
      case CONFLICT -> error(StatusCodes.CONFLICT, "conflict", "subscription '" + name + "' already exists with"
          + " another definition (channel '" + r.subscription().channel() + "'): delete it first or pick another"
          + " name");
      case GROUP_EXISTS -> error(StatusCodes.CONFLICT, "group-exists", "channel '" + channel + "' already has a"
          + " consumer group named '" + name + "' that is not an HTTP subscription (an embedded subscriber's, or one"
          + " left behind): pick another name, or remove that group (XGROUP DESTROY) if nothing uses it");
    }).exceptionally(this::redisError);
  }

  private HttpSubscription.Webhook webhook(JsonNode w, List<FieldError> errors) {
    if (!w.isObject()) {
      errors.add(new FieldError("webhook", "invalid", "webhook must be an object like"
          + " {\"url\": \"https://service-b/hooks/orders\"}"));
      return null;
    }
    unknownFields(w, WEBHOOK_FIELDS, "webhook.", errors);
    String url = text(w, "url");
    URI uri = null;
    if (url == null || url.isBlank()) {
      errors.add(new FieldError("webhook.url", "required", "webhook.url is missing: give the http(s) URL the"
          + " router POSTs each message to"));
    } else {
      try {
        uri = new URI(url);
        if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
          throw new IllegalArgumentException();
        }
      } catch (Exception e) {
        uri = null;
        errors.add(new FieldError("webhook.url", "invalid-url", "webhook.url is not an absolute http or https URL"
            + " with a host: use e.g. http://service-b:8080/hooks/orders"));
      }
    }
    Duration timeout = settings.webhookTimeout();
    JsonNode t = w.get("timeoutMs");
    if (t != null && !t.isNull()) {
      if (!t.canConvertToLong() || t.asLong() < 1 || t.asLong() > MAX_WEBHOOK_TIMEOUT.toMillis()) {
        errors.add(new FieldError("webhook.timeoutMs", "out-of-range", "webhook.timeoutMs must be 1-"
            + MAX_WEBHOOK_TIMEOUT.toMillis() + " (milliseconds)"));
      } else {
        timeout = Duration.ofMillis(t.asLong());
      }
    }
    int parallelism = settings.webhookParallelism();
    JsonNode p = w.get("parallelism");
    if (p != null && !p.isNull()) {
      if (!p.canConvertToInt() || p.asInt() < 1 || p.asInt() > DEFAULT_WEBHOOK_PARALLELISM_CAP) {
        errors.add(new FieldError("webhook.parallelism", "out-of-range", "webhook.parallelism must be 1-"
            + DEFAULT_WEBHOOK_PARALLELISM_CAP + " (calls in flight at once)"));
      } else {
        parallelism = p.asInt();
      }
    }
    return uri == null ? null : new HttpSubscription.Webhook(uri, timeout, parallelism);
  }

  private CompletionStage<HttpResponse> list() {
    return store.list().thenApply(all -> {
      ObjectNode out = JSON.createObjectNode();
      ArrayNode arr = out.putArray("subscriptions");
      all.forEach(s -> arr.add(s.toPublicJson()));
      return json(StatusCodes.OK, out);
    }).exceptionally(this::redisError);
  }

  private CompletionStage<HttpResponse> show(String name) {
    return store.get(name).thenCompose(found -> {
      if (found.isEmpty()) return done(notFound(name));
      HttpSubscription s = found.get();
      ObjectNode body = s.toPublicJson();
      RedisAsyncCommands<String, byte[]> cmd = runtime.handleFor(s.channel()).commands();
      String stream = RedisKeys.stream(s.channel());
      return cmd.xinfoGroups(stream).toCompletableFuture()
          .handle((groups, err) -> {
            ObjectNode stats = body.putObject("stats");
            if (err != null) {
              stats.put("error", "the channel has no stream or this subscription has no consumer group yet");
              return done(json(StatusCodes.OK, body));
            }
            GroupInfo info = GroupInfo.find(GroupInfo.parse(groups), name);
            if (info == null) return done(json(StatusCodes.OK, body));
            stats.put("consumers", info.consumers());
            stats.put("pending", info.pending());
            stats.put("lastDeliveredId", info.lastDeliveredId());
            stats.putNull("lag");
            // Redis 6.2 reports no lag: counted by the router there (GroupLag)
            return GroupLag.of(cmd, stream, info).thenApply(lag -> {
              if (lag.value() != null) stats.put("lag", lag.value()); else stats.put("lagUnknown", lag.unknown());
              return json(StatusCodes.OK, body);
            });
          }).thenCompose(x -> x);
    }).exceptionally(this::redisError);
  }

  private CompletionStage<HttpResponse> remove(String name) {
    return store.removeDefinition(name).thenCompose(deleted -> {
      if (deleted.isEmpty()) return done(notFound(name));
      // this node's consumer of the group lets go of it first: while it still reads, it creates a destroyed group
      // again (at the end of the stream), and that group would hold the channel's retention back for good
      CompletionStage<Done> left = Stages.plain(AskPattern.<HttpConsumers.Command, Done>ask(consumers,
              replyTo -> new HttpConsumers.Removed(name, replyTo), LEAVE_TIMEOUT, system.scheduler()))
          .exceptionally(t -> Done.getInstance()); // destroy it anyway
      return left.thenCompose(d -> store.destroyGroup(deleted.get())).thenApply(v -> {
        log.info("subscription '{}' deleted (its consumer group and pending entries with it)", name);
        return HttpResponse.create().withStatus(StatusCodes.NO_CONTENT);
      });
    }).exceptionally(this::redisError);
  }

  // ---- pull, ack, nack ----------------------------------------------------------------------------------------------

  private CompletionStage<HttpResponse> pull(String name, ByteString body) {
    int max = Math.min(DEFAULT_PULL_COUNT, settings.maxPullCount());
    Duration wait = DEFAULT_PULL_WAIT.compareTo(settings.maxPullWait()) < 0 ? DEFAULT_PULL_WAIT
        : settings.maxPullWait();
    if (!body.isEmpty()) {
      JsonNode n;
      try {
        n = JSON.readTree(body.toArray());
      } catch (IOException e) {
        return done(error(StatusCodes.BAD_REQUEST, "invalid-json", "the body is not valid JSON ("
            + firstLine(e.getMessage()) + "): send {\"maxMessages\": 10, \"waitMs\": 1000} or nothing"));
      }
      List<FieldError> errors = new ArrayList<>();
      if (n != null && n.isObject()) {
        unknownFields(n, PULL_FIELDS, "", errors);
        JsonNode m = n.get("maxMessages");
        if (m != null && !m.isNull()) {
          if (!m.canConvertToInt() || m.asInt() < 1 || m.asInt() > settings.maxPullCount()) {
            errors.add(new FieldError("maxMessages", "out-of-range", "maxMessages must be 1-"
                + settings.maxPullCount() + " (redis-router.http.max-pull-count)"));
          } else {
            max = m.asInt();
          }
        }
        JsonNode w = n.get("waitMs");
        if (w != null && !w.isNull()) {
          if (!w.canConvertToLong() || w.asLong() < 0 || w.asLong() > settings.maxPullWait().toMillis()) {
            errors.add(new FieldError("waitMs", "out-of-range", "waitMs must be 0-"
                + settings.maxPullWait().toMillis() + " (redis-router.http.max-pull-wait)"));
          } else {
            wait = Duration.ofMillis(w.asLong());
          }
        }
      } else if (n != null && !n.isNull()) {
        errors.add(new FieldError("", "invalid", "the body must be a JSON object like {\"maxMessages\": 10}"));
      }
      if (!errors.isEmpty()) return done(invalid(errors));
    }
    int count = max;
    Duration waitFor = wait;
    return gateway(name, g -> Stages.plain(AskPattern.<PullGateway.Command, List<PullGateway.Handed>>ask(g,
            replyTo -> new PullGateway.Pull(count, waitFor, replyTo), waitFor.plus(PULL_ASK_MARGIN),
            system.scheduler()))
        .thenApply(handed -> {
          ObjectNode out = JSON.createObjectNode();
          ArrayNode arr = out.putArray("messages");
          handed.forEach(h -> arr.add(DeliveryJson.toJson(h.delivery(), h.ackDeadline())));
          return json(StatusCodes.OK, out);
        }));
  }

  private CompletionStage<HttpResponse> settle(String name, ByteString body, boolean ack) {
    JsonNode n;
    try {
      n = JSON.readTree(body.toArray());
    } catch (IOException e) {
      return done(error(StatusCodes.BAD_REQUEST, "invalid-json", "the body is not valid JSON ("
          + firstLine(e.getMessage()) + "): send {\"deliveryIds\": [\"...\"]}"));
    }
    List<FieldError> errors = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    String err = null;
    boolean doNotRetry = false;
    if (n == null || !n.isObject()) {
      errors.add(new FieldError("deliveryIds", "required", "send {\"deliveryIds\": [\"...\"]} with the deliveryId"
          + " of each message"));
    } else {
      unknownFields(n, ack ? Set.of("deliveryIds") : SETTLE_FIELDS, "", errors);
      JsonNode arr = n.get("deliveryIds");
      if (arr == null || !arr.isArray() || arr.isEmpty()) {
        errors.add(new FieldError("deliveryIds", "required", "deliveryIds must be a non-empty array of the"
            + " deliveryId values the pull or event gave"));
      } else if (arr.size() > MAX_SETTLE_IDS) {
        errors.add(new FieldError("deliveryIds", "too-many", "at most " + MAX_SETTLE_IDS + " deliveryIds per call"));
      } else {
        for (JsonNode id : arr) {
          if (!id.isTextual() || id.asText().isEmpty() || id.asText().length() > 128) {
            errors.add(new FieldError("deliveryIds", "invalid", "every deliveryId must be a non-empty string as"
                + " the pull or event gave it"));
            break;
          }
          ids.add(id.asText());
        }
      }
      if (!ack) {
        err = text(n, "error");
        JsonNode d = n.get("doNotRetry");
        if (d != null && !d.isNull() && !d.isBoolean()) {
          errors.add(new FieldError("doNotRetry", "invalid", "doNotRetry must be true or false"));
        }
        doNotRetry = d != null && d.asBoolean(false);
        if (err != null && err.length() > 1024) {
          errors.add(new FieldError("error", "too-long", "error must be at most 1024 characters"));
        }
      }
    }
    if (!errors.isEmpty()) return done(invalid(errors));
    String reason = err == null || err.isBlank() ? "nacked over HTTP" : err;
    boolean noRetry = doNotRetry;
    return lookup(name).thenCompose(found -> {
      HttpResponse problem = problem(name, found);
      if (problem != null) return done(problem);
      HttpSubscription sub = found.subscription().orElseThrow();
      return Stages.plain(AskPattern.<PullGateway.Command, PullGateway.SettleResult>ask(found.gateway(),
              replyTo -> new PullGateway.Settle(ids, ack, reason, noRetry, replyTo), Duration.ofSeconds(10),
              system.scheduler()))
          .thenCompose(r -> ack && !r.unknown().isEmpty() ? ackInRedis(sub, r) : done(r))
          .thenApply(r -> {
            ObjectNode out = JSON.createObjectNode();
            out.put(ack ? "acked" : "nacked", r.settled());
            ArrayNode unknown = out.putArray("unknown");
            r.unknown().forEach(unknown::add);
            if (!r.unknown().isEmpty()) {
              out.put("note", ack
                  ? "unknown ids are not pending for this subscription any more (already acked or dead-lettered),"
                      + " or are not delivery ids"
                  : "unknown ids were not handed out by this router node, were already answered, or their ack"
                      + " timeout passed long ago; such messages are delivered again");
            }
            return json(StatusCodes.OK, out);
          });
    });
  }

  /**
   * Acks that this node did not hand out (another node did, or this node forgot them): acknowledged in Redis
   * directly (XACK of the entry the delivery id names), so that an ack may reach any router node. The node that
   * handed the delivery out then finds the entry no longer pending when its ack timeout passes, and does not
   * deliver it again. Ids that are not pending are left unknown.
   */
  private CompletionStage<PullGateway.SettleResult> ackInRedis(HttpSubscription sub, PullGateway.SettleResult r) {
    // ids answered here already stay unknown (a repeated answer); the others may have been handed out elsewhere
    List<String> entries = new ArrayList<>();
    for (String id : r.unknown()) {
      if (!r.answeredHere().contains(id) && DeliveryIds.isReliable(id)) entries.add(id);
    }
    if (entries.isEmpty()) return done(r);
    RedisAsyncCommands<String, byte[]> cmd;
    try {
      cmd = runtime.handleFor(sub.channel()).commands();
    } catch (RedisUnavailableException e) {
      return done(r);
    }
    Map<String, CompletableFuture<Long>> acks = new HashMap<>();
    for (String id : entries) {
      acks.put(id, cmd.xack(RedisKeys.stream(sub.channel()), sub.name(), DeliveryIds.entry(id))
          .toCompletableFuture());
    }
    return CompletableFuture.allOf(acks.values().toArray(CompletableFuture[]::new)).handle((v, e) -> {
      int settled = r.settled();
      List<String> unknown = new ArrayList<>();
      for (String id : r.unknown()) { // in the order given
        CompletableFuture<Long> f = acks.get(id);
        if (f != null && !f.isCompletedExceptionally() && f.join() == 1L) {
          settled++;
        } else {
          unknown.add(id);
        }
      }
      return new PullGateway.SettleResult(settled, unknown, r.answeredHere());
    });
  }


  // ---- server-sent events -----------------------------------------------------------------------------------------

  private Route events(String name, Optional<String> lastEventIdHeader) {
    Long lastEventId = null;
    if (lastEventIdHeader.isPresent() && !lastEventIdHeader.get().isBlank()) {
      try {
        lastEventId = Long.parseLong(lastEventIdHeader.get().trim());
      } catch (NumberFormatException e) {
        return complete(json(StatusCodes.BAD_REQUEST, new ApiError("invalid", "Last-Event-ID is not an event id",
            List.of(new FieldError("Last-Event-ID", "invalid", "send back the id of the last event received (a"
                + " number), or no Last-Event-ID header")))));
      }
    }
    Long resumeAfter = lastEventId;
    CompletionStage<Object> lookup = lookup(name).thenApply(r -> {
      HttpResponse problem = problem(name, r);
      return problem != null ? (Object) problem : r.gateway();
    });
    return onSuccess(lookup, found -> {
      if (found instanceof HttpResponse problem) return complete(problem);
      @SuppressWarnings("unchecked")
      ActorRef<PullGateway.Command> gateway = (ActorRef<PullGateway.Command>) found;
      long key = streamKeys.incrementAndGet();
      Pair<BoundedSourceQueue<PullGateway.Handed>, Source<PullGateway.Handed, org.apache.pekko.NotUsed>> pre =
          Source.<PullGateway.Handed>queue(SSE_BUFFER).preMaterialize(system);
      gateway.tell(new PullGateway.Attach(key, pre.first(), resumeAfter));
      Source<ServerSentEvent, org.apache.pekko.NotUsed> events = pre.second()
          .map(h -> ServerSentEvent.create(
              new String(DeliveryJson.toBytes(h.delivery(), h.ackDeadline()), StandardCharsets.UTF_8),
              "message", Long.toString(h.seq())))
          .keepAlive(settings.sseHeartbeat(), ServerSentEvent::heartbeat)
          .via(eventStreams.flow())
          .watchTermination((mat, done) -> {
            done.whenComplete((d, e) -> gateway.tell(new PullGateway.Detach(key)));
            return mat;
          });
      return completeOK(events, EventStreamMarshalling.toEventStream());
    });
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /** The request timeout of a pull: its longest wait, the gateway's answer time, and a margin for the lookup. */
  private Duration pullRequestTimeout() {
    return settings.maxPullWait().plus(PULL_ASK_MARGIN).plusSeconds(5);
  }

  private CompletionStage<HttpConsumers.LookupResult> lookup(String name) {
    return Stages.plain(AskPattern.ask(consumers, replyTo -> new HttpConsumers.Lookup(name, replyTo),
        Duration.ofSeconds(10), system.scheduler()));
  }

  /** The response for a lookup that gave no gateway, or null when there is one. */
  private HttpResponse problem(String name, HttpConsumers.LookupResult r) {
    if (r.error() != null) {
      return retryLater(StatusCodes.SERVICE_UNAVAILABLE, "redis-unavailable", "cannot read the subscriptions:"
          + " Redis does not answer; retry", Duration.ofSeconds(1));
    }
    if (r.subscription().isEmpty()) return notFound(name);
    if (r.gateway() == null) {
      return error(StatusCodes.CONFLICT, "push-subscription", "subscription '" + name + "' is a webhook"
          + " subscription: the router pushes its messages to " + "its webhook; pull and events serve pull"
          + " subscriptions");
    }
    return null;
  }

  private CompletionStage<HttpResponse> gateway(String name,
                                                Function<ActorRef<PullGateway.Command>, CompletionStage<HttpResponse>> f) {
    return lookup(name).thenCompose(r -> {
      HttpResponse problem = problem(name, r);
      return problem != null ? done(problem) : f.apply(r.gateway());
    });
  }

  private static HttpResponse notFound(String name) {
    return error(StatusCodes.NOT_FOUND, "not-found", "no subscription named '" + name + "': create it with"
        + " POST /v1/subscriptions");
  }

  private HttpResponse redisError(Throwable t) {
    Throwable c = SubscriptionStore.unwrap(t);
    if (c instanceof RedisUnavailableException || c instanceof io.lettuce.core.RedisException) {
      log.warn("subscription request failed: {}", c.getClass().getSimpleName());
      return retryLater(StatusCodes.SERVICE_UNAVAILABLE, "redis-unavailable", "Redis does not answer: retry"
          + " later", Duration.ofSeconds(1));
    }
    throw c instanceof RuntimeException re ? re : new CompletionException(c);
  }

  private static HttpResponse invalid(List<FieldError> errors) {
    String msg = errors.stream().map(FieldError::message).reduce((a, b) -> a + "; " + b).orElse("invalid request");
    return json(StatusCodes.BAD_REQUEST, new ApiError("invalid", msg, errors));
  }

  private static void unknownFields(JsonNode n, Set<String> known, String prefix, List<FieldError> errors) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!known.contains(f)) {
        errors.add(new FieldError(prefix + f, "unknown-field", "'" + prefix + f + "' is not a known field: use "
            + known.stream().sorted().map(k -> prefix + k).toList()));
      }
    }
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }


  private static String str(Object o) {
    return o instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(o);
  }
}
