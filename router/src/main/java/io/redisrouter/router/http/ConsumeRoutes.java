package io.redisrouter.router.http;

import io.redisrouter.router.RouterRuntime;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.server.Route;

/** Consume over HTTP: pull with ack/nack, server-sent events, webhook push; subscription management. */
public final class ConsumeRoutes extends RouteSupport {
  private final ActorSystem<?> system;
  private final RouterRuntime runtime;
  private final HttpSettings settings;

  public ConsumeRoutes(ActorSystem<?> system, RouterRuntime runtime, HttpSettings settings, Auth auth,
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
