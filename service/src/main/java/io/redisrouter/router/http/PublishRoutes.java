package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.util.ByteString;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * {@code POST /v1/channels/{channel}/messages} (one message, {@link PublishBody}; the {@code Idempotency-Key} header
 * stands for {@code idempotencyKey}) and {@code POST /v1/channels/{channel}/messages/batch}
 * ({@link PublishBody.Batch}: all valid or nothing published; 202 when every message was accepted, else 207 with
 * each one's {@link PublishResult}). A single message with any content type but JSON (or a form) is a raw-body
 * publish ({@link RawPublish}).
 */
public final class PublishRoutes extends RouteSupport {
  private final RouterRuntime runtime;
  private final HttpSettings settings;

  public PublishRoutes(RouterRuntime runtime, HttpSettings settings, Auth auth, Endpoints endpoints) {
    super(auth, endpoints);
    this.runtime = runtime;
    this.settings = settings;
  }

  public Route route() {
    endpoints.add("POST", "/v1/channels/{channel}/messages");
    endpoints.add("POST", "/v1/channels/{channel}/messages/batch");
    return pathPrefix("v1",
        () -> pathPrefix("channels",
            () -> pathPrefix(PathMatchers.segment(), channel -> pathPrefix("messages", () -> concat(
                pathEnd(
                    () -> post(() -> authorized(HttpSettings.Scope.PUBLISH,
                        () -> extractRequest(request -> malformedType(request) != null
                            ? complete(malformedType(request))
                            : RawPublish.isRaw(request)
                                ? entity(Unmarshaller.entityToByteString(),
                                    bytes -> onSuccess(publishRaw(channel, request, bytes), this::complete))
                                : optionalHeaderValueByName("Idempotency-Key", key -> jsonBody(PublishBody.SPEC,
                                    (body, unknown) -> onSuccess(publishOne(channel, body, unknown, key, request),
                                        this::complete))))))),
                path("batch",
                    () -> post(() -> authorized(HttpSettings.Scope.PUBLISH, () -> jsonBody(PublishBody.Batch.SPEC,
                        (batch, unknown) -> onSuccess(publishBatch(channel, batch, unknown), this::complete))))))))));
  }

  /** The 400 for a Content-Type header Pekko could not parse, or null. */
  private static HttpResponse malformedType(HttpRequest request) {
    for (var h : request.getHeaders()) {
      if (h.is("content-type")) return badContentType(request);
    }
    return null;
  }

  private CompletionStage<HttpResponse> publishOne(String channel, PublishBody body, List<FieldError> unknown,
      Optional<String> key, HttpRequest http) {
    List<FieldError> errors = new ArrayList<>(unknown);
    // the raw-body headers are not read on a JSON publish: refused, not dropped without a word
    for (var h : http.getHeaders()) {
      if (h.lowercaseName().startsWith("x-router-")) {
        errors.add(new FieldError(h.name(), "header-not-read", h.name() + " is read only on a raw-body publish"
            + " (a Content-Type other than JSON): in a JSON body give ttl, deadline, partitionKey or headers"));
      }
    }
    if (key.isPresent() && !io.redisrouter.protocol.Validation.MESSAGE_ID_PATTERN.matcher(key.get()).matches()) {
      errors.add(new FieldError("Idempotency-Key", "invalid-message-id", "the Idempotency-Key header is invalid:"
          + " use 1-128 printable ASCII characters without spaces, or leave it out"));
      key = Optional.empty();
    }
    PublishRequest request = body.toRequest(channel, key.orElse(null), runtime.settings(), "", errors);
    if (!errors.isEmpty()) return done(invalid(errors));
    return runtime.publish(request).thenApply(PublishRoutes::toResponse);
  }

  /** A raw-body publish ({@link RawPublish}): the body is the payload, the metadata comes in headers. */
  private CompletionStage<HttpResponse> publishRaw(String channel, HttpRequest http, ByteString body) {
    List<FieldError> errors = new ArrayList<>();
    PublishRequest request = RawPublish.toRequest(channel, http, body.toArrayUnsafe(),
        http.entity().getContentType().toString(), runtime.settings(), errors);
    if (request == null) return done(invalid(errors));
    return runtime.publish(request).thenApply(PublishRoutes::toResponse);
  }

  private CompletionStage<HttpResponse> publishBatch(String channel, PublishBody.Batch batch,
      List<FieldError> unknown) {
    List<PublishBody> messages = batch.messages();
    if (messages == null || messages.isEmpty()) {
      return done(json(StatusCodes.BAD_REQUEST, new ApiError("invalid", "messages must be a non-empty array",
          List.of(PublishBody.Batch.required()))));
    }
    if (messages.size() > settings.maxBatch()) {
      return done(json(StatusCodes.PAYLOAD_TOO_LARGE, new ApiError("batch-too-large",
          "the batch has " + messages.size() + " messages, at most " + settings.maxBatch() + " are allowed",
          List.of(new FieldError("messages", "batch-too-large", "send at most " + settings.maxBatch()
              + " messages per batch (redis-router.http.max-batch)")))));
    }
    // validate all first: a batch with an invalid message publishes nothing
    List<PublishRequest> requests = new ArrayList<>(messages.size());
    List<FieldError> errors = new ArrayList<>(unknown);
    for (int i = 0; i < messages.size(); i++) {
      PublishBody m = messages.get(i);
      if (m == null) {
        errors.add(PublishBody.wrongType("messages[" + i + "].", ""));
      } else {
        requests.add(m.toRequest(channel, null, runtime.settings(), "messages[" + i + "].", errors));
      }
    }
    if (!errors.isEmpty()) return done(invalid(errors));
    List<CompletableFuture<PublishReply>> replies = new ArrayList<>(requests.size());
    for (PublishRequest r : requests) replies.add(runtime.publish(r).toCompletableFuture());
    return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).thenApply(v -> {
      List<PublishResult> results = new ArrayList<>(replies.size());
      int accepted = 0;
      for (CompletableFuture<PublishReply> f : replies) {
        PublishReply r = f.join(); // completed: allOf finished
        if (r instanceof PublishReply.Accepted) accepted++;
        results.add(PublishResult.of(r));
      }
      // 202 when every message was accepted; 207 (per-message status in results) otherwise
      return json(accepted == replies.size() ? StatusCodes.ACCEPTED : StatusCodes.MULTI_STATUS,
          new BatchResult(accepted, replies.size(), results));
    });
  }

  /** The body of a batch's answer. */
  record BatchResult(int accepted, int total, List<PublishResult> results) {}

  /** The single-message response for a reply (with Retry-After when the reply gives one). */
  static HttpResponse toResponse(PublishReply reply) {
    HttpResponse resp = json(PublishResult.statusOf(reply), PublishResult.of(reply));
    if (reply instanceof PublishReply.Rejected r && !r.retryAfter().isZero()) {
      long seconds = Math.max(1, (r.retryAfter().toMillis() + 999) / 1000);
      resp = resp.addHeader(RawHeader.create("Retry-After", Long.toString(seconds)));
    }
    return resp;
  }

  /** 413 when a payload is over the limit, else 400; the body lists every field error. */
  static HttpResponse invalid(List<FieldError> errors) {
    if (errors.stream().noneMatch(e -> e.code().equals("payload-too-large"))) return JsonBodies.invalid(errors);
    return json(StatusCodes.PAYLOAD_TOO_LARGE, new ApiError("payload-too-large",
        errors.stream().map(FieldError::message).reduce((a, b) -> a + "; " + b).orElse("invalid request"), errors));
  }
}
