package io.redisrouter.router.http;

import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.server.RouteResult;
import org.apache.pekko.http.javadsl.server.RouteResults;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The router's HTTP endpoint: binds the route groups, turns every rejection and failure into the JSON error body,
 * and takes part in CoordinatedShutdown (stop accepting, drain in-flight requests, then let the router finish).
 */
public final class HttpServer extends AllDirectives {
  private static final Logger log = LoggerFactory.getLogger(HttpServer.class);

  private final Endpoints endpoints = new Endpoints();
  private final AtomicBoolean accepting = new AtomicBoolean(true);
  /** "off", "running" (then not ready) or "done": the warm-up before readiness (redis-router.http.warm-up). */
  private final java.util.concurrent.atomic.AtomicReference<String> warmUp = new java.util.concurrent.atomic.AtomicReference<>(
      "off");
  private final AtomicInteger inFlight = new AtomicInteger();
  /** Set once the drain is over: from then on every request is answered 503 shutting-down at once. */
  private final AtomicBoolean drainOver = new AtomicBoolean();
  /** The answers of the requests in flight (completed with 503 shutting-down when the drain is over first). */
  private final java.util.Set<java.util.concurrent.CompletableFuture<RouteResult>> running = java.util.concurrent.ConcurrentHashMap
      .newKeySet();
  /** The answer to a request the node cannot finish before it closes its connections. */
  private static final HttpResponse SHUTTING_DOWN = RouteSupport.error(StatusCodes.SERVICE_UNAVAILABLE,
      "shutting-down", "this router node is shutting down and did not finish this request within"
          + " http.shutdown.drain-max: it may still take effect; retry on another node (a publish retried with the"
          + " same idempotencyKey or messageId is not written twice)");
  private final Route route;

  /** Longest wait, at shutdown, for the requests in flight to be answered before the connections are closed. */
  private final Duration drainMax;
  /** In-flight requests must stay at zero this long before the connections are closed. */
  static final Duration DRAIN_QUIET = Duration.ofMillis(100);
  /**
   * Hard deadline of {@link ServerBinding#terminate}: then every connection closes. Pekko HTTP (1.3) resets a
   * connection whose request is still running then instead of answering it, so the router answers such requests
   * itself, 503 shutting-down, when the drain ends ({@code http.shutdown.drain-max}).
   */
  private final Duration terminateDeadline;

  /**
   * @param cluster this node's cluster membership for readiness: "off" (not clustered), "up", or "not up: ..."
   */
  public HttpServer(RouterRuntime runtime, HttpSettings settings, HttpServices services,
      java.util.function.Supplier<String> cluster) {
    this.drainMax = settings.shutdownDrainMax();
    this.terminateDeadline = settings.shutdownTerminateDeadline();
    Auth auth = new Auth(settings);
    List<Route> groups = List.of(
        new PublishRoutes(runtime, settings, auth, endpoints).route(),
        new ConsumeRoutes(services.subscriptions(), services.pulls(), settings, auth, endpoints).route(),
        new AdminRoutes(services.channels(), services.deadLetters(), services.cluster(), auth, endpoints).route(),
        new OpsRoutes(runtime, accepting::get, cluster, warmUp::get, auth, endpoints).route(),
        new MetricsRoutes(runtime, services.cluster(), auth, endpoints).route());
    // built once: the directives take suppliers, which would otherwise rebuild the handlers for every request
    ExceptionHandler exceptionHandler = exceptions();
    RejectionHandler rejectionHandler = rejections();
    Route all = concat(groups.get(0), groups.subList(1, groups.size()).toArray(Route[]::new));
    Route handled = handleExceptions(exceptionHandler, () -> handleRejections(rejectionHandler, () -> all));
    this.route = tracked(() -> handled);
  }

  /** The endpoints the route answers ("METHOD /path"). */
  public Endpoints endpoints() {
    return endpoints;
  }

  public Route route() {
    return route;
  }

  /**
   * Binds host:port (port 0 = any free port) and registers the shutdown steps: (service-unbind) readiness fails, the
   * port closes, and every response from then on carries {@code Connection: close}, so that clients leave their
   * keep-alive connections after the answer in flight; (service-requests-done) once no request has been in flight
   * for {@link #DRAIN_QUIET} (at most {@code http.shutdown.drain-max}; a request still running then, and any that
   * arrives after, is answered 503 shutting-down with {@code Connection: close}), the remaining connections are
   * closed with {@link ServerBinding#terminate}. Closing a connection whose answer was emitted but not yet written would
   * leave its client without a reply for a message that was accepted; the drain makes that window negligible.
   * The router then finishes the accepted publishes (service-stop) before its actors and deliveries stop.
   */
  public CompletionStage<ServerBinding> bind(ActorSystem<?> system, String host, int port) {
    // should Pekko answer a request at terminate itself, the same JSON body instead of its empty 503
    return Http.get(system).newServerAt(host, port)
        .adaptSettings(s -> s.withTerminationDeadlineExceededResponse(SHUTTING_DOWN)
            .withParsingErrorHandler(ParsingErrors.class.getName()))
        .bind(route).thenApply(binding -> {
          CoordinatedShutdown cs = CoordinatedShutdown.get(system);
          cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "http-stop-accepting", () -> {
            accepting.set(false);
            log.info("shutdown: HTTP endpoint stops accepting connections");
            return Stages.plain(binding.unbind()).thenApply(x -> Done.getInstance());
          });
          cs.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "http-drain", () -> {
            long start = System.nanoTime();
            return drained(system, start, start).thenCompose(x -> {
              log.info("shutdown: HTTP requests drained in {} ms ({} in flight); closing the remaining connections",
                  (System.nanoTime() - start) / 1_000_000, inFlight.get());
              return binding.terminate(terminateDeadline);
            }).thenApply(x -> Done.getInstance());
          });
          return binding;
        });
  }

  /** Completes once no request was in flight for {@link #DRAIN_QUIET}, or after {@code http.shutdown.drain-max}; never blocks. */
  private CompletionStage<Done> drained(ActorSystem<?> system, long start, long quietSince) {
    long now = System.nanoTime();
    long since = inFlight.get() == 0 ? quietSince : now;
    if (now - start >= drainMax.toNanos() && !drainOver.getAndSet(true)) {
      cutOff();
      since = now; // the 503s are written during the next quiet period
    }
    if (now - since >= DRAIN_QUIET.toNanos() || now - start >= drainMax.plus(Duration.ofSeconds(1)).toNanos()) {
      return java.util.concurrent.CompletableFuture.completedFuture(Done.getInstance());
    }
    java.util.concurrent.CompletableFuture<Done> next = new java.util.concurrent.CompletableFuture<>();
    long quiet = since;
    system.scheduler().scheduleOnce(Duration.ofMillis(20),
        () -> drained(system, start, quiet).whenComplete((d, e) -> next.complete(Done.getInstance())),
        system.executionContext());
    return next;
  }

  /** The drain is over: the requests still running are answered 503 shutting-down now. */
  private void cutOff() {
    int n = 0;
    for (var answer : running) {
      if (answer.complete(RouteResults.complete(SHUTTING_DOWN))) n++;
    }
    if (n > 0) {
      log.warn("shutdown: {} requests still running after http.shutdown.drain-max ({} ms) answered 503"
          + " shutting-down (they may still take effect)", n, drainMax.toMillis());
    }
  }

  /**
   * Counts the requests in flight and, once shutdown began, asks clients to close their connections; once the
   * drain is over, answers 503 shutting-down (see {@link #cutOff()}).
   */
  private Route tracked(java.util.function.Supplier<Route> inner) {
    Route handled = inner.get();
    return mapResponse(resp -> accepting.get()
        ? resp
        : resp.addHeader(org.apache.pekko.http.javadsl.model.headers.Connection.create("close")),
        () -> mapRouteResultFuture(result -> {
          inFlight.incrementAndGet();
          var answer = new java.util.concurrent.CompletableFuture<RouteResult>();
          running.add(answer);
          if (drainOver.get()) answer.complete(RouteResults.complete(SHUTTING_DOWN));
          Stages.plain(result).whenComplete((r, e) -> {
            if (e != null) answer.completeExceptionally(e);
            else
              answer.complete(r);
          });
          return answer.whenComplete((r, e) -> {
            running.remove(answer);
            inFlight.decrementAndGet();
          });
        }, () -> extractRequestContext(ctx -> drainOver.get() ? complete(SHUTTING_DOWN) : handled)));
  }

  /** Requests being handled now. */
  public int inFlight() {
    return inFlight.get();
  }

  private ExceptionHandler exceptions() {
    return ExceptionHandler.newBuilder()
        .match(EntityStreamSizeException.class, e -> complete(tooLarge(e)))
        .match(Throwable.class, e -> {
          log.warn("HTTP request failed: {}", e.toString());
          return complete(RouteSupport.error(StatusCodes.INTERNAL_SERVER_ERROR, "internal-error",
              "the router failed to handle the request; see the router's log"));
        })
        .build();
  }

  /** 413 for a body over pekko.http.server.parsing.max-content-length, naming the body. */
  static HttpResponse tooLarge(EntityStreamSizeException e) {
    String message = "the request body is over the limit of " + e.limit()
        + " bytes (pekko.http.server.parsing.max-content-length): send less";
    return RouteSupport.json(StatusCodes.PAYLOAD_TOO_LARGE, new ApiError("payload-too-large", message,
        List.of(new io.redisrouter.protocol.FieldError("body", "payload-too-large", message))));
  }

  private RejectionHandler rejections() {
    return RejectionHandler.newBuilder()
        .handle(org.apache.pekko.http.javadsl.server.MalformedRequestContentRejection.class,
            r -> r.getCause() instanceof EntityStreamSizeException e
                ? complete(tooLarge(e))
                : complete(JsonBodies.invalid(List.of(new io.redisrouter.protocol.FieldError("body", "invalid",
                    "the body could not be read (" + r.message() + ")")))))
        .handleAll(MethodRejection.class, rs -> complete(RouteSupport.error(StatusCodes.METHOD_NOT_ALLOWED,
            "method-not-allowed", "use " + rs.stream().map(r -> r.supported().name()).distinct().toList()
                + " on this path")))
        .handleNotFound(complete(RouteSupport.error(StatusCodes.NOT_FOUND, "not-found",
            "no such endpoint: see /v1/openapi.json for the API")))
        .build()
        .withFallback(RejectionHandler.defaultHandler())
        .mapRejectionResponse(resp -> {
          if (resp.entity().getContentType().toString().startsWith("application/json")) return resp;
          // wrap Pekko's plain-text rejections (bad entity, missing header, ...) in the JSON error body
          String text = resp.entity() instanceof org.apache.pekko.http.javadsl.model.HttpEntity.Strict s
              ? s.getData().utf8String()
              : resp.status().reason();
          return RouteSupport.json(resp.status(), new ApiError("bad-request", text,
              List.of(new io.redisrouter.protocol.FieldError("request", "bad-request", text))))
              .withHeaders(resp.getHeaders());
        });
  }

  /** The warm-up's state for readiness: "running" keeps the node not ready; "done" or "off" do not. */
  public void warmUp(String state) {
    warmUp.set(state);
  }
}
