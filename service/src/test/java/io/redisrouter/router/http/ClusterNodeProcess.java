package io.redisrouter.router.http;

import io.redisrouter.router.service.RouterService;

import java.io.PrintStream;

/**
 * A router service that is a cluster node in a process of its own, for tests that kill it with SIGKILL (a crash that
 * is a crash: no leave, no shutdown, its sockets cut by the kernel). Arguments: the system name, the Redis URI, the
 * seed node's cluster port. It prints {@code READY <http port>} once it is up, and {@code TERMINATED} before it exits once its actor system
 * stopped (a node that finds itself downed stops it).
 */
public final class ClusterNodeProcess {
  private ClusterNodeProcess() {}

  public static void main(String[] args) throws Exception {
    PrintStream out = System.out; // this process's report to the test that started it
    RouterService s = RouterService.start(args[0], HttpTestSupport.config(args[1],
        ClusteredHttpIT.clusterConfig(0, Integer.parseInt(args[2]))));
    out.println("READY " + s.port());
    out.flush();
    // a node that learns it was downed stops its actor system (Pekko's coordinated shutdown): then this process ends
    s.system().getWhenTerminated().toCompletableFuture().join();
    out.println("TERMINATED");
    out.flush();
    System.exit(0);
  }
}
