package io.redisrouter.router.http;

import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.redis.RedisHandle;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.Route;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Health endpoints (no auth: load balancers call them). Metrics and the OpenAPI document live beside them. */
public final class OpsRoutes extends RouteSupport {
  private final RouterRuntime runtime;
  private final BooleanSupplier accepting;
  private final Supplier<String> cluster;
  private final Supplier<String> warmUp;

  /**
   * @param accepting false once shutdown began: readiness then fails so that load balancers drain this node
   * @param cluster   "off" when not clustered, "up" when an Up member, else "not up: ..." (then not ready)
   * @param warmUp    "off", "running" (then not ready) or "done": the warm-up before readiness
   */
  public OpsRoutes(RouterRuntime runtime, BooleanSupplier accepting, Supplier<String> cluster,
      Supplier<String> warmUp, Auth auth, Endpoints endpoints) {
    super(auth, endpoints);
    this.runtime = runtime;
    this.accepting = accepting;
    this.cluster = cluster;
    this.warmUp = warmUp;
  }

  public Route route() {
    endpoints.add("GET", "/health/live");
    endpoints.add("GET", "/health/ready");
    endpoints.add("GET", "/v1/openapi.json");
    byte[] openapi;
    try {
      openapi = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(OpenApi.document());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    Route doc = path(org.apache.pekko.http.javadsl.server.PathMatchers.segment("v1").slash("openapi.json"),
        () -> get(() -> complete(org.apache.pekko.http.javadsl.model.HttpResponse.create().withEntity(
            org.apache.pekko.http.javadsl.model.HttpEntities.create(
                org.apache.pekko.http.javadsl.model.ContentTypes.APPLICATION_JSON, openapi)))));
    return concat(doc, pathPrefix("health", () -> concat(
        path("live", () -> get(() -> complete(json(StatusCodes.OK, java.util.Map.of("status", "live"))))),
        path("ready", () -> get(() -> {
          java.util.Map<String, String> redis = new java.util.TreeMap<>();
          boolean ready = accepting.getAsBoolean();
          for (RedisHandle h : runtime.handles().values()) {
            redis.put(h.instance(), h.isUp() ? "up" : "down: " + h.lastError());
            ready &= h.isUp();
          }
          boolean ingress = runtime.ingressRunning();
          ready &= ingress;
          String membership = cluster.get();
          ready &= "off".equals(membership) || "up".equals(membership);
          String warming = warmUp.get();
          ready &= !"running".equals(warming);
          Readiness body = new Readiness(ready ? "ready" : "not-ready", accepting.getAsBoolean(),
              ingress ? "running" : "stopped: " + runtime.ingressStoppedReason(), redis, membership, warming);
          return complete(json(ready ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE, body));
        })))));
  }

  /**
   * The body of {@code /health/ready}: each Redis instance up or down (why), the ingress, whether it accepts, and
   * its cluster membership, and the warm-up before readiness.
   */
  record Readiness(String status, boolean accepting, String ingress, java.util.Map<String, String> redis,
      String cluster, String warmUp) {}
}
