package io.redisrouter.router.http;

import io.redisrouter.router.service.RouterService;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.io.PrintStream;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A router service that is a cluster node in a process of its own, for tests that kill it with SIGKILL (a crash that
 * is a crash: no leave, no shutdown, its sockets cut by the kernel). Arguments: the system name, the Redis URI, the
 * seed node's cluster port, this node's cluster port (0: any; the seed's own for the seed), and optionally a comma-separated list of channels, each of which gets an embedded
 * subscriber (subscription {@value #EMBEDDED_SUBSCRIPTION}) that prints {@code DELIVERED <message id>} for each delivery
 * before it acks it ({@code SUBSCRIBED <channel> <reply>} once subscribed). It prints {@code READY <http port>} once it is up, and {@code TERMINATED} before it exits once its actor system
 * stopped (a node that finds itself downed stops it).
 */
public final class ClusterNodeProcess {
  /** The subscription of the embedded subscribers the process starts when asked to. */
  static final String EMBEDDED_SUBSCRIPTION = "workers";

  private ClusterNodeProcess() {}

  public static void main(String[] args) throws Exception {
    PrintStream out = System.out; // this process's report to the test that started it
    // max-attempts 10: a subscriber of the killed node is handed deliveries until the node is removed from the
    // cluster (about 10 s after the kill); with the suite's 2 s ack timeout each burns an attempt there (a known
    // limit: at the default 30 s ack timeout it is at most one), and the default 5 could dead-letter a message
    RouterService s = RouterService.start(args[0], HttpTestSupport.config(args[1],
        ClusteredHttpIT.clusterConfig(Integer.parseInt(args[3]), Integer.parseInt(args[2]))
            + "redis-router.channels.defaults.max-attempts = 10\n"));
    out.println("READY " + s.port());
    out.flush();
    if (args.length > 4) { // embedded subscribers: one per channel, in subscription "workers"; each delivery reported
      String[] channels = args[4].split(",");
      for (int i = 0; i < channels.length; i++) {
        ActorRef<Delivery> subscriber = s.system().systemActorOf(Behaviors.receive(Delivery.class)
            .onMessage(Delivery.class, d -> {
              synchronized (out) {
                out.println("DELIVERED " + d.envelope().id());
                out.flush();
              }
              d.replyTo().tell(d.ack());
              return Behaviors.same();
            }).build(), "embedded-subscriber-" + i, Props.empty());
        String channel = channels[i];
        SubscribeReply r = AskPattern.<RouterCommand, SubscribeReply>ask(s.system(),
            replyTo -> new RouterCommand.Subscribe(channel, EMBEDDED_SUBSCRIPTION, subscriber, replyTo, 4),
            Duration.ofSeconds(30), s.system().scheduler()).toCompletableFuture().get(35, TimeUnit.SECONDS);
        synchronized (out) {
          out.println("SUBSCRIBED " + channel + " " + r);
          out.flush();
        }
      }
    }
    // a node that learns it was downed stops its actor system (Pekko's coordinated shutdown): then this process ends
    s.system().getWhenTerminated().toCompletableFuture().join();
    out.println("TERMINATED");
    out.flush();
    System.exit(0);
  }
}
