package io.redisrouter.router.http;

import java.util.Collections;
import java.util.Set;
import java.util.TreeSet;

/**
 * The routes the server answers, as "METHOD /path/{param}" strings. Every route group registers each endpoint here
 * while it builds its route, so that a test can compare them with the OpenAPI document.
 */
public final class Endpoints {
  private final Set<String> all = Collections.synchronizedSet(new TreeSet<>());

  /** Records an endpoint and returns it (for chaining into documentation). */
  public String add(String method, String pathTemplate) {
    String e = method + " " + pathTemplate;
    all.add(e);
    return e;
  }

  public Set<String> all() {
    synchronized (all) {
      return Set.copyOf(all);
    }
  }
}
