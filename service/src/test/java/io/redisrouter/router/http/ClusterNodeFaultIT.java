package io.redisrouter.router.http;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.cluster.EmbeddedOwner;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Failover without loss: a cluster of three router services, one of them in a process of its own, with six webhook
 * subscriptions, three pull subscriptions and three embedded ones (a subscriber actor on every node, the process's
 * included) under a steady publish load. The separate node owns some of them; mid-stream it is killed with
 * SIGKILL, or cut off by SIGSTOP (a partition: it neither answers nor knows) and let go on after the survivors took
 * over. The split brain resolver downs it, the survivors start its subscriptions' owners and their consumers take over
 * what it held once idle past the ack timeout: every accepted message is pushed (lost = 0), duplicates are counted
 * and bounded by what the lost node could have had in flight, and the failover time is measured. The node that was
 * cut off finds itself downed when it goes on and stops: it pushes nothing after the take-over (no message is handed
 * out by two owners at once: the attempts pushed for each message never go back down).
 */
class ClusterNodeFaultIT {
  private static final Logger log = LoggerFactory.getLogger(ClusterNodeFaultIT.class);
  private static final String SYSTEM = "redis-router-cluster-kill-it";
  private static final int SUBSCRIPTIONS = 6;
  /** Calls a webhook pusher makes at once: what one subscription can have in flight at the kill. */
  private static final int PARALLELISM = 4;
  /** Pull subscriptions, pulled and acked through the surviving nodes. */
  private static final int PULLS = 3;
  /** Embedded subscriptions, each with one subscriber actor on every node (the lost one's included). */
  private static final int EMBEDDED = 3;
  /** What an embedded subscriber takes at once. */
  private static final int EMBEDDED_PREFETCH = 4;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create();

  private enum Fault { KILL, PAUSE }

  @Test
  void aKilledNodesSubscriptionsAreTakenOverByTheSurvivorsWithoutLoss() throws Exception {
    run(Fault.KILL);
  }

  @Test
  void aNodeCutOffIsDownedItsSubscriptionsTakenOverAndWhenItGoesOnItPushesNothing() throws Exception {
    run(Fault.PAUSE);
  }

  private static void signal(Process p, String sig) throws Exception {
    Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).inheritIO().start();
    assertEquals(0, k.waitFor(), "kill -" + sig);
  }

  /** The subscriptions none of {@code nodes} owns (so the other process does); null while one has two owners. */
  private static List<String> ownedElsewhere(List<RouterService> nodes, List<String> names) {
    List<String> there = new ArrayList<>();
    for (String n : names) {
      int here = ClusteredHttpIT.owners(nodes, n).size();
      if (here > 1) return null;
      if (here == 0) there.add(n);
    }
    return there;
  }

  /**
   * What the other process owns once the placement held still for 2 s (sharding rebalances every second in these
   * tests), with some subscriptions there and some here.
   */
  private static List<String> awaitStableOwnership(List<RouterService> nodes, List<String> names) throws Exception {
    return ConsumeHttpSupport.await("a stable placement with some subscriptions in the other process", () -> {
      List<String> before = ownedElsewhere(nodes, names);
      java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofSeconds(2).toNanos()); // held still meanwhile?
      List<String> after = ownedElsewhere(nodes, names);
      return before != null && before.equals(after) ? after : null;
    }, there -> there != null && !there.isEmpty() && there.size() < SUBSCRIPTIONS);
  }

  /** An embedded subscriber on {@code node} that records each delivery ({id, channel, nanos}) and acks it. */
  private static void subscribeEmbedded(RouterService node, String channel, MessageChecker checker,
      List<Object[]> seen) throws Exception {
    ActorRef<Delivery> subscriber = node.system().systemActorOf(
        Behaviors.receive(Delivery.class)
            .onMessage(Delivery.class, d -> {
              seen.add(new Object[]{d.envelope().id(), channel, System.nanoTime()});
              checker.delivered(d.envelope().id());
              d.replyTo().tell(d.ack());
              return Behaviors.same();
            }).build(),
        "embedded-" + channel, Props.empty());
    SubscribeReply r = AskPattern.<RouterCommand, SubscribeReply>ask(
        node.system(),
        replyTo -> new RouterCommand.Subscribe(channel,
            ClusterNodeProcess.EMBEDDED_SUBSCRIPTION, subscriber, replyTo, EMBEDDED_PREFETCH),
        Duration.ofSeconds(20), node.system().scheduler())
        .toCompletableFuture().get(25, TimeUnit.SECONDS);
    assertTrue(r instanceof SubscribeReply.Subscribed, "subscribed: " + r);
  }

  /** The embedded subscriptions (by channel) whose owner runs on none of {@code nodes} (so in the other process). */
  private static List<String> embeddedOwnedElsewhere(List<RouterService> nodes, List<String> channels)
      throws Exception {
    java.util.Set<String> here = new java.util.HashSet<>();
    for (RouterService n : nodes) here.add(Cluster.get(n.system()).selfMember().address().toString());
    List<String> there = new ArrayList<>();
    for (String channel : channels) {
      EmbeddedOwner.At at = ClusterSharding
          .get(nodes.get(0).system())
          .entityRefFor(EmbeddedOwner.KEY, EmbeddedOwner
              .entityId(channel,
                  ClusterNodeProcess.EMBEDDED_SUBSCRIPTION)).<EmbeddedOwner.At>ask(
                      EmbeddedOwner.WhereAreYou::new,
                      Duration.ofSeconds(5))
          .toCompletableFuture().get(10, TimeUnit.SECONDS);
      if (!here.contains(at.address())) there.add(channel);
    }
    return there;
  }

  private void run(Fault fault) throws Exception {
    int seedPort = ClusteredHttpIT.freePort();
    List<RouterService> nodes = new ArrayList<>();
    Process doomed = null;
    MessageChecker checker = new MessageChecker();
    // a pull subscription beside the webhooks, pulled and acked through the two survivors
    MessageChecker pulled = new MessageChecker();
    Set<String> pullAccepted = ConcurrentHashMap.newKeySet();
    AtomicBoolean pulling = new AtomicBoolean(true);
    List<Thread> pullers = new ArrayList<>();
    Map<String, String> channelOf = new ConcurrentHashMap<>();
    Map<String, Long> acceptedAt = new ConcurrentHashMap<>();
    AtomicBoolean publishing = new AtomicBoolean(true);
    AtomicInteger refused = new AtomicInteger();
    // embedded subscribers on every node; those of the process report their deliveries on its output
    MessageChecker embedded = new MessageChecker();
    Map<String, Long> embeddedAcceptedAt = new ConcurrentHashMap<>();
    List<Object[]> embeddedHere = new CopyOnWriteArrayList<>(); // {message id, channel, received nanos}
    List<String> embeddedChannels = new ArrayList<>();
    for (int i = 0; i < EMBEDDED; i++)
      embeddedChannels.add(fault.name().toLowerCase(java.util.Locale.ROOT) + ".emb-" + i);
    try (WebhookReceiver hook = WebhookReceiver.start(SUBSCRIPTIONS * PARALLELISM, c -> 200)) {
      nodes.add(RouterService.start(SYSTEM, HttpTestSupport.config(redis.server(),
          ClusteredHttpIT.clusterConfig(seedPort, seedPort))));
      String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      doomed = new ProcessBuilder(javaBin, "-Xmx384m", "-cp", System.getProperty("java.class.path"),
          ClusterNodeProcess.class.getName(), SYSTEM, redis.server().uri(), Integer.toString(seedPort),
          String.join(",", embeddedChannels))
          .redirectErrorStream(true).start();
      AtomicBoolean ready = new AtomicBoolean();
      AtomicInteger subscribedThere = new AtomicInteger();
      List<String> tail = new CopyOnWriteArrayList<>();
      Process p = doomed;
      Thread reader = new Thread(() -> {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
            StandardCharsets.UTF_8))) {
          for (String line; (line = r.readLine()) != null;) {
            if (line.startsWith("READY ")) ready.set(true);
            if (line.startsWith("DELIVERED ")) {
              embedded.delivered(line.substring("DELIVERED ".length()).trim());
              continue;
            }
            if (line.startsWith("SUBSCRIBED ")) subscribedThere.incrementAndGet();
            tail.add(line);
            if (tail.size() > 50) tail.remove(0);
          }
        } catch (java.io.IOException e) {
          // the process died: its output ends
        }
      }, "doomed-node-output");
      reader.setDaemon(true);
      reader.start();
      ConsumeHttpSupport.await("the node in its own process is up", ready::get, ok -> ok);
      ClusteredHttpIT.awaitUpAndReady(nodes, 2);

      List<String> names = new ArrayList<>();
      for (int i = 0; i < SUBSCRIPTIONS; i++) {
        String name = fault.name().toLowerCase(java.util.Locale.ROOT) + "-hook-" + i;
        names.add(name);
        RouterClient.Reply created = new RouterClient(nodes.get(0)).createSubscription(
            new RouterClient.Subscription(name, fault.name().toLowerCase(java.util.Locale.ROOT) + ".ch-" + i,
                new RouterClient.Webhook(hook.url(), 1000,
                    PARALLELISM)));
        assertEquals(201, created.status(), created.body());
      }
      // three, so that the lost node likely owns one of them (sharding places them)
      List<String> pullNames = new ArrayList<>();
      for (int i = 0; i < PULLS; i++) {
        pullNames.add(fault.name().toLowerCase(java.util.Locale.ROOT) + "-pull-" + i);
        ConsumeHttpSupport.createPull(nodes.get(0), pullNames.get(i), fault.name().toLowerCase(java.util.Locale.ROOT)
            + ".pull-" + i);
      }
      // created while two nodes are up, so that the other process owns some; the third then takes some over
      nodes.add(RouterService.start(SYSTEM, HttpTestSupport.config(redis.server(),
          ClusteredHttpIT.clusterConfig(0, seedPort))));
      ClusteredHttpIT.awaitUpAndReady(nodes, 3);
      for (RouterService n : nodes) {
        for (String channel : embeddedChannels) subscribeEmbedded(n, channel, embedded, embeddedHere);
      }
      ConsumeHttpSupport.await("the process's embedded subscribers subscribed", subscribedThere::get,
          k -> k == EMBEDDED);
      log.info("ClusterNodeFaultIT {}: the node in its own process owns {} at first", fault,
          awaitStableOwnership(nodes, names));

      Thread publisher = new Thread(() -> {
        for (int i = 0; publishing.get(); i++) {
          String id = String.format("%s-%05d", fault.name().toLowerCase(java.util.Locale.ROOT), i);
          String channel = fault.name().toLowerCase(java.util.Locale.ROOT) + ".ch-" + (i % SUBSCRIPTIONS);
          checker.sent(id);
          try {
            PublishReply r = nodes.get(i % 2).runtime().publish(PublishRequest.of(channel,
                RouterTestSupport.payload(id, 32)).withMessageId(id).withTimeToLive(Duration.ofMinutes(2)))
                .toCompletableFuture().get(10, TimeUnit.SECONDS);
            if (r instanceof PublishReply.Accepted) {
              checker.acked(id);
              channelOf.put(id, channel);
              acceptedAt.put(id, System.nanoTime());
            } else {
              refused.incrementAndGet();
            }
          } catch (Exception e) {
            refused.incrementAndGet();
          }
          if (i % 4 == 0) { // and one in four iterations a message for the pull subscription
            String pid = String.format("%s-pull-%05d", fault.name().toLowerCase(java.util.Locale.ROOT), i);
            pulled.sent(pid);
            try {
              String pullChannel = fault.name().toLowerCase(java.util.Locale.ROOT) + ".pull-" + (i / 4 % PULLS);
              PublishReply r = nodes.get(i % 2).runtime().publish(PublishRequest.of(pullChannel,
                  RouterTestSupport.payload(pid, 32)).withMessageId(pid).withTimeToLive(Duration.ofMinutes(2)))
                  .toCompletableFuture().get(10, TimeUnit.SECONDS);
              if (r instanceof PublishReply.Accepted) {
                pulled.acked(pid);
                pullAccepted.add(pid);
              }
            } catch (Exception e) {
              // refused: not accepted, so not counted
            }
          }
          if (i % 4 == 2) { // and one in four iterations a message for an embedded subscription
            String eid = String.format("%s-emb-%05d", fault.name().toLowerCase(java.util.Locale.ROOT), i);
            String embChannel = embeddedChannels.get(i / 4 % EMBEDDED);
            embedded.sent(eid);
            try {
              PublishReply r = nodes.get(i % 2).runtime().publish(PublishRequest.of(embChannel,
                  RouterTestSupport.payload(eid, 32)).withMessageId(eid).withTimeToLive(Duration.ofMinutes(2)))
                  .toCompletableFuture().get(10, TimeUnit.SECONDS);
              if (r instanceof PublishReply.Accepted) {
                embedded.acked(eid);
                embeddedAcceptedAt.put(eid, System.nanoTime());
              }
            } catch (Exception e) {
              // refused: not accepted, so not counted
            }
          }
          java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(10).toNanos()); // ~100 a second
        }
      }, "cluster-fault-publisher");
      for (String pullName : pullNames) { // a consumer per subscription, pulling one call at a time
        pullers.add(new Thread(() -> {
          for (int i = 0; pulling.get(); i++) {
            RouterService n = nodes.get(i % 2); // the two nodes in this JVM: they survive the fault
            try {
              List<com.fasterxml.jackson.databind.JsonNode> got = ConsumeHttpSupport.pull(n, pullName, 50, 300);
              for (com.fasterxml.jackson.databind.JsonNode d : got) pulled.delivered(ConsumeHttpSupport.messageId(d));
              if (!got.isEmpty()) ConsumeHttpSupport.ackAll(nodes.get((i + 1) % 2), pullName, got);
            } catch (Exception | AssertionError e) {
              // the owner out of reach for now (the fault, a take-over): answered empty or unknown; pulled again
            }
          }
        }, "cluster-fault-puller-" + pullName));
      }
      publisher.start();
      pullers.forEach(Thread::start);
      ConsumeHttpSupport.await("deliveries flowing on every subscription", () -> names.stream()
          .filter(n -> hook.calls().stream().noneMatch(c -> n.equals(c.subscription()))).toList(), List::isEmpty);

      // the fault's precondition, right before it: the node about to be lost owns some of the subscriptions (sharding
      // may have moved some since they started, balancing the nodes), and has for a while
      List<String> ownedThere = awaitStableOwnership(nodes, names);
      List<String> embeddedThere = embeddedOwnedElsewhere(nodes, embeddedChannels);
      log.info("ClusterNodeFaultIT {}: the node in its own process owns {} at the fault, of the pull"
          + " subscriptions {}, of the embedded ones {}", fault, ownedThere, ownedElsewhere(nodes, pullNames),
          embeddedThere);
      long killedAt;
      if (fault == Fault.KILL) {
        killedAt = System.nanoTime();
        doomed.destroyForcibly(); // SIGKILL
        assertTrue(doomed.waitFor(10, TimeUnit.SECONDS), "the process died");
        assertEquals(137, doomed.exitValue(), "killed by SIGKILL (128 + 9)");
      } else {
        signal(doomed, "STOP"); // cut off: no heartbeat, no answer, its sockets open
        killedAt = System.nanoTime(); // stopped by now (kill returned)
      }
      // the fault as the survivors see it: the lost node is removed from the cluster (downed by the resolver)
      ConsumeHttpSupport.await("the lost node downed and removed", () -> Cluster.get(nodes.get(0).system()).state()
          .members().size(), n -> n == 2);
      long downedMs = (System.nanoTime() - killedAt) / 1_000_000;
      java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofSeconds(3).toNanos()); // load after the take-over
      long resumedAt = 0;
      if (fault == Fault.PAUSE) {
        // it goes on: it learns it was downed and stops; whatever it still held must not be pushed now
        ConsumeHttpSupport.await("the survivors own everything", () -> names.stream()
            .filter(n -> ClusteredHttpIT.owners(nodes, n).size() != 1).toList(), List::isEmpty);
        resumedAt = System.nanoTime();
        signal(doomed, "CONT");
        assertTrue(doomed.waitFor(30, TimeUnit.SECONDS), () -> "the node cut off stops once it learns it was"
            + " downed: " + tail);
        assertEquals(0, doomed.exitValue(), "it stopped by itself");
        assertTrue(tail.contains("TERMINATED"), () -> "its actor system terminated: " + tail);
      }
      java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofSeconds(2).toNanos());
      publishing.set(false);
      publisher.join(15_000);

      // every accepted message is pushed; the failover time: kill -> the first push of a message published after
      // it to a subscription the dead node owned
      long[] failoverMs = {-1};
      ConsumeHttpSupport.await("every accepted message pushed", () -> {
        for (String id : acceptedAt.keySet()) {
          if (hook.okFor(id) == 0) return id;
        }
        return null;
      }, missing -> missing == null);
      for (WebhookReceiver.Call c : hook.calls()) {
        if (!ownedThere.contains(c.subscription())) continue;
        Long at = acceptedAt.get(c.messageId());
        if (at == null || at < killedAt) continue;
        long ms = (c.receivedNanos() - killedAt) / 1_000_000;
        if (failoverMs[0] < 0 || ms < failoverMs[0]) failoverMs[0] = ms;
      }
      for (String id : acceptedAt.keySet()) {
        for (int n = hook.okFor(id); n > 0; n--) checker.delivered(id);
      }
      for (String n : names) ConsumeHttpSupport.awaitNothingPending(nodes.get(0), n);
      ConsumeHttpSupport.await("every accepted pull message pulled", () -> pulled.lostIds().size(), n -> n == 0);
      pulling.set(false);
      for (Thread t : pullers) t.join(15_000);
      for (String n : pullNames) ConsumeHttpSupport.awaitNothingPending(nodes.get(0), n);
      ConsumeHttpSupport.await("every accepted embedded message delivered", () -> embedded.lostIds().size(),
          n -> n == 0);
      long embeddedFailoverMs = -1;
      for (Object[] d : embeddedHere) {
        Long at = embeddedAcceptedAt.get((String) d[0]);
        if (at == null || at < killedAt || !embeddedThere.contains((String) d[1])) continue;
        long ms = ((Long) d[2] - killedAt) / 1_000_000;
        if (embeddedFailoverMs < 0 || ms < embeddedFailoverMs) embeddedFailoverMs = ms;
      }
      // one owner at a time: for every message the attempts pushed, in the order they came, never go back down (an
      // old owner pushing its stale attempt after the new one took the message over would)
      // (checked from the fault on: what the lost node pushed before it, in flight when it stopped, may arrive late)
      Map<String, Integer> lastAttempt = new java.util.HashMap<>();
      List<String> staleAfterTakeover = new ArrayList<>();
      List<WebhookReceiver.Call> inOrder = new ArrayList<>(hook.calls());
      inOrder.sort(java.util.Comparator.comparingLong(WebhookReceiver.Call::receivedNanos));
      for (WebhookReceiver.Call c : inOrder) {
        Integer before = lastAttempt.put(c.messageId(), Math.max(c.attempt(), lastAttempt.getOrDefault(c.messageId(),
            0)));
        if (before != null && c.attempt() < before && c.receivedNanos() > killedAt + Duration.ofSeconds(1).toNanos()) {
          staleAfterTakeover.add(c.messageId() + "#" + c.attempt());
        }
      }
      log.info("ClusterNodeFaultIT {}: the lost node owned {} of {} webhook subscriptions; downed and removed after {}"
          + " ms; its subscriptions pushing again {} ms after the fault; refused publishes {}; stale pushes {}", fault,
          ownedThere.size(), SUBSCRIPTIONS, downedMs, failoverMs[0], refused.get(), staleAfterTakeover);
      checker.logReport("ClusterNodeFaultIT " + fault);
      pulled.logReport("ClusterNodeFaultIT " + fault + " pull");
      embedded.logReport("ClusterNodeFaultIT " + fault + " embedded");
      log.info("ClusterNodeFaultIT {}: the lost node owned {} of {} embedded subscriptions; delivering again {} ms"
          + " after the fault", fault, embeddedThere.size(), EMBEDDED, embeddedFailoverMs);
      assertEquals(0, embedded.report().lost(), "lost (embedded)");
      assertEquals(0, embedded.report().unexpected(), "unexpected (embedded)");
      assertTrue(embeddedAcceptedAt.size() > 100, "embedded load: " + embeddedAcceptedAt.size());
      // what the lost node's subscribers held, and what a lost owner had handed out (max-in-flight, 64), may come again
      assertTrue(embedded.report().duplicated() <= EMBEDDED * (EMBEDDED_PREFETCH + 64),
          "embedded duplicates bounded by the in-flight window: " + embedded.report());
      if (!embeddedThere.isEmpty()) {
        assertTrue(embeddedFailoverMs >= 3_000 && embeddedFailoverMs < 30_000,
            "embedded delivery again between 3 and 30 s after the fault: " + embeddedFailoverMs);
      }
      assertEquals(0, pulled.report().lost(), "lost (pull)");
      assertEquals(0, pulled.report().unexpected(), "unexpected (pull)");
      assertTrue(pullAccepted.size() > 100, "pull load: " + pullAccepted.size());
      // what a lost owner had handed out (at most max-in-flight, 64, per subscription) may come again
      assertTrue(pulled.report().duplicated() <= PULLS * 2 * 64, "pull duplicates bounded by the in-flight window: "
          + pulled.report());
      MessageChecker.Report report = checker.report();
      assertEquals(0, report.lost(), "lost");
      assertEquals(0, report.unexpected(), "unexpected");
      // the dead node may have pushed some whose ack never reached Redis: its calls in flight, and the acks of
      // answered calls still on their way to Redis (at most about as many again) for each subscription it owned
      assertTrue(report.duplicated() <= ownedThere.size() * PARALLELISM * 2,
          "duplicates bounded by what the dead node had in flight: " + report.duplicated());
      assertTrue(failoverMs[0] >= 3_000, "nothing of the dead node's flows before it is downed: " + failoverMs[0]);
      assertTrue(failoverMs[0] < 30_000, "failover within 30 s: " + failoverMs[0]);
      assertFalse(tail.isEmpty(), "the other process wrote its log");
      assertEquals(List.of(), staleAfterTakeover, "a message pushed by an old owner after the new one had it");
      if (fault == Fault.PAUSE) {
        long late = hook.calls().stream().filter(c -> ownedThere.contains(c.subscription()))
            .filter(c -> acceptedAt.getOrDefault(c.messageId(), Long.MAX_VALUE) < killedAt).count();
        log.info("ClusterNodeFaultIT PAUSE: calls for messages the cut-off node held: {} (resumed {} ms after the"
            + " fault)", late, (resumedAt - killedAt) / 1_000_000);
      }
    } finally {
      publishing.set(false);
      pulling.set(false);
      if (doomed != null) doomed.destroyForcibly();
      for (RouterService n : nodes) n.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }
}
