package io.redisrouter.router.http;

import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The router's HTTP endpoint: binds the route groups, turns every rejection and failure into the JSON error body,
 * and takes part in CoordinatedShutdown (stop accepting, drain in-flight requests, then let the router finish).
 */
public final class HttpServer extends AllDirectives {
  private static final Logger log = LoggerFactory.getLogger(HttpServer.class);

  private final Endpoints endpoints = new Endpoints();
  private final AtomicBoolean accepting = new AtomicBoolean(true);
  private final Route route;

  public HttpServer(ActorSystem<?> system, RouterRuntime runtime, HttpSettings settings) {
    Auth auth = new Auth(settings);
    List<Route> groups = List.of(
        new PublishRoutes(runtime, settings, auth, endpoints).route(),
        new ConsumeRoutes(system, runtime, settings, auth, endpoints).route(),
        new AdminRoutes(system, runtime, settings, auth, endpoints).route(),
        new OpsRoutes(runtime, accepting::get, auth, endpoints).route());
    this.route = handleExceptions(exceptions(), () -> handleRejections(rejections(),
        () -> concat(groups.get(0), groups.subList(1, groups.size()).toArray(Route[]::new))));
  }

  /** The endpoints the route answers ("METHOD /path"). */
  public Endpoints endpoints() {
    return endpoints;
  }

  public Route route() {
    return route;
  }

  /** Binds host:port (port 0 = any free port) and registers the shutdown steps. */
  public CompletionStage<ServerBinding> bind(ActorSystem<?> system, String host, int port) {
    return Http.get(system).newServerAt(host, port).bind(route).thenApply(binding -> {
      CoordinatedShutdown cs = CoordinatedShutdown.get(system);
      cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "http-stop-accepting", () -> {
        accepting.set(false);
        log.info("shutdown: HTTP endpoint stops accepting connections");
        return binding.unbind().thenApply(x -> Done.getInstance());
      });
      cs.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "http-drain", () ->
          binding.terminate(Duration.ofSeconds(10)).thenApply(x -> Done.getInstance()));
      return binding;
    });
  }

  private ExceptionHandler exceptions() {
    return ExceptionHandler.newBuilder()
        .match(EntityStreamSizeException.class, e -> complete(RouteSupport.error(StatusCodes.PAYLOAD_TOO_LARGE,
            "payload-too-large", "the request body is over the limit of " + e.limit()
                + " bytes (pekko.http.server.parsing.max-content-length): send less")))
        .match(Throwable.class, e -> {
          log.warn("HTTP request failed: {}", e.toString());
          return complete(RouteSupport.error(StatusCodes.INTERNAL_SERVER_ERROR, "internal-error",
              "the router failed to handle the request; see the router's log"));
        })
        .build();
  }

  private RejectionHandler rejections() {
    return RejectionHandler.newBuilder()
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
              ? s.getData().utf8String() : resp.status().reason();
          return RouteSupport.error(resp.status(), "bad-request", text).withHeaders(resp.getHeaders());
        });
  }
}
