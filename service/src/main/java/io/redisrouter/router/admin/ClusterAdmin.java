package io.redisrouter.router.admin;

import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.router.cluster.ClusterRouter;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import io.redisrouter.router.consume.HttpSubscription;
import io.redisrouter.router.consume.SubscriptionOwner;
import io.redisrouter.router.consume.SubscriptionStore;
import io.redisrouter.router.internal.Stages;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The cluster as an operator sees it (no HTTP here): its members and their state, the unreachable ones, and which
 * node owns each HTTP subscription. Counts for the metrics too. Without cluster mode: {@code enabled = false}.
 */
public final class ClusterAdmin {
  /** Longest wait for one owner to say where it runs. */
  static final Duration WHERE_TIMEOUT = Duration.ofSeconds(3);

  /** One member: its address, status (up, joining, leaving, ...), whether this node can reach it, and if it is us. */
  public record MemberView(String address, String status, boolean reachable, boolean self) {}

  /**
   * The whole view; {@code owners}: subscription name to the address of the node that owns it (null when its owner
   * did not answer in time, e.g. while it moves).
   */
  public record View(boolean enabled, String self, List<MemberView> members, List<String> unreachable,
      Map<String, String> owners, Map<String, String> embeddedOwners) {}

  private final ActorSystem<?> system;
  /** The actor system's guardian (in cluster mode a {@link ClusterRouter}). */
  private final ActorRef<RouterCommand> guardian;
  private final ClusterSharding sharding;
  private final SubscriptionStore store;
  private final AtomicInteger ownedHere;
  private final AtomicInteger embeddedOwnedHere;

  /**
   * {@code sharding} null: not clustered. {@code ownedHere}, {@code embeddedOwnedHere}: the HTTP and the embedded
   * subscription owners running on this node.
   */
  public ClusterAdmin(ActorSystem<RouterCommand> system, ClusterSharding sharding, SubscriptionStore store,
      AtomicInteger ownedHere, AtomicInteger embeddedOwnedHere) {
    this.system = system;
    this.guardian = system;
    this.sharding = sharding;
    this.store = store;
    this.ownedHere = ownedHere;
    this.embeddedOwnedHere = embeddedOwnedHere;
  }

  public boolean enabled() {
    return sharding != null;
  }

  /** HTTP subscription owners running on this node. */
  public int ownedHere() {
    return ownedHere.get();
  }

  /** Embedded (actor) subscription owners running on this node. */
  public int embeddedOwnedHere() {
    return embeddedOwnedHere.get();
  }

  /** Members by status (lower case), as this node sees them. */
  public Map<String, Integer> membersByStatus() {
    Map<String, Integer> out = new TreeMap<>();
    if (!enabled()) return out;
    for (Member m : Cluster.get(system).state().getMembers()) {
      out.merge(m.status().toString().toLowerCase(Locale.ROOT), 1, Integer::sum);
    }
    return out;
  }

  /** Members this node cannot reach now. */
  public int unreachableCount() {
    return enabled() ? Cluster.get(system).state().getUnreachable().size() : 0;
  }

  public CompletionStage<View> view() {
    if (!enabled())
      return CompletableFuture.completedFuture(new View(false, null, List.of(), List.of(), Map.of(),
          Map.of()));
    Cluster cluster = Cluster.get(system);
    String self = cluster.selfMember().address().toString();
    List<MemberView> members = new ArrayList<>();
    List<String> unreachable = new ArrayList<>();
    java.util.Set<Member> cut = cluster.state().getUnreachable();
    for (Member m : cut) unreachable.add(m.address().toString());
    for (Member m : cluster.state().getMembers()) {
      members.add(new MemberView(m.address().toString(), m.status().toString().toLowerCase(Locale.ROOT),
          !cut.contains(m), m.address().equals(cluster.selfMember().address())));
    }
    return store.list().thenCompose(subs -> {
      Map<String, CompletableFuture<String>> where = new TreeMap<>();
      for (HttpSubscription s : subs) {
        where.put(s.name(),
            Stages
                .plain(sharding.entityRefFor(SubscriptionOwner.KEY, s.name()).<SubscriptionOwner.At>ask(
                    SubscriptionOwner.WhereAreYou::new, WHERE_TIMEOUT))
                .thenApply(SubscriptionOwner.At::address)
                .exceptionally(e -> null));
      }
      CompletableFuture<Map<String, String>> embedded = Stages.plain(AskPattern.<RouterCommand, Map<String, String>>ask(
          guardian, ClusterRouter.EmbeddedPlacement::new, WHERE_TIMEOUT.plusSeconds(2), system.scheduler()))
          .exceptionally(e -> Map.of());
      return CompletableFuture.allOf(where.values().toArray(CompletableFuture[]::new)).thenCombine(embedded,
          (v, emb) -> {
            Map<String, String> owners = new TreeMap<>();
            where.forEach((name, f) -> owners.put(name, f.join())); // all complete here
            return new View(true, self, members, unreachable, owners, emb);
          });
    });
  }
}
