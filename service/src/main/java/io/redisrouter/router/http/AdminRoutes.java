package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.admin.ChannelAdmin;
import io.redisrouter.router.admin.ClusterAdmin;
import io.redisrouter.router.admin.DeadLetterAdmin;
import io.redisrouter.router.admin.DeadLetterAdmin.ReplayOne;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * Admin (scope {@code admin}) over {@link ChannelAdmin} and {@link DeadLetterAdmin}: {@code GET /v1/channels},
 * {@code GET /v1/channels/{channel}}, and the channel's dead letters: {@code GET .../dead-letters?after=&limit=}
 * (pages), {@code GET .../dead-letters/{id}}, {@code POST .../dead-letters/{id}/replay},
 * {@code POST .../dead-letters/replay} (all), {@code DELETE .../dead-letters/{id}}, {@code DELETE .../dead-letters}
 * (purge). Redis down is 503 with Retry-After.
 */
public final class AdminRoutes extends RouteSupport {
  private static final Logger log = LoggerFactory.getLogger(AdminRoutes.class);

  static final int DEFAULT_PAGE = 100;
  static final int MAX_PAGE = 1000;
  private static final Pattern ENTRY_ID = Pattern.compile("\\d{1,20}-\\d{1,20}");
  private static final Pattern AFTER_ID = Pattern.compile("\\d{1,20}(-\\d{1,20})?");

  private final ChannelAdmin channels;
  private final DeadLetterAdmin deadLetters;
  private final ClusterAdmin cluster;

  public AdminRoutes(ChannelAdmin channels, DeadLetterAdmin deadLetters, ClusterAdmin cluster, Auth auth,
      Endpoints endpoints) {
    super(auth, endpoints);
    this.channels = channels;
    this.deadLetters = deadLetters;
    this.cluster = cluster;
  }

  public Route route() {
    endpoints.add("GET", "/v1/channels");
    endpoints.add("GET", "/v1/channels/{channel}");
    endpoints.add("GET", "/v1/channels/{channel}/dead-letters");
    endpoints.add("DELETE", "/v1/channels/{channel}/dead-letters");
    endpoints.add("POST", "/v1/channels/{channel}/dead-letters/replay");
    endpoints.add("GET", "/v1/channels/{channel}/dead-letters/{id}");
    endpoints.add("DELETE", "/v1/channels/{channel}/dead-letters/{id}");
    endpoints.add("POST", "/v1/channels/{channel}/dead-letters/{id}/replay");
    endpoints.add("GET", "/v1/channels/{channel}/subscriptions/{subscription}/audit");
    endpoints.add("GET", "/v1/cluster");
    return pathPrefix("v1", () -> concat(path("cluster", () -> get(() -> admin(() -> answer(
        () -> cluster.view().thenApply(v -> json(StatusCodes.OK, v)))))), pathPrefix("channels", () -> concat(
            pathEnd(
                () -> get(() -> admin(() -> answer(() -> channels.list().thenApply(l -> json(StatusCodes.OK, l)))))),
            pathPrefix(PathMatchers.segment(), channel -> concat(
                pathEnd(() -> get(() -> admin(() -> answer(channel, () -> channelStats(channel))))),
                pathPrefix("subscriptions", () -> pathPrefix(PathMatchers.segment(), subscription -> path("audit",
                    () -> get(() -> admin(() -> parameterList(params -> parameterOptional("limit",
                        limit -> answer(channel, () -> audit(channel, subscription, limit, params))))))))),
                pathPrefix("dead-letters", () -> concat(
                    pathEnd(() -> concat(
                        get(() -> admin(() -> parameterList(params -> parameterOptional("after",
                            after -> parameterOptional("limit",
                                limit -> answer(channel, () -> page(channel, after, limit, params))))))),
                        delete(() -> admin(() -> answer(channel,
                            () -> deadLetters.purge(channel)
                                .thenApply(n -> json(StatusCodes.OK, new Purged(channel, n)))))))),
                    // "replay" is never an entry id (those are digits-digits): match it before {id}
                    path("replay",
                        () -> post(() -> admin(() -> jsonBody(ReplayBody.SPEC,
                            (body, unknown) -> answer(channel, () -> replayAll(channel, body, unknown)))))),
                    pathPrefix(PathMatchers.segment(), id -> concat(
                        pathEnd(() -> concat(
                            get(() -> admin(() -> answer(channel, id,
                                () -> deadLetters.get(channel, id).thenApply(d -> d
                                    .map(v -> json(StatusCodes.OK, v))
                                    .orElseGet(() -> deadLetterNotFound(channel, id)))))),
                            delete(() -> admin(() -> answer(channel, id, () -> deadLetters.delete(channel, id)
                                .thenApply(deleted -> deleted
                                    ? HttpResponse.create().withStatus(StatusCodes.NO_CONTENT)
                                    : deadLetterNotFound(channel, id))))))),
                        path("replay", () -> post(() -> admin(() -> jsonBody(ReplayBody.SPEC, (body,
                            unknown) -> answer(channel, id, () -> replayOne(channel, id, body, unknown))))))))))))))));
  }

  private Route admin(Supplier<Route> inner) {
    return authorized(HttpSettings.Scope.ADMIN, inner);
  }

  /** The body of a purge's answer. */
  record Purged(String channel, long purged) {}

  /** The answer to a replay of one dead letter. */
  @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
  record Replayed(String deadLetterId, String originalMessageId, String messageId, String streamId, boolean duplicate,
      boolean deleted, String warning) {}

  /** The answer to a replay-all. */
  record ReplayedAll(String channel, int replayed, int duplicates, int failed, int skipped, int notDeleted,
      Long remaining, boolean complete, String stoppedBecause, List<PublishResult> failures) {}

  private CompletionStage<HttpResponse> channelStats(String channel) {
    return channels.stats(channel).thenApply(s -> s.map(v -> json(StatusCodes.OK, v)).orElseGet(
        () -> error(StatusCodes.NOT_FOUND, "not-found", "channel '" + channel + "' has no stream and no dead letters on"
            + " redis instance '" + channels.instanceOf(channel) + "': nothing was published to it yet")));
  }

  private CompletionStage<HttpResponse> page(String channel, Optional<String> after, Optional<String> limitText,
      List<java.util.Map.Entry<String, String>> params) {
    List<FieldError> errors = new ArrayList<>();
    for (String name : List.of("after", "limit")) {
      if (params.stream().filter(p -> p.getKey().equals(name)).count() > 1) {
        errors.add(new FieldError(name, "repeated", name + " is given more than once: give it once"));
      }
    }
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    if (after.isPresent() && !validAfter(after.get())) {
      errors.add(new FieldError("after", "invalid-id", "after '" + shorten(after.get()) + "' is invalid: give the"
          + " nextAfter of the previous page (a dead-letter id like 1712345678901-0), or leave it out"));
    }
    int limit = limit(limitText, "", errors);
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    return deadLetters.page(channel, after, limit).thenApply(p -> json(StatusCodes.OK, p));
  }

  private CompletionStage<HttpResponse> audit(String channel, String subscription, Optional<String> limitText,
      List<java.util.Map.Entry<String, String>> params) {
    List<FieldError> errors = new ArrayList<>();
    if (params.stream().filter(p -> p.getKey().equals("limit")).count() > 1) {
      errors.add(new FieldError("limit", "repeated", "limit is given more than once: give it once"));
      return done(JsonBodies.invalid(errors));
    }
    FieldError bad = Validation.checkName("subscription", subscription);
    if (bad != null) errors.add(bad);
    int limit = limit(limitText, " producers", errors);
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    return done(json(StatusCodes.OK, channels.audit(channel, subscription, limit)));
  }

  /**
   * The {@code limit} query parameter (1-{@value #MAX_PAGE}, {@value #DEFAULT_PAGE} when absent): a value that is not
   * exactly a number in range adds a field error naming {@code limit} ({@code unit} says what it counts).
   */
  private static int limit(Optional<String> limitText, String unit, List<FieldError> errors) {
    if (limitText.isEmpty()) return DEFAULT_PAGE;
    int limit;
    try {
      limit = Integer.parseInt(limitText.get());
    } catch (NumberFormatException e) {
      limit = -1;
    }
    if (limit < 1 || limit > MAX_PAGE) {
      errors.add(new FieldError("limit", "invalid-limit", "limit '" + shorten(limitText.get()) + "' is invalid: use 1-"
          + MAX_PAGE + unit + " (default " + DEFAULT_PAGE + ")"));
    }
    return limit;
  }

  /** A stream id Redis takes: one or two unsigned 64-bit numbers. */
  private static boolean validAfter(String id) {
    if (!AFTER_ID.matcher(id).matches()) return false;
    for (String part : id.split("-")) {
      try {
        Long.parseUnsignedLong(part);
      } catch (NumberFormatException e) {
        return false;
      }
    }
    return true;
  }

  private CompletionStage<HttpResponse> replayOne(String channel, String id, ReplayBody body,
      List<FieldError> unknown) {
    List<FieldError> errors = body.validate(false, unknown);
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    return deadLetters.replayOne(channel, id, body.timeToLive()).thenApply(outcome -> {
      if (outcome instanceof ReplayOne.NotFound) return deadLetterNotFound(channel, id);
      if (outcome instanceof ReplayOne.Undecodable) {
        return error(StatusCodes.UNPROCESSABLE_ENTITY, "undecodable", "dead letter " + id + " of channel '"
            + channel + "' holds no readable message, so it cannot be replayed: delete it");
      }
      if (outcome instanceof ReplayOne.NotPublished n) return PublishRoutes.toResponse(n.reply());
      ReplayOne.Replayed r = (ReplayOne.Replayed) outcome;
      PublishReply.Accepted a = r.accepted();
      return json(StatusCodes.OK, new Replayed(id, r.deadLetter().envelope().id(), a.messageId(), a.streamId(),
          a.duplicate(), r.deleteError() == null, r.deleteError() == null
              ? null
              : "the message was replayed but the"
                  + " dead letter could not be deleted (" + r.deleteError()
                  + "): replaying it again is deduplicated; delete"
                  + " it later"));
    });
  }

  private CompletionStage<HttpResponse> replayAll(String channel, ReplayBody body, List<FieldError> unknown) {
    List<FieldError> errors = body.validate(true, unknown);
    if (!errors.isEmpty()) return done(JsonBodies.invalid(errors));
    return deadLetters.replayAll(channel, body.timeToLive(), body.maxOrDefault())
        .thenApply(r -> json(StatusCodes.OK,
            new ReplayedAll(r.channel(), r.replayed(), r.duplicates(), r.failed(), r.skipped(),
                r.notDeleted(), r.remaining(), r.complete(), r.stoppedBecause(), r.failures().stream()
                    .map(f -> PublishResult.of(f.reply()).forDeadLetter(f.deadLetterId())).toList())));
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /** Runs {@code call}; Redis failing is 503 (down) or 500 (an error reply). */
  private Route answer(Supplier<CompletionStage<HttpResponse>> call) {
    CompletionStage<HttpResponse> result;
    try {
      result = call.get();
    } catch (RuntimeException e) {
      result = java.util.concurrent.CompletableFuture.failedFuture(e);
    }
    return onSuccess(result.exceptionally(t -> redisFailure(log, "admin request", t)), this::complete);
  }

  /** {@link #answer(Supplier)} for a valid channel name (else 400). */
  private Route answer(String channel, Supplier<CompletionStage<HttpResponse>> call) {
    FieldError bad = Validation.checkName("channel", channel);
    return bad != null ? complete(JsonBodies.invalid(List.of(bad))) : answer(call);
  }

  /** {@link #answer(String, Supplier)} for a valid dead-letter id (else 400). */
  private Route answer(String channel, String id, Supplier<CompletionStage<HttpResponse>> call) {
    if (validAfter(id) && ENTRY_ID.matcher(id).matches()) return answer(channel, call);
    return complete(JsonBodies.invalid(List.of(new FieldError("id", "invalid-id", "dead-letter id '" + shorten(id)
        + "' is invalid: use an id from the dead-letter list, like 1712345678901-0"))));
  }

  private static HttpResponse deadLetterNotFound(String channel, String id) {
    return error(StatusCodes.NOT_FOUND, "not-found", "channel '" + channel + "' has no dead letter " + id
        + " (replayed or deleted already?)");
  }
}
