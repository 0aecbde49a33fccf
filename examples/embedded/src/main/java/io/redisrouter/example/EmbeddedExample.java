// README-EXAMPLE-START
package io.redisrouter.example;

import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.RouterSettings;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RedisRouter;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** A JVM app that embeds the router: one actor subscribes and acks, the app publishes and reads the replies. */
public final class EmbeddedExample {

  /** The subscriber: processes each delivery, then acks it (or nacks it to have it retried). */
  static Behavior<Delivery> orderHandler(List<String> seen, int expected, CompletableFuture<List<String>> done) {
    return Behaviors.receiveMessage(delivery -> {
      String order = new String(delivery.envelope().payload(), StandardCharsets.UTF_8);
      seen.add(order);
      delivery.replyTo().tell(delivery.ack());
      if (seen.size() >= expected) done.complete(List.copyOf(seen));
      return Behaviors.same();
    });
  }

  /** The app's guardian: spawns the router and the subscriber, subscribes, then publishes {@code count} orders. */
  static Behavior<Object> app(RouterSettings settings, int count, CompletableFuture<List<String>> done) {
    return Behaviors.setup(ctx -> {
      ActorRef<RouterCommand> router = ctx.spawn(RedisRouter.create(settings), "router");
      ActorRef<Delivery> handler = ctx.spawn(orderHandler(new CopyOnWriteArrayList<>(), count, done), "billing");
      ActorRef<PublishReply> replies = ctx.messageAdapter(PublishReply.class, r -> r);
      ActorRef<SubscribeReply> subscribed = ctx.messageAdapter(SubscribeReply.class, r -> r);
      router.tell(new RouterCommand.Subscribe("orders", "billing", handler, subscribed));
      return Behaviors.receive(Object.class)
          .onMessage(SubscribeReply.Subscribed.class, s -> {
            for (int i = 1; i <= count; i++) {
              byte[] payload = ("order-" + i).getBytes(StandardCharsets.UTF_8);
              router.tell(new RouterCommand.Publish(PublishRequest.of("orders", payload), replies));
            }
            return Behaviors.same();
          })
          .onMessage(PublishReply.Accepted.class, a -> Behaviors.same())
          .onMessage(PublishReply.class, other -> {
            ctx.getLog().warn("not published: {}", other); // Rejected or Expired: the app decides what to do
            return Behaviors.same();
          })
          .build();
    });
  }

  /** Runs the app against the Redis at {@code redisUri} and returns the orders the handler received. */
  public static List<String> run(String redisUri, int count) throws Exception {
    RouterSettings settings = RouterSettings.load(ConfigFactory
        .parseString("redis-router.redis.instances.default.uri = \"" + redisUri + "\"")
        .withFallback(ConfigFactory.load()));
    CompletableFuture<List<String>> done = new CompletableFuture<>();
    ActorSystem<Object> system = ActorSystem.create(app(settings, count, done), "embedded-example");
    try {
      return done.get(30, TimeUnit.SECONDS);
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  public static void main(String[] args) throws Exception {
    String uri = args.length > 0 ? args[0] : "redis://127.0.0.1:6379";
    List<String> orders = run(uri, 10);
    org.slf4j.LoggerFactory.getLogger(EmbeddedExample.class).info("received {}", orders);
  }
}
// README-EXAMPLE-END
