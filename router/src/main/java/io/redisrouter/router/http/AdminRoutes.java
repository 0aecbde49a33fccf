package io.redisrouter.router.http;

import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.server.Route;

/** Admin: channels and subscriptions with their stats, dead letters (list, inspect, replay, purge), metrics. */
public final class AdminRoutes extends RouteSupport {
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
    return reject();
  }
}
