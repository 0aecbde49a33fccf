package io.redisrouter.router.service;

import io.redisrouter.config.ClusterSettings;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.Supplier;

/** This node's membership in the router cluster, for the logs and for readiness. */
final class ClusterMembership {
  private static final Logger log = LoggerFactory.getLogger(ClusterMembership.class);

  private ClusterMembership() {}

  /** Logs where this node joins and, once it is an Up member, that it is (no-op when not clustered). */
  static void logJoining(ActorSystem<?> system, ClusterSettings cluster) {
    if (!cluster.enabled()) return;
    Cluster c = Cluster.get(system);
    log.info("cluster mode: node {} joins through the seed nodes {} (split brain resolver keep-majority, stable"
        + " after {} s)", c.selfMember().address(), cluster.seedNodes(), cluster.stableAfter().toSeconds());
    org.apache.pekko.cluster.Cluster.get(system).registerOnMemberUp(() -> log.info(
        "cluster: node {} is Up ({} members)", c.selfMember().address(), c.state().members().size()));
  }

  /**
   * "off" when not clustered; "up" while this node is an Up member; else "not up: " and its status (weaklyup,
   * joining, leaving, exiting, down, removed).
   */
  static Supplier<String> state(ActorSystem<?> system, boolean clustered) {
    if (!clustered) return () -> "off";
    Cluster c = Cluster.get(system);
    return () -> {
      Member self = c.selfMember();
      MemberStatus s = self.status();
      if (s == MemberStatus.up()) return "up";
      return "not up: " + s.toString().toLowerCase(java.util.Locale.ROOT);
    };
  }
}
