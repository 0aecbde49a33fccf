package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Failover without loss: three router services, each in a process of its own, with six webhook subscriptions, three
 * pull subscriptions and three embedded ones (a subscriber actor in every process) under a steady HTTP publish load.
 * The node that owns the most is lost mid-stream: killed with SIGKILL, or cut off by SIGSTOP (a partition: it neither
 * answers nor knows) and let go on after the survivors took over. The split brain resolver downs it, the survivors
 * start its subscriptions' owners and their consumers take over what it held once idle past the ack timeout: every
 * accepted message is delivered (lost = 0) by each way of consuming, duplicates are counted and bounded by what the
 * lost node could have had in flight, and the failover time is measured. The node that was cut off finds itself
 * downed when it goes on and stops: it pushes nothing after the take-over (no message is handed out by two owners at
 * once: the attempts pushed for each message never go back down).
 */
class ClusterNodeFaultIT {
  private static final Logger log = LoggerFactory.getLogger(ClusterNodeFaultIT.class);
  private static final String SYSTEM = "redis-router-cluster-kill-it";
  private static final int SUBSCRIPTIONS = 6;
  /** Calls a webhook pusher makes at once: what one subscription can have in flight at the fault. */
  private static final int PARALLELISM = 4;
  /** Pull subscriptions, pulled and acked through the surviving nodes. */
  private static final int PULLS = 3;
  /** Embedded subscriptions, each with one subscriber actor in every process. */
  private static final int EMBEDDED = 3;
  /** What an embedded subscriber takes at once ({@link ClusterNodeProcess}). */
  private static final int EMBEDDED_PREFETCH = 4;
  /** A subscription's max-in-flight: what an owner may have handed out. */
  private static final int MAX_IN_FLIGHT = 64;

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

  /** Where each subscription's owner runs (HTTP by name, embedded by channel), as one node's admin API shows it. */
  private record Placement(Map<String, String> owners) {
    /** The subscriptions owned at {@code address}. */
    List<String> at(String address) {
      return owners.entrySet().stream().filter(e -> address.equals(e.getValue())).map(Map.Entry::getKey).sorted()
          .toList();
    }
  }

  private static Placement placement(NodeProcess n, List<String> http, List<String> embeddedChannels)
      throws Exception {
    JsonNode view = n.cluster();
    Map<String, String> owners = new HashMap<>();
    for (String s : http) owners.put(s, view.path("owners").path(s).asText(null));
    for (String c : embeddedChannels) {
      owners.put(c, view.path("embeddedOwners").path(c + "/" + ClusterNodeProcess.EMBEDDED_SUBSCRIPTION).asText(null));
    }
    return new Placement(owners);
  }

  /** The placement once every subscription has an owner and it held still for 2 s (sharding rebalances every 1 s). */
  private static Placement awaitStablePlacement(NodeProcess n, List<String> http, List<String> embeddedChannels)
      throws Exception {
    return ConsumeHttpSupport.await("a stable placement of every subscription", () -> {
      Placement before = placement(n, http, embeddedChannels);
      LockSupport.parkNanos(Duration.ofSeconds(2).toNanos()); // held still meanwhile?
      Placement after = placement(n, http, embeddedChannels);
      return before.equals(after) && !after.owners().containsValue(null) ? after : null;
    }, p -> p != null);
  }

  private static boolean startedUp(NodeProcess n) {
    try {
      return n.baseUrl() != null && HttpTestSupport.get(n.baseUrl(), "/health/ready").statusCode() == 200
          && upMembers(n) == 3 && n.subscribed() == EMBEDDED;
    } catch (Exception | AssertionError notYet) {
      return false;
    }
  }

  private static long upMembers(NodeProcess n) throws Exception {
    long up = 0;
    for (JsonNode m : n.cluster().path("members")) if ("up".equals(m.path("status").asText())) up++;
    return up;
  }

  /** Why embedded messages went missing: each one's channel and when it was accepted, and each stream's group state. */
  private static String whereTheyAre(MessageChecker embedded, List<String> channels, Map<String, String> subscriptionOf,
      Map<String, Long> acceptedAt, long faultAt) {
    StringBuilder where = new StringBuilder("missing (accepted at, ms after the fault):");
    for (String id : embedded.lostIds()) {
      where.append(' ').append(id).append(" on ").append(subscriptionOf.get(id)).append(" at ")
          .append((acceptedAt.get(id) - faultAt) / 1_000_000);
    }
    for (String c : channels) {
      String stream = RedisKeys.stream(c);
      where.append("\n").append(c).append(": pending ")
          .append(redis.server().callList("XPENDING", stream, ClusterNodeProcess.EMBEDDED_SUBSCRIPTION, "-", "+", "20"))
          .append("; consumers ")
          .append(redis.server().callList("XINFO", "CONSUMERS", stream, ClusterNodeProcess.EMBEDDED_SUBSCRIPTION))
          .append("; dead letters ").append(redis.server().command("XLEN", RedisKeys.deadLetters(c)));
    }
    return where.toString();
  }

  private void run(Fault fault) throws Exception {
    String f = fault.name().toLowerCase(Locale.ROOT);
    int seedPort = ClusteredHttpIT.freePort();
    MessageChecker pushed = new MessageChecker();
    MessageChecker pulled = new MessageChecker();
    MessageChecker embedded = new MessageChecker();
    Map<String, Long> acceptedAt = new ConcurrentHashMap<>(); // every accepted message id: when
    Map<String, String> subscriptionOf = new ConcurrentHashMap<>(); // id: its webhook name, pull name or channel
    Map<String, Long> embeddedSeenAt = new ConcurrentHashMap<>(); // first delivery to a subscriber, by id
    List<String> hooks = new ArrayList<>();
    List<String> pulls = new ArrayList<>();
    List<String> embeddedChannels = new ArrayList<>();
    for (int i = 0; i < SUBSCRIPTIONS; i++) hooks.add(f + "-hook-" + i);
    for (int i = 0; i < PULLS; i++) pulls.add(f + "-pull-" + i);
    for (int i = 0; i < EMBEDDED; i++) embeddedChannels.add(f + ".emb-" + i);
    AtomicBoolean publishing = new AtomicBoolean(true);
    AtomicBoolean pulling = new AtomicBoolean(true);
    AtomicInteger refused = new AtomicInteger();
    List<NodeProcess> nodes = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    try (WebhookReceiver hook = WebhookReceiver.start(SUBSCRIPTIONS * PARALLELISM, c -> 200)) {
      for (int i = 0; i < 3; i++) {
        nodes.add(NodeProcess.start("node-" + i, SYSTEM, redis.server().uri(), seedPort, i == 0 ? seedPort : 0,
            embeddedChannels, (id, at) -> {
              embedded.delivered(id);
              embeddedSeenAt.putIfAbsent(id, at);
            }));
      }
      // three JVMs starting at once on 2 cores: up to a minute
      long startBy = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      for (NodeProcess n : nodes) {
        while (!startedUp(n)) {
          assertTrue(System.nanoTime() < startBy, () -> n + " not an Up member of 3, ready, with its " + EMBEDDED
              + " embedded subscribers subscribed within 60 s (" + n.subscribed() + " subscribed): " + n.tail());
          LockSupport.parkNanos(Duration.ofMillis(100).toNanos());
        }
      }
      Map<String, NodeProcess> byAddress = new HashMap<>();
      for (NodeProcess n : nodes) byAddress.put(n.cluster().path("self").asText(), n);
      for (int i = 0; i < SUBSCRIPTIONS; i++) {
        RouterClient.Reply created = new RouterClient(nodes.get(0).baseUrl()).createSubscription(
            new RouterClient.Subscription(hooks.get(i), f + ".ch-" + i, new RouterClient.Webhook(hook.url(), 1000,
                PARALLELISM)));
        assertEquals(201, created.status(), created.body());
      }
      for (int i = 0; i < PULLS; i++)
        ConsumeHttpSupport.createPull(nodes.get(1).baseUrl(), pulls.get(i), f + ".pull-" + i);
      List<String> http = new ArrayList<>(hooks);
      http.addAll(pulls);

      // the node to lose: the one owning the most, with at least one webhook (sharding placed them)
      Placement before = awaitStablePlacement(nodes.get(0), http, embeddedChannels);
      String lostAddress = byAddress.keySet().stream().filter(a -> before.at(a).stream().anyMatch(hooks::contains))
          .max(Comparator.comparingInt(a -> before.at(a).size())).orElseThrow();
      NodeProcess lost = byAddress.get(lostAddress);
      List<NodeProcess> survivors = nodes.stream().filter(n -> n != lost).toList();
      log.info("ClusterNodeFaultIT {}: placement at first {}; {} will be lost", fault, before.owners(), lost);

      // load: HTTP publishes round robin over the survivors (a client that never picks the lost node), about 100 a
      // second to the webhooks, 25 to the pull subscriptions and 25 to the embedded ones
      threads.add(new Thread(() -> {
        for (int i = 0; publishing.get(); i++) {
          String channel;
          String subscription;
          MessageChecker checker;
          if (i % 6 == 4) {
            subscription = pulls.get(i / 6 % PULLS);
            channel = f + ".pull-" + (i / 6 % PULLS);
            checker = pulled;
          } else if (i % 6 == 5) {
            channel = embeddedChannels.get(i / 6 % EMBEDDED);
            subscription = channel;
            checker = embedded;
          } else { // the other four in six go to the webhooks in turn
            int h = (i / 6 * 4 + i % 6) % SUBSCRIPTIONS;
            subscription = hooks.get(h);
            channel = f + ".ch-" + h;
            checker = pushed;
          }
          try {
            RouterClient.Reply r = new RouterClient(survivors.get(i % 2).baseUrl()).publish(channel,
                RouterClient.Message.json(Map.of("n", i)).withTtl("2m"));
            if (r.status() == 202) {
              String id = r.get("messageId").asText();
              checker.sent(id);
              checker.accepted(id);
              acceptedAt.put(id, System.nanoTime());
              subscriptionOf.put(id, subscription);
            } else {
              refused.incrementAndGet();
            }
          } catch (Exception | AssertionError e) {
            refused.incrementAndGet();
          }
          LockSupport.parkNanos(Duration.ofMillis(6).toNanos());
        }
      }, "cluster-fault-publisher"));
      for (String pull : pulls) { // a consumer per subscription, pulling one call at a time through the survivors
        threads.add(new Thread(() -> {
          for (int i = 0; pulling.get(); i++) {
            try {
              List<JsonNode> got = ConsumeHttpSupport.pull(survivors.get(i % 2).baseUrl(), pull, 50, 300);
              for (JsonNode d : got) pulled.delivered(ConsumeHttpSupport.messageId(d));
              if (!got.isEmpty()) ConsumeHttpSupport.ackAll(survivors.get((i + 1) % 2).baseUrl(), pull, got);
            } catch (Exception | AssertionError e) {
              // the owner out of reach for now (the fault, a take-over): answered empty or unknown; pulled again
            }
          }
        }, "cluster-fault-puller-" + pull));
      }
      threads.forEach(Thread::start);
      ConsumeHttpSupport.await("deliveries flowing on every webhook and embedded subscription", () -> {
        List<String> idle = new ArrayList<>();
        for (String h : hooks) if (hook.calls().stream().noneMatch(c -> h.equals(c.subscription()))) idle.add(h);
        for (String c : embeddedChannels) {
          if (embeddedSeenAt.keySet().stream().noneMatch(id -> c.equals(subscriptionOf.get(id)))) idle.add(c);
        }
        return idle;
      }, List::isEmpty);

      // the fault's precondition, right before it: what the node about to be lost owns now
      Placement atFault = awaitStablePlacement(survivors.get(0), http, embeddedChannels);
      List<String> ownedThere = atFault.at(lostAddress);
      assertTrue(ownedThere.stream().anyMatch(hooks::contains), "the lost node owns a webhook: " + atFault.owners());
      log.info("ClusterNodeFaultIT {}: {} owns {} at the fault", fault, lost, ownedThere);
      long faultAt;
      if (fault == Fault.KILL) {
        faultAt = System.nanoTime();
        lost.process().destroyForcibly(); // SIGKILL
        assertTrue(lost.process().waitFor(10, TimeUnit.SECONDS), "the process died");
        assertEquals(137, lost.process().exitValue(), "killed by SIGKILL (128 + 9)");
      } else {
        lost.signal("STOP"); // cut off: no heartbeat, no answer, its sockets open
        faultAt = System.nanoTime(); // stopped by now (kill returned)
      }
      // the fault as the survivors see it: the lost node is removed from the cluster (downed by the resolver)
      ConsumeHttpSupport.await("the lost node downed and removed", () -> survivors.get(0).cluster().path("members")
          .size(), n -> n == 2);
      long downedMs = (System.nanoTime() - faultAt) / 1_000_000;
      LockSupport.parkNanos(Duration.ofSeconds(3).toNanos()); // load after the take-over
      long resumedAt = 0;
      if (fault == Fault.PAUSE) {
        // it goes on: it learns it was downed and stops; whatever it still held must not be pushed now
        ConsumeHttpSupport.await("the survivors own everything", () -> placement(survivors.get(0), http,
            embeddedChannels).at(lostAddress), List::isEmpty);
        resumedAt = System.nanoTime();
        lost.signal("CONT");
        assertTrue(lost.process().waitFor(30, TimeUnit.SECONDS), () -> "the node cut off stops once it learns it was"
            + " downed: " + lost.tail());
        assertEquals(0, lost.process().exitValue(), "it stopped by itself");
        assertTrue(lost.terminated(), () -> "its actor system terminated: " + lost.tail());
      }
      LockSupport.parkNanos(Duration.ofSeconds(2).toNanos());
      publishing.set(false);
      threads.get(0).join(15_000);

      List<String> pushAccepted = subscriptionOf.entrySet().stream().filter(e -> hooks.contains(e.getValue()))
          .map(Map.Entry::getKey).toList();
      ConsumeHttpSupport.await("every accepted webhook message pushed", () -> pushAccepted.stream()
          .filter(id -> hook.okFor(id) == 0).findFirst().orElse(null), missing -> missing == null);
      for (String id : pushAccepted) for (int n = hook.okFor(id); n > 0; n--) pushed.delivered(id);
      for (String h : hooks) ConsumeHttpSupport.awaitNothingPending(survivors.get(0).baseUrl(), h);
      ConsumeHttpSupport.await("every accepted pull message pulled", () -> pulled.lostIds().size(), n -> n == 0);
      pulling.set(false);
      for (Thread t : threads) t.join(15_000);
      for (String p : pulls) ConsumeHttpSupport.awaitNothingPending(survivors.get(0).baseUrl(), p);
      try {
        ConsumeHttpSupport.await("every accepted embedded message delivered", () -> embedded.lostIds().size(),
            n -> n == 0);
      } catch (AssertionError e) {
        throw new AssertionError(e.getMessage() + "; " + whereTheyAre(embedded, embeddedChannels, subscriptionOf,
            acceptedAt, faultAt) + "\nsurvivor logs: " + survivors.get(0).tail() + "\n" + survivors.get(1).tail(), e);
      }

      // failover: the fault -> the first delivery of a message published after it to a subscription the lost node
      // owned (a webhook call; a delivery to an embedded subscriber of a survivor)
      long pushFailoverMs = -1;
      for (WebhookReceiver.Call c : hook.calls()) {
        Long at = acceptedAt.get(c.messageId());
        if (at == null || at < faultAt || !ownedThere.contains(c.subscription())) continue;
        long ms = (c.receivedNanos() - faultAt) / 1_000_000;
        if (pushFailoverMs < 0 || ms < pushFailoverMs) pushFailoverMs = ms;
      }
      long embeddedFailoverMs = -1;
      for (Map.Entry<String, Long> e : embeddedSeenAt.entrySet()) {
        Long at = acceptedAt.get(e.getKey());
        if (at == null || at < faultAt || !ownedThere.contains(subscriptionOf.get(e.getKey()))) continue;
        long ms = (e.getValue() - faultAt) / 1_000_000;
        if (embeddedFailoverMs < 0 || ms < embeddedFailoverMs) embeddedFailoverMs = ms;
      }
      // one owner at a time: for every message the attempts pushed, in the order they came, never go back down (an
      // old owner pushing its stale attempt after the new one took the message over would); checked from 1 s after
      // the fault on (what the lost node pushed before it, in flight when it stopped, may arrive late). A frozen node
      // that goes on may still send, in its first moments, what it had handed to its pusher or put on the wire
      // before the freeze (its threads resume at once, before it can learn its leases lapsed): those are counted
      // apart, must come within a few seconds of the resume, and are bounded by its in-flight window
      Map<String, Integer> lastAttempt = new HashMap<>();
      List<String> staleAfterTakeover = new ArrayList<>();
      List<String> staleAtResume = new ArrayList<>();
      List<WebhookReceiver.Call> inOrder = new ArrayList<>(hook.calls());
      inOrder.sort(Comparator.comparingLong(WebhookReceiver.Call::receivedNanos));
      for (WebhookReceiver.Call c : inOrder) {
        Integer was = lastAttempt.put(c.messageId(), Math.max(c.attempt(), lastAttempt.getOrDefault(c.messageId(),
            0)));
        if (was != null && c.attempt() < was && c.receivedNanos() > faultAt + Duration.ofSeconds(1).toNanos()) {
          boolean atResume = resumedAt != 0 && c.receivedNanos() >= resumedAt
              && c.receivedNanos() < resumedAt + Duration.ofSeconds(5).toNanos();
          (atResume ? staleAtResume : staleAfterTakeover).add(c.messageId() + "#" + c.attempt() + " +"
              + (c.receivedNanos() - faultAt) / 1_000_000 + "ms");
        }
      }
      long ownedHooks = ownedThere.stream().filter(hooks::contains).count();
      long ownedPulls = ownedThere.stream().filter(pulls::contains).count();
      long ownedEmbedded = ownedThere.stream().filter(embeddedChannels::contains).count();
      log.info("ClusterNodeFaultIT {}: the lost node owned {} of {} webhooks, {} of {} pull and {} of {} embedded"
          + " subscriptions; downed and removed after {} ms; pushing again {} ms and delivering to embedded"
          + " subscribers again {} ms after the fault; refused publishes {}; stale pushes {}, in the first 5 s"
          + " after the resume {} (resumed at +{} ms)", fault, ownedHooks,
          SUBSCRIPTIONS, ownedPulls, PULLS, ownedEmbedded, EMBEDDED, downedMs, pushFailoverMs, embeddedFailoverMs,
          refused.get(), staleAfterTakeover, staleAtResume, resumedAt == 0 ? -1 : (resumedAt - faultAt) / 1_000_000);
      pushed.logReport("ClusterNodeFaultIT " + fault + " webhook");
      pulled.logReport("ClusterNodeFaultIT " + fault + " pull");
      embedded.logReport("ClusterNodeFaultIT " + fault + " embedded");
      for (MessageChecker c : List.of(pushed, pulled, embedded)) {
        MessageChecker.Report r = c.report();
        assertEquals(0, r.lost(), "lost: " + r);
        assertEquals(0, r.unexpected(), "unexpected: " + r);
        assertTrue(r.accepted() > 100, "load: " + r);
      }
      // the lost node may have pushed some whose ack never reached Redis: its calls in flight, and the acks of
      // answered calls still on their way to Redis (at most about as many again) for each webhook it owned
      assertTrue(pushed.report().duplicated() <= ownedHooks * PARALLELISM * 2,
          "push duplicates bounded by what the lost node had in flight: " + pushed.report());
      // what a lost owner had handed out may come again
      assertTrue(pulled.report().duplicated() <= ownedPulls * MAX_IN_FLIGHT, "pull duplicates bounded by the"
          + " in-flight window: " + pulled.report());
      // what the lost node's subscribers held, and what a lost owner had handed out
      assertTrue(embedded.report().duplicated() <= EMBEDDED * EMBEDDED_PREFETCH + ownedEmbedded * MAX_IN_FLIGHT,
          "embedded duplicates bounded by the in-flight window: " + embedded.report());
      assertTrue(pushFailoverMs >= 3_000, "nothing of the lost node's flows before it is downed: " + pushFailoverMs);
      assertTrue(pushFailoverMs < 30_000, "failover within 30 s: " + pushFailoverMs);
      if (ownedEmbedded > 0) {
        assertTrue(embeddedFailoverMs >= 3_000 && embeddedFailoverMs < 30_000,
            "embedded delivery again between 3 and 30 s after the fault: " + embeddedFailoverMs);
      }
      assertFalse(lost.tail().isEmpty(), "the lost process wrote its log");
      assertEquals(List.of(), staleAfterTakeover, "a message pushed by an old owner after the new one had it");
      assertTrue(staleAtResume.size() <= ownedHooks * PARALLELISM * 2, "what a frozen node sends as it goes on is"
          + " bounded by what it had handed out: " + staleAtResume);
      assertEquals(0, refused.get(), "no publish refused: the client only calls the survivors");
      if (fault == Fault.PAUSE) {
        long late = hook.calls().stream().filter(c -> ownedThere.contains(c.subscription()))
            .filter(c -> acceptedAt.getOrDefault(c.messageId(), Long.MAX_VALUE) < faultAt).count();
        log.info("ClusterNodeFaultIT PAUSE: calls for messages the cut-off node held: {} (resumed {} ms after the"
            + " fault)", late, (resumedAt - faultAt) / 1_000_000);
      }
    } finally {
      publishing.set(false);
      pulling.set(false);
      for (Thread t : threads) t.join(15_000);
      for (NodeProcess n : nodes) n.close();
    }
  }
}
