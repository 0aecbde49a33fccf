package io.redisrouter.router.service;

import com.typesafe.config.Config;
import io.redisrouter.config.ClusterSettings;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.RedisRouter;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.admin.ChannelAdmin;
import io.redisrouter.router.admin.ClusterAdmin;
import io.redisrouter.router.admin.DeadLetterAdmin;
import io.redisrouter.router.cluster.ClusterRouter;
import io.redisrouter.router.consume.HttpConsumers;
import io.redisrouter.router.consume.SubscriptionOwner;
import io.redisrouter.router.consume.PullService;
import io.redisrouter.router.consume.SubscriptionAdmin;
import io.redisrouter.router.consume.SubscriptionStore;
import io.redisrouter.router.http.HttpServer;
import io.redisrouter.router.http.HttpServices;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.http.HttpSettings;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * A running router service: the actor system with the router, and the HTTP endpoint bound to it. {@link RouterMain}
 * starts one for the process; tests start several (port 0) and stop them.
 *
 * <p>Shutdown (CoordinatedShutdown, also on SIGTERM): the HTTP endpoint stops accepting and drains its requests,
 * then the ingress stops taking publishes and finishes the accepted ones and the webhook client pools shut down,
 * then the actors stop (in-flight deliveries stay pending in Redis and are claimed again).
 */
public final class RouterService {
  private static final Logger log = LoggerFactory.getLogger(RouterService.class);

  private final ActorSystem<RouterCommand> system;
  private final RouterRuntime runtime;
  private final HttpServer http;
  private final ServerBinding binding;

  private RouterService(ActorSystem<RouterCommand> system, RouterRuntime runtime, HttpServer http,
      ServerBinding binding) {
    this.system = system;
    this.runtime = runtime;
    this.http = http;
    this.binding = binding;
  }

  /** Starts a service from a full configuration (blocking: call it from a main thread or a test, not an actor). */
  public static RouterService start(String name, Config config) throws Exception {
    RouterSettings settings = RouterSettings.load(config);
    HttpSettings httpSettings = HttpSettings.load(config);
    ClusterSettings cluster = ClusterSettings.load(config);
    Config effective = cluster.enabled() ? cluster.pekkoConfig(name).withFallback(config) : config;
    // in a cluster, the guardian sends an embedded subscriber to its subscription's one owner in the cluster and
    // everything else to the node's router core; without one, the guardian is the core
    AtomicInteger embeddedOwnedHere = new AtomicInteger();
    ActorSystem<RouterCommand> system = ActorSystem.create(cluster.enabled()
        ? ClusterRouter.create(settings, cluster.ownerCheckInterval(), embeddedOwnedHere)
        : RedisRouter.create(settings), name, effective);
    try {
      ClusterMembership.logJoining(system, cluster);
      RouterRuntime runtime = AskPattern.<RouterCommand, RouterRuntime>ask(system, RedisRouter.GetRuntime::new,
          Duration.ofSeconds(10), system.scheduler()).toCompletableFuture().get(15, TimeUnit.SECONDS);
      HttpServer http = new HttpServer(runtime, httpSettings,
          wire(system, runtime, httpSettings, cluster, embeddedOwnedHere),
          ClusterMembership.state(system, cluster.enabled()));
      ServerBinding binding = http.bind(system, httpSettings.host(), httpSettings.port()).toCompletableFuture()
          .get(30, TimeUnit.SECONDS);
      log.info("HTTP endpoint listening on http://{}:{}/v1 (OpenAPI at /v1/openapi.json)",
          binding.localAddress().getHostString(), binding.localAddress().getPort());
      if (!httpSettings.warmUp().isZero()) warmUp(system, runtime, http, httpSettings, binding);
      if (httpSettings.authEnabled()) {
        log.info("HTTP auth is ON: {} bearer token(s) configured", httpSettings.tokens().size());
      } else {
        log.warn("HTTP auth is OFF (redis-router.http.auth.enabled = false): anyone who reaches the port can"
            + " publish, consume and administer; never run like this in production");
      }
      return new RouterService(system, runtime, http, binding);
    } catch (Exception e) {
      system.terminate();
      throw e;
    }
  }

  /**
   * Starts the warm-up in the background: the node is not ready until it ended (it never fails the start), and says
   * in one line what it did.
   */
  private static void warmUp(ActorSystem<RouterCommand> system, RouterRuntime runtime, HttpServer http,
      HttpSettings settings, ServerBinding binding) {
    http.warmUp("running");
    String base = "http://" + binding.localAddress().getHostString() + ":" + binding.localAddress().getPort();
    log.info("warm-up: driving this node's publish and pull paths for {} ms before it reports ready",
        settings.warmUp().toMillis());
    WarmUp.run(system, runtime, settings, base, settings.warmUp()).whenComplete((r, e) -> {
      http.warmUp("done");
      if (e != null) {
        log.warn("warm-up ended early ({}); ready without it", e.toString());
      } else {
        log.info("warm-up done in {} ms: {} published, {} pulled and acked, {} failed calls{}; ready",
            r.took().toMillis(), r.published(), r.acked(), r.failedCalls(),
            r.leftOut() == null ? "" : "; left out: " + r.leftOut());
      }
    });
  }

  /**
   * The composition root of the service: the HTTP subscriptions' store and consumers actor, the services the
   * routes call, and the shutdown steps that belong to them, in phase order: (service-unbind) event streams end, so
   * that clients reconnect elsewhere with Last-Event-ID; (service-stop) the ingress finishes the accepted publishes,
   * and the webhook client pools shut down (what is in flight stays pending in Redis); in a cluster the pools shut
   * down last (before-actor-system-terminate), after sharding has handed the subscriptions over.
   */
  private static HttpServices wire(ActorSystem<RouterCommand> system, RouterRuntime runtime,
      HttpSettings httpSettings, ClusterSettings cluster, AtomicInteger embeddedOwnedHere) {
    SubscriptionStore store = new SubscriptionStore(runtime, httpSettings.subscriptionTombstoneRetention());
    ClusterSharding sharding = null;
    AtomicInteger ownedHere = new AtomicInteger();
    if (cluster.enabled()) {
      // one owner per HTTP subscription in the cluster (its webhook pusher or pull gateway)
      sharding = ClusterSharding.get(system);
      SubscriptionOwner.init(sharding, runtime, store, httpSettings.subscriptionRefresh(),
          httpSettings.pullIdleRelease(), ownedHere);
    }
    ActorRef<HttpConsumers.Command> consumers = system.systemActorOf(HttpConsumers.create(runtime, store,
        httpSettings.subscriptionRefresh(), httpSettings.pullIdleRelease(), sharding, cluster.ownerCheckInterval()),
        "http-consumers", Props.empty());
    PullService pulls = new PullService(runtime, consumers, system);
    CoordinatedShutdown cs = CoordinatedShutdown.get(system);
    cs.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "http-end-event-streams", () -> {
      pulls.endEventStreams();
      return CompletableFuture.completedFuture(Done.getInstance());
    });
    cs.addTask(CoordinatedShutdown.PhaseServiceStop(), "drain-publishes", () -> {
      log.info("shutdown: finishing accepted publishes");
      return runtime.drainPublishes().exceptionally(e -> Done.getInstance());
    });
    // in a cluster, sharding hands each subscription over first (cluster-sharding-shutdown-region): its pusher lets
    // the calls in flight finish and leaves, so that the next owner starts with nothing of this node's on the wire;
    // the pools shut down after that. A single node shuts them down while its service stops.
    cs.addTask(cluster.enabled()
        ? CoordinatedShutdown.PhaseBeforeActorSystemTerminate()
        : CoordinatedShutdown.PhaseServiceStop(), "webhook-clients",
        () -> Stages.plain(Http.get(system).shutdownAllConnectionPools()).thenApply(x -> Done.getInstance()));
    return new HttpServices(new SubscriptionAdmin(runtime, store, consumers, system.scheduler()), pulls,
        new ChannelAdmin(runtime), new DeadLetterAdmin(runtime), new ClusterAdmin(system, sharding, store, ownedHere,
            embeddedOwnedHere));
  }

  /**
   * The actor system, whose guardian takes every {@link RouterCommand} (an app that embeds the service talks to it).
   * In a cluster, an embedded subscriber of a reliable channel is served by its subscription's one owner, on
   * whichever node that runs.
   */
  public ActorSystem<RouterCommand> system() {
    return system;
  }

  public RouterRuntime runtime() {
    return runtime;
  }

  public HttpServer http() {
    return http;
  }

  /** The bound port (useful with port 0). */
  public int port() {
    return binding.localAddress().getPort();
  }

  /** "http://127.0.0.1:PORT". */
  public String baseUrl() {
    return "http://" + binding.localAddress().getHostString() + ":" + port();
  }

  /** Graceful stop through CoordinatedShutdown; completes when the actor system terminated. */
  public CompletionStage<Done> stop() {
    return CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason());
  }
}
