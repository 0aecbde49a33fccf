package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.Envelope;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.RateCounter;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.GroupInfo;
import io.redisrouter.router.redis.GroupLag;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.RedisUnavailableException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Admin (scope {@code admin}): channels and their subscriptions with stats, and dead letters (list, inspect, replay,
 * delete, purge). Every Redis command here is non-blocking and runs on the shared command connection.
 *
 * <ul>
 *   <li>{@code GET /v1/channels}: channels found by SCAN of {@code rr:{*}:stream} on every instance, plus the
 *       configured overrides and the broadcast channels published through this node.</li>
 *   <li>{@code GET /v1/channels/{channel}}: stream length, dead-letter count, per subscription (consumer group)
 *       consumers, pending, lag (Redis 7+), last-delivered id and the age of the oldest pending entry; publish and ack
 *       totals and rates as seen by this node (per second over the last {@value RateCounter#WINDOW_SECONDS} s).</li>
 *   <li>{@code GET /v1/channels/{channel}/dead-letters?after=&limit=} (pages), {@code GET .../dead-letters/{id}},
 *       {@code POST .../dead-letters/{id}/replay}, {@code POST .../dead-letters/replay} (all, in bounded batches),
 *       {@code DELETE .../dead-letters/{id}}, {@code DELETE .../dead-letters} (purge).</li>
 * </ul>
 *
 * <p>Replay publishes the dead letter's payload, headers, content type and partition key again through
 * {@link RouterRuntime#publish} with a fresh deadline (the channel's time-to-live, or {@code ttl} from the body) and
 * the message id {@code replay-<dead-letter id>}: a replay that is repeated (a client retry, or a delete that failed)
 * is deduplicated instead of delivered twice. The dead letter is deleted only after the publish was accepted.
 */
public final class AdminRoutes extends RouteSupport {
  private static final Logger log = LoggerFactory.getLogger(AdminRoutes.class);

  static final int DEFAULT_PAGE = 100;
  static final int MAX_PAGE = 1000;
  /** Dead letters replayed concurrently by a replay-all (one XRANGE page; then XDEL of the accepted ones). */
  static final int REPLAY_BATCH = 100;
  static final int DEFAULT_REPLAY_MAX = 10_000;
  static final int MAX_REPLAY_MAX = 100_000;
  /** Channels GET /v1/channels lists at most (per Redis instance scanned). */
  static final int MAX_LISTED_CHANNELS = 10_000;
  private static final int SCAN_COUNT = 1000;
  /** Message id prefix of replayed messages. */
  static final String REPLAY_ID_PREFIX = "replay-";

  private static final Pattern ENTRY_ID = Pattern.compile("\\d{1,20}-\\d{1,20}");
  private static final Pattern AFTER_ID = Pattern.compile("\\d{1,20}(-\\d{1,20})?");
  private static final String STREAM_PATTERN = "rr:{*}:stream";
  /** Counts and deletes a dead-letter stream atomically (no entry added in between is lost uncounted). */
  private static final String PURGE_SCRIPT =
      "local n = redis.call('XLEN', KEYS[1]) redis.call('DEL', KEYS[1]) return n";
  private static final Set<String> REPLAY_FIELDS = Set.of("ttl", "max");
  private static final Duration RETRY_AFTER_UNAVAILABLE = Duration.ofSeconds(1);

  private final ActorSystem<?> system;
  private final RouterRuntime runtime;
  private final HttpSettings settings;

  public AdminRoutes(ActorSystem<?> system, RouterRuntime runtime, HttpSettings settings, Auth auth,
                       Endpoints endpoints) {
    super(auth, endpoints);
    this.system = system;
    this.runtime = runtime;
    this.settings = settings;
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
    HttpSettings.Scope admin = HttpSettings.Scope.ADMIN;
    return pathPrefix("v1", () -> pathPrefix("channels", () -> concat(
        pathEnd(() -> get(() -> authorized(admin, () -> onSuccess(listChannels(), this::complete)))),
        pathPrefix(PathMatchers.segment(), channel -> concat(
            pathEnd(() -> get(() -> authorized(admin, () -> onSuccess(channelStats(channel), this::complete)))),
            pathPrefix("dead-letters", () -> concat(
                pathEnd(() -> concat(
                    get(() -> authorized(admin, () -> parameterOptional("after", after ->
                        parameterOptional("limit", limit ->
                            onSuccess(listDeadLetters(channel, after, limit), this::complete))))),
                    delete(() -> authorized(admin, () -> onSuccess(purge(channel), this::complete))))),
                // "replay" is never an entry id (those are digits-digits): match it before {id}
                path("replay", () -> post(() -> authorized(admin, () ->
                    entity(Unmarshaller.entityToByteString(), body ->
                        onSuccess(replayAll(channel, body), this::complete))))),
                pathPrefix(PathMatchers.segment(), id -> concat(
                    pathEnd(() -> concat(
                        get(() -> authorized(admin, () -> onSuccess(getDeadLetter(channel, id), this::complete))),
                        delete(() -> authorized(admin, () ->
                            onSuccess(deleteDeadLetter(channel, id), this::complete))))),
                    path("replay", () -> post(() -> authorized(admin, () ->
                        entity(Unmarshaller.entityToByteString(), body ->
                            onSuccess(replayOne(channel, id, body), this::complete))))))))))))));
  }

  // ---- channels ---------------------------------------------------------------------------------------------------

  private record Found(String channel, String instance, long length, long deadLetters) {}

  private record InstanceScan(String instance, List<Found> found, boolean truncated, String error) {}

  private CompletionStage<HttpResponse> listChannels() {
    List<CompletableFuture<InstanceScan>> scans = new ArrayList<>();
    for (RedisHandle h : runtime.handles().values()) {
      scans.add(scanInstance(h).toCompletableFuture());
    }
    return CompletableFuture.allOf(scans.toArray(CompletableFuture[]::new)).thenApply(v -> {
      Map<String, ObjectNode> rows = new TreeMap<>();
      ArrayNode unavailable = JSON.createArrayNode();
      boolean truncated = false;
      for (CompletableFuture<InstanceScan> f : scans) {
        InstanceScan s = f.join(); // completed: allOf finished, and scanInstance never fails
        truncated |= s.truncated();
        if (s.error() != null) {
          unavailable.add(JSON.createObjectNode().put("instance", s.instance()).put("message", s.error()));
        }
        for (Found c : s.found()) {
          ObjectNode row = channelRow(c.channel());
          row.put("redisInstance", c.instance());
          row.put("stream", true);
          row.put("length", c.length());
          row.put("deadLetters", c.deadLetters());
          rows.put(c.channel() + "\u0000" + c.instance(), row);
        }
      }
      Set<String> listed = new TreeSet<>();
      rows.values().forEach(r -> listed.add(r.get("channel").asText()));
      Set<String> more = new TreeSet<>(runtime.settings().channelOverrides().keySet());
      for (String c : runtime.metrics().publishedByChannel().keySet()) {
        if (runtime.settings().policyFor(c).mode() == ChannelMode.BROADCAST) more.add(c);
      }
      for (String c : more) {
        if (listed.contains(c)) continue;
        ObjectNode row = channelRow(c);
        row.put("stream", false);
        rows.put(c + "\u0000", row);
      }
      ObjectNode body = JSON.createObjectNode();
      ArrayNode list = body.putArray("channels");
      rows.values().forEach(list::add);
      body.put("truncated", truncated);
      body.set("unavailable", unavailable);
      return json(StatusCodes.OK, body);
    });
  }

  /** One channel's row in the channel list: its policy's mode and instance, and this node's counters. */
  private ObjectNode channelRow(String channel) {
    ChannelPolicy policy = runtime.settings().policyFor(channel);
    ObjectNode row = JSON.createObjectNode();
    row.put("channel", channel);
    row.put("mode", policy.mode().configName());
    row.put("redisInstance", policy.redisInstance());
    row.put("configured", runtime.settings().channelOverrides().containsKey(channel));
    rates(row, channel);
    return row;
  }

  private void rates(ObjectNode node, String channel) {
    rate(node, "published", runtime.metrics().publishedByChannel().get(channel));
    rate(node, "acked", runtime.metrics().ackedByChannel().get(channel));
  }

  private static void rate(ObjectNode node, String field, RateCounter c) {
    ObjectNode r = node.putObject(field);
    r.put("total", c == null ? 0 : c.total());
    r.put("perSecond", c == null ? 0.0 : Math.round(c.perSecond() * 1000.0) / 1000.0);
    r.put("windowSeconds", RateCounter.WINDOW_SECONDS);
  }

  /** SCANs one instance for channel streams, then reads their lengths; completes normally even on errors. */
  private CompletionStage<InstanceScan> scanInstance(RedisHandle h) {
    RedisAsyncCommands<String, byte[]> cmd;
    try {
      cmd = h.commands();
    } catch (RedisUnavailableException e) {
      return CompletableFuture.completedFuture(new InstanceScan(h.instance(), List.of(), false, e.getMessage()));
    }
    Set<String> channels = new TreeSet<>();
    return scan(cmd, ScanCursor.INITIAL, channels).thenCompose(truncated -> {
      List<String> names = new ArrayList<>(channels);
      List<CompletableFuture<Long>> lengths = new ArrayList<>(names.size() * 2);
      for (String c : names) {
        lengths.add(cmd.xlen(RedisKeys.stream(c)).toCompletableFuture());
        lengths.add(cmd.xlen(RedisKeys.deadLetters(c)).toCompletableFuture());
      }
      return CompletableFuture.allOf(lengths.toArray(CompletableFuture[]::new)).thenApply(v -> {
        List<Found> found = new ArrayList<>(names.size());
        for (int i = 0; i < names.size(); i++) {
          found.add(new Found(names.get(i), h.instance(), lengths.get(2 * i).join(), lengths.get(2 * i + 1).join()));
        }
        return new InstanceScan(h.instance(), found, truncated, null);
      });
    }).exceptionally(e -> new InstanceScan(h.instance(), List.of(), false, describe(e)));
  }

  /** Non-blocking SCAN loop (one round trip at a time); completes with whether it stopped at the channel cap. */
  private CompletionStage<Boolean> scan(RedisAsyncCommands<String, byte[]> cmd, ScanCursor cursor, Set<String> out) {
    return cmd.scan(cursor, ScanArgs.Builder.matches(STREAM_PATTERN).limit(SCAN_COUNT))
        .thenCompose((KeyScanCursor<String> c) -> {
          for (String key : c.getKeys()) {
            String channel = channelOfStream(key);
            if (channel != null) out.add(channel);
          }
          if (out.size() >= MAX_LISTED_CHANNELS) return CompletableFuture.completedFuture(!c.isFinished());
          if (c.isFinished()) return CompletableFuture.completedFuture(false);
          return scan(cmd, c, out);
        });
  }

  /** The channel of a stream key {@code rr:{channel}:stream}, or null when the key is not one of ours. */
  static String channelOfStream(String key) {
    if (!key.startsWith("rr:{") || !key.endsWith("}:stream")) return null;
    String channel = key.substring(4, key.length() - 8);
    return Validation.checkName("channel", channel) == null ? channel : null;
  }

  private CompletionStage<HttpResponse> channelStats(String channel) {
    return withRedis(channel, cmd -> {
      ChannelPolicy policy = runtime.settings().policyFor(channel);
      boolean configured = runtime.settings().channelOverrides().containsKey(channel);
      ObjectNode body = JSON.createObjectNode();
      body.put("channel", channel);
      body.put("mode", policy.mode().configName());
      body.put("redisInstance", policy.redisInstance());
      body.put("configured", configured);
      ObjectNode p = body.putObject("policy");
      p.put("timeToLiveMs", policy.timeToLive().toMillis());
      p.put("ackTimeoutMs", policy.ackTimeout().toMillis());
      p.put("maxAttempts", policy.maxAttempts());
      p.put("maxInFlight", policy.maxInFlight());
      rates(body, channel);
      if (policy.mode() == ChannelMode.BROADCAST) {
        String key = RedisKeys.broadcast(channel);
        return cmd.pubsubNumsub(key).thenApply(m -> {
          body.put("redisSubscribers", m.getOrDefault(key, 0L)); // pub/sub connections of router nodes
          body.putArray("subscriptions");
          return json(StatusCodes.OK, body);
        });
      }
      String stream = RedisKeys.stream(channel);
      String dead = RedisKeys.deadLetters(channel);
      CompletableFuture<Long> exists = cmd.exists(stream).toCompletableFuture();
      CompletableFuture<Long> length = cmd.xlen(stream).toCompletableFuture();
      CompletableFuture<Long> deadLetters = cmd.xlen(dead).toCompletableFuture();
      CompletableFuture<List<GroupInfo>> groups = GroupInfo.of(cmd, stream).toCompletableFuture();
      return CompletableFuture.allOf(exists, length, deadLetters, groups).thenCompose(v -> {
        boolean streamExists = exists.join() > 0;
        if (!streamExists && deadLetters.join() == 0 && !configured) {
          return done(error(StatusCodes.NOT_FOUND, "not-found", "channel '" + channel + "' has no stream and no"
              + " dead letters on redis instance '" + policy.redisInstance() + "': nothing was published to it yet"));
        }
        body.put("exists", streamExists);
        body.put("length", length.join());
        body.put("deadLetters", deadLetters.join());
        return subscriptions(cmd, stream, groups.join()).thenApply(subs -> {
          body.set("subscriptions", subs);
          return json(StatusCodes.OK, body);
        });
      });
    });
  }

  /** XINFO GROUPS rows as JSON, each with its oldest pending entry from the XPENDING summary. */
  private CompletionStage<ArrayNode> subscriptions(RedisAsyncCommands<String, byte[]> cmd, String stream,
                                                   List<GroupInfo> groups) {
    List<ObjectNode> rows = new ArrayList<>();
    List<CompletableFuture<Void>> pendings = new ArrayList<>();
    long now = System.currentTimeMillis();
    for (GroupInfo info : groups) {
      String name = info.name();
      ObjectNode row = JSON.createObjectNode();
      row.put("name", name);
      row.put("consumers", info.consumers());
      long pending = info.pending();
      row.put("pending", pending);
      row.put("lastDeliveredId", info.lastDeliveredId());
      // Redis 7+ only; null there too when the group's position cannot be computed (after deletions)
      if (info.entriesRead() != null) {
        row.put("entriesRead", info.entriesRead());
      } else {
        row.putNull("entriesRead");
        row.put("entriesReadUnknown", GroupLag.ENTRIES_READ_UNKNOWN);
      }
      row.putNull("lag"); // keeps the field order; set below
      pendings.add(GroupLag.of(cmd, stream, info).toCompletableFuture().thenAccept(lag -> {
        if (lag.value() != null) {
          row.put("lag", lag.value());
        } else {
          row.put("lagUnknown", lag.unknown());
        }
      }));
      row.putNull("oldestPendingId");
      row.putNull("oldestPendingAgeMs");
      if (pending > 0) {
        pendings.add(cmd.xpending(stream, name).toCompletableFuture().thenAccept(p -> {
          String lowest = p.getMessageIds() == null ? null : p.getMessageIds().getLower().getValue();
          if (lowest != null) {
            row.put("oldestPendingId", lowest);
            row.put("oldestPendingAgeMs", Math.max(0, now - idMillis(lowest)));
          }
        }));
      }
      rows.add(row);
    }
    return CompletableFuture.allOf(pendings.toArray(CompletableFuture[]::new)).thenApply(v -> {
      ArrayNode out = JSON.createArrayNode();
      rows.sort((a, b) -> a.get("name").asText().compareTo(b.get("name").asText()));
      rows.forEach(out::add);
      return out;
    });
  }

  /** The millisecond part of a stream entry id (when the entry was added). */
  static long idMillis(String id) {
    int dash = id.indexOf('-');
    try {
      return Long.parseLong(dash < 0 ? id : id.substring(0, dash));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  // ---- dead letters: read -----------------------------------------------------------------------------------------

  private CompletionStage<HttpResponse> listDeadLetters(String channel, Optional<String> after, Optional<String> limitText) {
    List<FieldError> errors = new ArrayList<>();
    if (after.isPresent() && !AFTER_ID.matcher(after.get()).matches()) {
      errors.add(new FieldError("after", "invalid-id", "after '" + shorten(after.get()) + "' is invalid: give the"
          + " nextAfter of the previous page (a dead-letter id like 1712345678901-0), or leave it out"));
    }
    int limit = DEFAULT_PAGE;
    if (limitText.isPresent()) {
      try {
        limit = Integer.parseInt(limitText.get().trim());
      } catch (NumberFormatException e) {
        limit = -1;
      }
      if (limit < 1 || limit > MAX_PAGE) {
        errors.add(new FieldError("limit", "invalid-limit", "limit '" + shorten(limitText.get())
            + "' is invalid: use 1-" + MAX_PAGE + " (default " + DEFAULT_PAGE + ")"));
      }
    }
    if (!errors.isEmpty()) return done(invalid(errors));
    int count = limit;
    return withRedis(channel, cmd -> {
      String dead = RedisKeys.deadLetters(channel);
      Range<String> range = after.isEmpty()
          ? Range.create("-", "+")
          : Range.from(Range.Boundary.excluding(after.get()), Range.Boundary.unbounded());
      CompletableFuture<List<StreamMessage<String, byte[]>>> page =
          cmd.xrange(dead, range, Limit.from(count)).toCompletableFuture();
      CompletableFuture<Long> total = cmd.xlen(dead).toCompletableFuture();
      return CompletableFuture.allOf(page, total).thenApply(v -> {
        List<StreamMessage<String, byte[]>> msgs = page.join();
        ObjectNode body = JSON.createObjectNode();
        body.put("channel", channel);
        body.put("total", total.join());
        ArrayNode items = body.putArray("items");
        for (StreamMessage<String, byte[]> m : msgs) {
          items.add(deadLetterNode(RedisRouter.toDeadLetter(m), false));
        }
        if (msgs.size() == count) {
          body.put("nextAfter", msgs.get(msgs.size() - 1).getId());
        } else {
          body.putNull("nextAfter");
        }
        return json(StatusCodes.OK, body);
      });
    });
  }

  private CompletionStage<HttpResponse> getDeadLetter(String channel, String id) {
    HttpResponse bad = checkEntryId(id);
    if (bad != null) return done(bad);
    return withRedis(channel, cmd -> readOne(cmd, channel, id).thenApply(d -> d == null
        ? deadLetterNotFound(channel, id)
        : json(StatusCodes.OK, deadLetterNode(d, true))));
  }

  private static CompletionStage<DeadLetter> readOne(RedisAsyncCommands<String, byte[]> cmd, String channel,
                                                     String id) {
    return cmd.xrange(RedisKeys.deadLetters(channel), Range.create(id, id), Limit.from(1))
        .thenApply(msgs -> msgs.isEmpty() ? null : RedisRouter.toDeadLetter(msgs.get(0)));
  }

  /** A dead letter as JSON; with {@code withPayload} the payload too (else only its size). */
  static ObjectNode deadLetterNode(DeadLetter d, boolean withPayload) {
    ObjectNode n = JSON.createObjectNode();
    n.put("id", d.deadLetterId());
    n.put("subscription", d.subscription());
    n.put("reason", d.reason());
    n.put("attempts", d.attempts());
    n.put("lastError", d.lastError());
    n.put("at", d.at().toString());
    if (d.envelope() == null) {
      n.putNull("envelope");
      n.put("undecodable", true);
    } else {
      n.set("envelope", io.redisrouter.router.consume.EnvelopeJson.of(d.envelope(), withPayload));
    }
    return n;
  }

  // ---- dead letters: delete ---------------------------------------------------------------------------------------

  private CompletionStage<HttpResponse> deleteDeadLetter(String channel, String id) {
    HttpResponse bad = checkEntryId(id);
    if (bad != null) return done(bad);
    return withRedis(channel, cmd -> cmd.xdel(RedisKeys.deadLetters(channel), id).thenApply(n -> n > 0
        ? HttpResponse.create().withStatus(StatusCodes.NO_CONTENT)
        : deadLetterNotFound(channel, id)));
  }

  private CompletionStage<HttpResponse> purge(String channel) {
    return withRedis(channel, cmd -> cmd.<Long>eval(PURGE_SCRIPT, ScriptOutputType.INTEGER,
        RedisKeys.deadLetters(channel)).thenApply(n -> {
          log.info("dead letters of channel '{}' purged over HTTP: {} entries", channel, n);
          return json(StatusCodes.OK, JSON.createObjectNode().put("channel", channel).put("purged", n));
        }));
  }

  // ---- dead letters: replay ---------------------------------------------------------------------------------------

  /** The body of a replay: an optional {@code ttl}, and for replay-all an optional {@code max}. */
  private record ReplayOptions(Duration ttl, int max) {}

  private static Object parseReplayBody(ByteString body, boolean all) {
    String text = body.utf8String().trim();
    if (text.isEmpty()) return new ReplayOptions(null, DEFAULT_REPLAY_MAX);
    JsonNode node;
    try {
      node = JSON.readTree(text);
    } catch (IOException e) {
      return List.of(new FieldError("body", "invalid-json", "the body is not valid JSON: send {\"ttl\": \"30s\"}"
          + " or nothing"));
    }
    if (node == null || node.isNull()) return new ReplayOptions(null, DEFAULT_REPLAY_MAX);
    if (!node.isObject()) {
      return List.of(new FieldError("body", "invalid", "the body must be a JSON object like {\"ttl\": \"30s\"}"));
    }
    List<FieldError> errors = new ArrayList<>();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!REPLAY_FIELDS.contains(f) || (f.equals("max") && !all)) {
        errors.add(new FieldError(f, "unknown-field", f + " is not a known field: use " + (all ? "ttl, max" : "ttl")));
      }
    }
    Duration ttl = null;
    JsonNode t = node.get("ttl");
    if (t != null && !t.isNull()) {
      ttl = t.isTextual() ? PublishRoutes.parseDuration(t.asText()) : null;
      if (ttl == null || ttl.isNegative() || ttl.isZero()) {
        errors.add(new FieldError("ttl", "invalid-ttl", "ttl '" + shorten(t.asText()) + "' is invalid: use a"
            + " positive duration like \"30s\", \"500ms\", \"5m\" or ISO-8601 \"PT30S\"; leave it out for the"
            + " channel's time-to-live"));
        ttl = null;
      }
    }
    int max = DEFAULT_REPLAY_MAX;
    JsonNode m = node.get("max");
    if (all && m != null && !m.isNull()) {
      max = m.canConvertToInt() && m.isIntegralNumber() ? m.asInt() : -1;
      if (max < 1 || max > MAX_REPLAY_MAX) {
        errors.add(new FieldError("max", "invalid-max", "max must be 1-" + MAX_REPLAY_MAX + " (default "
            + DEFAULT_REPLAY_MAX + ")"));
      }
    }
    return errors.isEmpty() ? new ReplayOptions(ttl, max) : errors;
  }

  /** The publish that replays a dead letter: its message, a fresh deadline, an id that makes a repeat a duplicate. */
  static PublishRequest replayRequest(String channel, DeadLetter d, Duration ttl) {
    Envelope e = d.envelope();
    return new PublishRequest(channel, REPLAY_ID_PREFIX + d.deadLetterId(), e.partitionKey(), e.payload(),
        e.contentType(), e.headers(), ttl, null);
  }

  @SuppressWarnings("unchecked")
  private CompletionStage<HttpResponse> replayOne(String channel, String id, ByteString body) {
    HttpResponse bad = checkEntryId(id);
    if (bad != null) return done(bad);
    Object parsed = parseReplayBody(body, false);
    if (parsed instanceof List<?> errors) return done(invalid((List<FieldError>) errors));
    ReplayOptions options = (ReplayOptions) parsed;
    return withRedis(channel, cmd -> readOne(cmd, channel, id).thenCompose(d -> {
      if (d == null) return done(deadLetterNotFound(channel, id));
      if (d.envelope() == null) {
        return done(error(StatusCodes.UNPROCESSABLE_ENTITY, "undecodable", "dead letter " + id + " of channel '"
            + channel + "' holds no readable message, so it cannot be replayed: delete it"));
      }
      return runtime.publish(replayRequest(channel, d, options.ttl())).thenCompose(reply -> {
        if (!(reply instanceof PublishReply.Accepted a)) {
          return done(PublishRoutes.toResponse(reply)); // not published: the dead letter stays
        }
        ObjectNode out = JSON.createObjectNode();
        out.put("deadLetterId", id);
        out.put("originalMessageId", d.envelope().id());
        out.put("messageId", a.messageId());
        if (a.streamId() != null) out.put("streamId", a.streamId());
        out.put("duplicate", a.duplicate());
        return deleteAfterReplay(channel, List.of(id)).thenApply(err -> {
          out.put("deleted", err == null);
          if (err != null) {
            out.put("warning", "the message was replayed but the dead letter could not be deleted (" + err
                + "): replaying it again is deduplicated; delete it later");
          }
          return json(StatusCodes.OK, out);
        });
      });
    }));
  }

  /** XDEL of replayed dead letters, on the current connection; completes with null or the error's description. */
  private CompletionStage<String> deleteAfterReplay(String channel, List<String> ids) {
    try {
      return runtime.handleFor(channel).commands().xdel(RedisKeys.deadLetters(channel), ids.toArray(String[]::new))
          .handle((n, e) -> e == null ? null : describe(e));
    } catch (RuntimeException e) {
      return CompletableFuture.completedFuture(describe(e));
    }
  }

  /** Progress of one replay-all request; touched by one stage at a time (each runs after the previous completed). */
  private static final class ReplayAll {
    final String channel;
    final ReplayOptions options;
    final String end;
    int processed;
    int replayed;
    int duplicates;
    int failed;
    int skipped;
    int notDeleted;
    String stoppedBecause;
    final List<ObjectNode> failures = new ArrayList<>();

    ReplayAll(String channel, ReplayOptions options, String end) {
      this.channel = channel;
      this.options = options;
      this.end = end;
    }
  }

  @SuppressWarnings("unchecked")
  private CompletionStage<HttpResponse> replayAll(String channel, ByteString body) {
    Object parsed = parseReplayBody(body, true);
    if (parsed instanceof List<?> errors) return done(invalid((List<FieldError>) errors));
    ReplayOptions options = (ReplayOptions) parsed;
    String dead = RedisKeys.deadLetters(channel);
    return withRedis(channel, cmd -> cmd.xrevrange(dead, Range.create("-", "+"), Limit.from(1)).thenCompose(last -> {
      if (last.isEmpty()) {
        return done(json(StatusCodes.OK, replayAllBody(new ReplayAll(channel, options, null), 0)));
      }
      // only what is there now: a replayed message that is dead-lettered again meanwhile is not replayed again
      ReplayAll st = new ReplayAll(channel, options, last.get(0).getId());
      return replayBatch(st, null).thenCompose(v -> {
        CompletionStage<Long> remaining;
        try {
          remaining = runtime.handleFor(channel).commands().xlen(dead);
        } catch (RuntimeException e) {
          remaining = CompletableFuture.failedFuture(e);
        }
        return remaining.handle((n, e) -> json(StatusCodes.OK, replayAllBody(st, e == null ? n : -1)));
      });
    }));
  }

  private CompletionStage<Void> replayBatch(ReplayAll st, String after) {
    int count = Math.min(REPLAY_BATCH, st.options.max() - st.processed);
    if (count <= 0) {
      st.stoppedBecause = "max";
      return done(null);
    }
    String dead = RedisKeys.deadLetters(st.channel);
    Range<String> range = after == null
        ? Range.create("-", st.end)
        : Range.from(Range.Boundary.excluding(after), Range.Boundary.including(st.end));
    CompletionStage<List<StreamMessage<String, byte[]>>> page;
    try {
      page = runtime.handleFor(st.channel).commands().xrange(dead, range, Limit.from(count));
    } catch (RuntimeException e) {
      page = CompletableFuture.failedFuture(e);
    }
    return page.handle((msgs, err) -> {
      if (err != null) {
        st.stoppedBecause = "redis-unavailable: " + describe(err);
        return CompletableFuture.<Void>completedFuture(null);
      }
      if (msgs.isEmpty()) return CompletableFuture.<Void>completedFuture(null);
      List<DeadLetter> letters = new ArrayList<>(msgs.size());
      List<CompletableFuture<PublishReply>> replies = new ArrayList<>(msgs.size());
      for (StreamMessage<String, byte[]> m : msgs) {
        DeadLetter d = RedisRouter.toDeadLetter(m);
        st.processed++;
        if (d.envelope() == null) {
          st.skipped++;
          continue;
        }
        letters.add(d);
        replies.add(runtime.publish(replayRequest(st.channel, d, st.options.ttl())).toCompletableFuture());
      }
      String lastId = msgs.get(msgs.size() - 1).getId();
      return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).thenCompose(v -> {
        List<String> accepted = new ArrayList<>();
        for (int i = 0; i < letters.size(); i++) {
          PublishReply r = replies.get(i).join(); // completed: allOf finished
          if (r instanceof PublishReply.Accepted a) {
            accepted.add(letters.get(i).deadLetterId());
            st.replayed++;
            if (a.duplicate()) st.duplicates++;
          } else {
            st.failed++;
            if (st.failures.size() < 10) {
              ObjectNode f = PublishRoutes.resultNode(r);
              f.put("deadLetterId", letters.get(i).deadLetterId());
              st.failures.add(f);
            }
            if (r instanceof PublishReply.Rejected rej && rej.reason() != PublishReply.RejectReason.INVALID
                && st.stoppedBecause == null) {
              st.stoppedBecause = rej.reason().code(); // overloaded, unavailable, shutting down: retry later
            }
          }
        }
        CompletionStage<String> deleted = accepted.isEmpty()
            ? CompletableFuture.completedFuture(null) : deleteAfterReplay(st.channel, accepted);
        return deleted.thenCompose(delErr -> {
          if (delErr != null) {
            st.notDeleted += accepted.size();
            if (st.stoppedBecause == null) st.stoppedBecause = "redis-unavailable: " + delErr;
          }
          if (st.stoppedBecause != null || msgs.size() < count) return CompletableFuture.<Void>completedFuture(null);
          return replayBatch(st, lastId).toCompletableFuture();
        });
      });
    }).thenCompose(x -> x);
  }

  private static ObjectNode replayAllBody(ReplayAll st, long remaining) {
    ObjectNode body = JSON.createObjectNode();
    body.put("channel", st.channel);
    body.put("replayed", st.replayed);
    body.put("duplicates", st.duplicates);
    body.put("failed", st.failed);
    body.put("skipped", st.skipped);
    body.put("notDeleted", st.notDeleted);
    if (remaining >= 0) {
      body.put("remaining", remaining);
    } else {
      body.putNull("remaining");
    }
    body.put("complete", st.stoppedBecause == null && st.failed == 0 && st.notDeleted == 0);
    if (st.stoppedBecause != null) {
      body.put("stoppedBecause", st.stoppedBecause);
    } else {
      body.putNull("stoppedBecause");
    }
    ArrayNode failures = body.putArray("failures");
    st.failures.forEach(failures::add);
    return body;
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /**
   * Validates the channel name, then runs {@code f} on the command connection of the channel's instance; Redis
   * being down (now or while the commands run) is a 503 with Retry-After, a Redis error reply a 500.
   */
  private CompletionStage<HttpResponse> withRedis(String channel,
                                                  Function<RedisAsyncCommands<String, byte[]>, CompletionStage<HttpResponse>> f) {
    FieldError bad = Validation.checkName("channel", channel);
    if (bad != null) return done(invalid(List.of(bad)));
    CompletionStage<HttpResponse> result;
    try {
      result = f.apply(runtime.handleFor(channel).commands());
    } catch (RuntimeException e) {
      result = CompletableFuture.failedFuture(e);
    }
    return result.exceptionally(this::failure);
  }

  private HttpResponse failure(Throwable t) {
    Throwable c = unwrap(t);
    if (c instanceof RedisUnavailableException || (c instanceof RedisException && !(c instanceof RedisCommandExecutionException))) {
      return retryLater(StatusCodes.SERVICE_UNAVAILABLE, "redis-unavailable",
          "redis is not reachable now (" + describe(c) + "): retry later", RETRY_AFTER_UNAVAILABLE);
    }
    log.warn("admin request failed: {}", describe(c));
    return error(StatusCodes.INTERNAL_SERVER_ERROR, "internal-error",
        "the admin request failed (" + describe(c) + "); see the router's log");
  }

  private static HttpResponse checkEntryId(String id) {
    if (ENTRY_ID.matcher(id).matches()) return null;
    return invalid(List.of(new FieldError("id", "invalid-id", "dead-letter id '" + shorten(id)
        + "' is invalid: use an id from the dead-letter list, like 1712345678901-0")));
  }

  private static HttpResponse deadLetterNotFound(String channel, String id) {
    return error(StatusCodes.NOT_FOUND, "not-found", "channel '" + channel + "' has no dead letter " + id
        + " (replayed or deleted already?)");
  }

  private static HttpResponse invalid(List<FieldError> errors) {
    return json(StatusCodes.BAD_REQUEST, new ApiError("invalid",
        errors.stream().map(FieldError::message).reduce((a, b) -> a + "; " + b).orElse("invalid request"), errors));
  }

  private static String shorten(String s) {
    return s.length() > 40 ? s.substring(0, 40) + "..." : s;
  }

  private static Throwable unwrap(Throwable t) {
    Throwable c = t;
    while ((c instanceof CompletionException || c instanceof java.util.concurrent.ExecutionException)
        && c.getCause() != null) {
      c = c.getCause();
    }
    return c;
  }

  private static String describe(Throwable t) {
    Throwable c = unwrap(t);
    return c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
  }
}
