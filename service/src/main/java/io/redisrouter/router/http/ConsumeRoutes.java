package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;
import io.redisrouter.router.consume.DeliveryView;
import io.redisrouter.router.consume.HttpConsumers.LookupResult;
import io.redisrouter.router.consume.HttpSubscription;
import io.redisrouter.router.consume.PullService;
import io.redisrouter.router.consume.SubscriptionAdmin;
import org.apache.pekko.http.javadsl.marshalling.sse.EventStreamMarshalling;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * Consume over HTTP, over {@link SubscriptionAdmin} and {@link PullService}. Subscriptions ({@code admin} scope to
 * create and delete, {@code consume} to read): {@code POST /v1/subscriptions}, {@code GET /v1/subscriptions},
 * {@code GET|DELETE /v1/subscriptions/{name}}; they are stored in Redis and survive restarts. Pull subscriptions
 * ({@code consume} scope): {@code POST /v1/subscriptions/{name}/pull}, {@code .../ack}, {@code .../nack}, and
 * server-sent events at {@code GET /v1/subscriptions/{name}/events} (acked through the same endpoints; clients
 * reconnect with {@code Last-Event-ID}). Webhook subscriptions are pushed by the router.
 */
public final class ConsumeRoutes extends RouteSupport {
  private static final Logger log = LoggerFactory.getLogger(ConsumeRoutes.class);

  private final SubscriptionAdmin subscriptions;
  private final PullService pulls;
  private final HttpSettings settings;
  private final JsonBodies.Spec<PullBody> pullSpec;

  public ConsumeRoutes(SubscriptionAdmin subscriptions, PullService pulls, HttpSettings settings, Auth auth,
      Endpoints endpoints) {
    super(auth, endpoints);
    this.subscriptions = subscriptions;
    this.pulls = pulls;
    this.settings = settings;
    this.pullSpec = PullBody.spec(settings);
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
            post(() -> authorized(admin,
                () -> jsonBody(SubscriptionBody.SPEC, (body, unknown) -> answer(create(body, unknown))))),
            get(() -> authorized(consume,
                () -> answer(subscriptions.list()
                    .thenApply(all -> json(StatusCodes.OK,
                        Map.of("subscriptions", all.stream().map(HttpSubscription::publicView)
                            .toList())))))))),
        pathPrefix(PathMatchers.segment(), name -> validName(name, () -> concat(
            pathEnd(() -> concat(
                get(() -> authorized(consume, () -> answer(subscriptions.show(name).thenApply(v -> v
                    .map(s -> json(StatusCodes.OK, s)).orElseGet(() -> notFound(name)))))),
                delete(() -> authorized(admin, () -> answer(subscriptions.remove(name).thenApply(deleted -> deleted
                    ? HttpResponse.create().withStatus(StatusCodes.NO_CONTENT)
                    : notFound(name))))))),
            // a long poll may wait up to max-pull-wait, longer than Pekko's request-timeout (20 s against 30 s by
            // default), which would answer 503 in its place and hand what comes later to nobody
            path("pull",
                () -> post(() -> authorized(consume,
                    () -> withRequestTimeout(pullRequestTimeout(),
                        () -> jsonBody(pullSpec, (body, unknown) -> answer(pull(name, body, unknown))))))),
            path("ack",
                () -> post(() -> authorized(consume,
                    () -> jsonBody(SettleBody.ACK,
                        (body, unknown) -> answer(settle(name, body.deliveryIds(), true, null, false, unknown)))))),
            path("nack",
                () -> post(() -> authorized(consume,
                    () -> jsonBody(SettleBody.NACK,
                        (body, unknown) -> answer(settle(name, body.deliveryIds(), false, body.error(),
                            Boolean.TRUE.equals(body.doNotRetry()), unknown)))))),
            path("events", () -> get(() -> authorized(consume,
                () -> optionalHeaderValueByName("Last-Event-ID", last -> events(name, last)))))))))));
  }

  /** The answer to an ack or nack. */
  @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
  record Settled(Integer acked, Integer nacked, List<String> unknown, String note) {}

  private CompletionStage<HttpResponse> create(SubscriptionBody body, List<FieldError> unknown) {
    List<FieldError> errors = body.validate(unknown);
    errors.addAll(subscriptions.checkChannel(body.channel()));
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    HttpSubscription s = new HttpSubscription(body.name(), body.channel(), body.toWebhook(settings), Instant.now());
    return subscriptions.create(s).thenApply(r -> switch (r.result()) {
      case CREATED -> json(StatusCodes.CREATED, r.subscription().publicView());
      case ALREADY_EXISTS -> json(StatusCodes.OK, r.subscription().publicView());
      case CONFLICT -> conflict("conflict", "subscription '" + s.name() + "' already exists"
          + " with another definition (channel '" + r.subscription().channel() + "'): delete it first or pick"
          + " another name");
      case GROUP_EXISTS -> conflict("group-exists", "channel '" + s.channel() + "' already has"
          + " a consumer group named '" + s.name() + "' that is not an HTTP subscription (an embedded subscriber's,"
          + " or one left behind): pick another name, or remove that group (XGROUP DESTROY) if nothing uses it");
    });
  }

  /** A 409 naming the field that clashes: the subscription's name. */
  private static HttpResponse conflict(String code, String message) {
    return json(StatusCodes.CONFLICT, new ApiError(code, message, List.of(new FieldError("name", code, message))));
  }

  private CompletionStage<HttpResponse> pull(String name, PullBody body, List<FieldError> unknown) {
    List<FieldError> errors = body.validate(settings, unknown);
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    return withPull(name,
        sub -> pulls.pull(sub, body.count(settings), body.waitFor(settings))
            .thenApply(handed -> json(StatusCodes.OK, Map.of("messages", handed.stream()
                .map(h -> DeliveryView.of(h.delivery(), h.ackDeadline())).toList()))));
  }

  private CompletionStage<HttpResponse> settle(String name, List<String> ids, boolean ack, String error,
      boolean doNotRetry, List<FieldError> unknown) {
    List<FieldError> errors = SettleBody.validate(ids, error, unknown);
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    String reason = error == null || error.isBlank() ? "nacked over HTTP" : error;
    return withPull(name, sub -> pulls.settle(sub, ids, ack, reason, doNotRetry).thenApply(r -> {
      String note = r.unknown().isEmpty()
          ? null
          : ack
              ? "unknown ids are not pending for this subscription any more (already acked or dead-lettered), or are"
                  + " not delivery ids"
              : "unknown ids were not handed out by this router node, were already answered, or their ack timeout"
                  + " passed long ago; such messages are delivered again";
      return json(StatusCodes.OK, new Settled(ack ? r.settled() : null, ack ? null : r.settled(), r.unknown(),
          note));
    }));
  }

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
    return onSuccess(pulls.lookup(name), found -> {
      if (!(found instanceof LookupResult.Pull sub)) return complete(problem(name, found));
      return completeOK(pulls.events(sub, resumeAfter)
          .map(h -> ServerSentEvent.create(new String(DeliveryView.toBytes(h.delivery(), h.ackDeadline()),
              StandardCharsets.UTF_8), "message", Long.toString(h.seq())))
          .keepAlive(settings.sseHeartbeat(), ServerSentEvent::heartbeat), EventStreamMarshalling.toEventStream());
    });
  }

  /**
   * Runs {@code inner} for a subscription name that could exist; another name is a 400 naming the field (a name
   * with a glob, a CR/LF or 10,000 characters is not looked up).
   */
  private Route validName(String name, java.util.function.Supplier<Route> inner) {
    FieldError bad = io.redisrouter.protocol.Validation.checkName("name", name);
    return bad == null ? inner.get() : complete(JsonBodies.invalid(List.of(bad)));
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /** Answers with what {@code call} completes with; Redis failing is 503 (down) or 500 (an error reply). */
  private Route answer(CompletionStage<HttpResponse> call) {
    return onSuccess(call.exceptionally(t -> redisFailure(log, "subscription request", t)), this::complete);
  }

  /** Runs {@code f} with the pull subscription {@code name}; another lookup result is answered here. */
  private CompletionStage<HttpResponse> withPull(String name,
      Function<LookupResult.Pull, CompletionStage<HttpResponse>> f) {
    return pulls.lookup(name).thenCompose(r -> r instanceof LookupResult.Pull p
        ? f.apply(p)
        : done(problem(name, r)));
  }

  /** The response for a lookup that gave no pull subscription. */
  private static HttpResponse problem(String name, LookupResult r) {
    if (r instanceof LookupResult.Unavailable) {
      return retryLater(StatusCodes.SERVICE_UNAVAILABLE, "redis-unavailable", "cannot read the subscriptions:"
          + " Redis does not answer; retry", Duration.ofSeconds(1));
    }
    if (r instanceof LookupResult.Webhook) {
      return error(StatusCodes.CONFLICT, "push-subscription", "subscription '" + name + "' is a webhook"
          + " subscription: the router pushes its messages to its webhook; pull and events serve pull"
          + " subscriptions");
    }
    return notFound(name);
  }

  /** The request timeout of a pull: its longest wait, the gateway's answer time, and a margin for the lookup. */
  private Duration pullRequestTimeout() {
    return settings.maxPullWait().plus(PullService.PULL_ASK_MARGIN).plusSeconds(5);
  }

  private static HttpResponse notFound(String name) {
    return error(StatusCodes.NOT_FOUND, "not-found", "no subscription named '" + name + "': create it with"
        + " POST /v1/subscriptions");
  }
}
