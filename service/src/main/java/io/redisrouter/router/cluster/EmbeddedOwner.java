package io.redisrouter.router.cluster;

import io.redisrouter.protocol.ClusterMessage;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.internal.Stages;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Cluster mode: the one owner of an embedded (actor) subscription of a reliable channel, a Cluster Sharding entity
 * (entity id {@code channel/subscription}). Whichever node sharding placed it on consumes the subscription: the
 * subscribers of every node join here ({@link Join}) and are subscribed to this node's router core, which reads the
 * consumer group and sends each delivery to a subscriber wherever it runs (deliveries and their acks cross nodes as
 * Jackson CBOR). No other node reads the group for it.
 *
 * <p>When the shard moves (a rebalance, this node leaving) the owner unsubscribes its subscribers here and tells
 * their nodes, which join the next owner at once; when this node dies, their nodes' next join (every
 * {@code owner-check-interval}) starts the owner on a survivor, whose core claims what this one left pending once it
 * has been idle past the ack timeout. A subscriber whose node dies is dropped here (death watch) and its unanswered
 * deliveries go to another subscriber after their ack timeout.
 */
public final class EmbeddedOwner extends AbstractBehavior<EmbeddedOwner.Command> {

  public static final EntityTypeKey<Command> KEY = EntityTypeKey.create(Command.class, "embedded-subscription");

  /** What crosses nodes is a {@link ClusterMessage}; the private messages stay on the node. */
  public interface Command {}

  /** One subscriber and the deliveries it takes at once. */
  public record Member(ActorRef<Delivery> subscriber, int prefetch) {}

  /**
   * The subscribers of one node ({@code from}, told {@link Moved} when this owner hands over). Idempotent: known
   * members stay as they are. Answered with {@link Joined} once the new ones are subscribed.
   */
  public record Join(String channel, String subscription, List<Member> members, ActorRef<Moved> from,
      ActorRef<Joined> replyTo) implements Command, ClusterMessage {}

  /** The answer to a {@link Join}: {@code error} null when every member is subscribed. */
  public record Joined(String error) implements ClusterMessage {}

  /** A subscriber leaves; answered with {@link Left}. */
  public record Leave(ActorRef<Delivery> subscriber, ActorRef<Left> replyTo) implements Command, ClusterMessage {}

  /** The answer to a {@link Leave}. */
  public record Left() implements ClusterMessage {}

  /** Told to the nodes of the subscribers when the owner hands over: join again (the next owner). */
  public record Moved(String entityId) implements ClusterMessage {}

  /** Where does this owner run, and how many subscribers does it serve? */
  public record WhereAreYou(ActorRef<At> replyTo) implements Command, ClusterMessage {}

  /** The node an owner runs on and the subscribers it serves. */
  public record At(String address, int subscribers) implements ClusterMessage {}

  /** Sharding's stop message for this entity (its shard moves, or it passivated itself). */
  public record StopOwner() implements Command, ClusterMessage {}

  private record MemberGone(ActorRef<Delivery> subscriber) implements Command {}

  private record AllLeft() implements Command {}

  /** Longest wait for the core to subscribe or unsubscribe one subscriber. */
  static final Duration CORE_TIMEOUT = Duration.ofSeconds(5);

  /** The entity id of a subscription: names never contain '/'. */
  public static String entityId(String channel, String subscription) {
    return channel + "/" + subscription;
  }

  public static void init(ClusterSharding sharding, ActorRef<RouterCommand> core, AtomicInteger ownedHere) {
    sharding.init(Entity.of(KEY, ctx -> create(ctx.getEntityId(), core, ctx.getShard(), ownedHere))
        .withStopMessage(new StopOwner()));
  }

  static Behavior<Command> create(String entityId, ActorRef<RouterCommand> core,
      ActorRef<ClusterSharding.ShardCommand> shard, AtomicInteger ownedHere) {
    return Behaviors.setup(ctx -> new EmbeddedOwner(ctx, entityId, core, shard, ownedHere));
  }

  private final String entityId;
  private final ActorRef<RouterCommand> core;
  private final ActorRef<ClusterSharding.ShardCommand> shard;
  private final AtomicInteger ownedHere;
  private final Map<ActorRef<Delivery>, Integer> members = new HashMap<>();
  /** The nodes' front actors whose subscribers are members, told when this owner moves. */
  private final Set<ActorRef<Moved>> fronts = new HashSet<>();
  private String channel;
  private String subscription;
  private boolean stopping;

  private EmbeddedOwner(ActorContext<Command> ctx, String entityId, ActorRef<RouterCommand> core,
      ActorRef<ClusterSharding.ShardCommand> shard, AtomicInteger ownedHere) {
    super(ctx);
    this.entityId = entityId;
    this.core = core;
    this.shard = shard;
    this.ownedHere = ownedHere;
    ownedHere.incrementAndGet();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Join.class, this::onJoin)
        .onMessage(Leave.class, this::onLeave)
        .onMessage(MemberGone.class, g -> {
          // the core watches its subscribers too and drops this one itself
          if (members.remove(g.subscriber()) != null) {
            getContext().getLog().info("cluster: a subscriber of embedded subscription '{}' stopped or its node"
                + " left ({} left)", entityId, members.size());
          }
          passivateWhenEmpty();
          return this;
        })
        .onMessage(WhereAreYou.class, w -> {
          w.replyTo().tell(new At(org.apache.pekko.cluster.typed.Cluster.get(getContext().getSystem()).selfMember()
              .address().toString(), members.size()));
          return this;
        })
        .onMessage(StopOwner.class, s -> onStop())
        .onMessage(AllLeft.class, a -> {
          for (ActorRef<Moved> f : fronts) f.tell(new Moved(entityId));
          return Behaviors.stopped();
        })
        .onSignal(PostStop.class, s -> {
          ownedHere.decrementAndGet();
          return this;
        })
        .build();
  }

  private Behavior<Command> onJoin(Join j) {
    if (stopping) return this; // sharding delivers it again to the next owner once this one stopped
    channel = j.channel();
    subscription = j.subscription();
    fronts.add(j.from());
    List<CompletableFuture<SubscribeReply>> adding = new ArrayList<>();
    for (Member m : j.members()) {
      if (members.containsKey(m.subscriber())) continue;
      if (members.isEmpty()) {
        getContext().getLog().info("cluster: this node owns embedded subscription '{}'", entityId);
      }
      members.put(m.subscriber(), m.prefetch());
      getContext().watchWith(m.subscriber(), new MemberGone(m.subscriber()));
      adding.add(Stages.plain(AskPattern.<RouterCommand, SubscribeReply>ask(core,
          replyTo -> new RouterCommand.Subscribe(j.channel(), j.subscription(), m.subscriber(), replyTo, m.prefetch()),
          CORE_TIMEOUT, getContext().getSystem().scheduler())));
    }
    ActorRef<Joined> replyTo = j.replyTo();
    CompletableFuture.allOf(adding.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
      String error = e != null ? "the owner's router did not subscribe in time: " + e.getMessage() : null;
      for (CompletableFuture<SubscribeReply> f : adding) {
        if (error == null && f.join() instanceof SubscribeReply.SubscribeFailed failed) error = failed.message();
      }
      replyTo.tell(new Joined(error));
    });
    return this;
  }

  private Behavior<Command> onLeave(Leave l) {
    if (members.remove(l.subscriber()) != null) {
      getContext().unwatch(l.subscriber());
      ActorRef<Left> replyTo = l.replyTo();
      Stages.plain(AskPattern.<RouterCommand, SubscribeReply>ask(core,
          r -> new RouterCommand.Unsubscribe(channel, subscription, l.subscriber(), r), CORE_TIMEOUT,
          getContext().getSystem().scheduler())).whenComplete((r, e) -> replyTo.tell(new Left()));
    } else {
      l.replyTo().tell(new Left());
    }
    passivateWhenEmpty();
    return this;
  }

  /** An owner without subscribers costs nothing: it asks its shard to stop it (a new join starts it again). */
  private void passivateWhenEmpty() {
    if (members.isEmpty() && !stopping) shard.tell(new ClusterSharding.Passivate<>(getContext().getSelf()));
  }

  /**
   * Sharding stops this owner (its shard moves, or it passivated): its subscribers leave this node's core first (what
   * they hold unanswered stays pending in Redis and is claimed after its ack timeout), then their nodes are told to
   * join the next owner.
   */
  private Behavior<Command> onStop() {
    if (stopping) return this;
    stopping = true;
    if (members.isEmpty()) return Behaviors.stopped();
    getContext().getLog().info("cluster: embedded subscription '{}' leaves this node ({} subscribers)", entityId,
        members.size());
    List<CompletableFuture<SubscribeReply>> leaving = new ArrayList<>();
    for (ActorRef<Delivery> s : members.keySet()) {
      leaving.add(Stages.plain(AskPattern.<RouterCommand, SubscribeReply>ask(core,
          r -> new RouterCommand.Unsubscribe(channel, subscription, s, r), CORE_TIMEOUT,
          getContext().getSystem().scheduler())));
    }
    getContext().pipeToSelf(CompletableFuture.allOf(leaving.toArray(CompletableFuture[]::new)),
        (v, e) -> new AllLeft());
    return this;
  }
}
