package io.redisrouter.router.fault;

import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.io.PrintStream;

/**
 * A router node in a process of its own, for {@link ProcessCrashReclaimIT} to kill with SIGKILL: a subscriber that
 * holds every delivery unanswered (they stay pending under this node's consumer). A CLI: it reports on stdout, one
 * line per event ({@code SUBSCRIBED}, {@code HELD <message id>}).
 * Arguments: Redis URI, node id, channel, subscription.
 */
public final class CrashableNode {
  private CrashableNode() {}

  public static void main(String[] args) {
    String uri = args[0];
    String nodeId = args[1];
    String channel = args[2];
    String subscription = args[3];
    PrintStream out = System.out;
    RouterSettings settings = RouterSettings.load(ConfigFactory.parseString(
        "redis-router.redis.instances.default.uri = \"" + uri + "\"\n"
            + "redis-router.node-id = " + nodeId + "\n"
            + "redis-router.channels.defaults.ack-timeout = 1s\n"
            + "redis-router.channels.defaults.max-attempts = 50\n"
            + "redis-router.channels.defaults.max-in-flight = 256\n"
            + "redis-router.consumer.claim-interval = 500ms\n"
            + "redis-router.consumer.lease-renew-interval = 300ms\n")
        .withFallback(ConfigFactory.load()).resolve());
    Behavior<Void> root = Behaviors.setup(ctx -> {
      ActorRef<RouterCommand> router = ctx.spawn(RedisRouter.create(settings), "router");
      ActorRef<Delivery> holder = ctx.spawn(Behaviors.<Delivery>receiveMessage(d -> {
        if (d.envelope().attempt() == 1) {
          out.println("HELD " + d.envelope().id());
          out.flush();
        }
        return Behaviors.same(); // never answered
      }), "holder");
      ActorRef<SubscribeReply> replies = ctx.spawn(Behaviors.<SubscribeReply>receiveMessage(r -> {
        out.println(r instanceof SubscribeReply.Subscribed ? "SUBSCRIBED" : "FAILED " + r);
        out.flush();
        return Behaviors.same();
      }), "replies");
      router.tell(new RouterCommand.Subscribe(channel, subscription, holder, replies,
          RouterCommand.Subscribe.MAX_PREFETCH));
      return Behaviors.empty();
    });
    ActorSystem.create(root, "crashable");
  }
}
