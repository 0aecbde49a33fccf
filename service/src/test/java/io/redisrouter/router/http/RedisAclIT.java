package io.redisrouter.router.http;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Least privilege: the router runs on a Redis whose {@code default} user is off, as an ACL user made with exactly the
 * {@code ACL SETUSER router ...} line of README.md (read from README here, so README and test cannot drift). One
 * real flow uses every part of the router that talks to Redis: the warm-up, HTTP publishes (single, batch, with an
 * idempotency key), a pull subscription (ack, nack with retry, nack to the dead letters), a webhook subscription, an
 * embedded subscriber on the same reliable channel, a broadcast channel with an embedded subscriber, dead-letter
 * listing, replay and purge, channel stats and list, subscription stats and delete, the janitor's rounds and
 * readiness. Everything works and Redis's {@code ACL LOG} records no denied command, key or channel, so a right the
 * line lacks fails the test. Then the check is shown able to fail: without {@code +xack} the ack is denied (ACL LOG
 * names {@code xack} and the user; the message stays pending and comes again once the right is back, nothing lost);
 * without {@code +info} the router logs the server version as unknown after a reconnect and carries on; without
 * {@code +script|load} a reconnect fails with NOPERM and a hint to the list, until the right is back. All the
 * while the log is captured at DEBUG: neither the Redis passwords nor the HTTP tokens appear in a log line or in any
 * response body.
 */
class RedisAclIT {
  static final String NONCE = Long.toHexString(System.nanoTime());
  static final String ROUTER_PASSWORD = "Acl-router-pw-" + NONCE;
  static final String ADMIN_PASSWORD = "Acl-admin-pw-" + NONCE;
  static final String PUBLISH_TOKEN = "Acl-publish-token-" + NONCE;
  static final String WRONG_TOKEN = "Acl-wrong-token-" + NONCE;
  static final List<String> SECRETS = List.of(ROUTER_PASSWORD, ADMIN_PASSWORD, HttpTestSupport.TOKEN, PUBLISH_TOKEN,
      WRONG_TOKEN);
  static final String ADMIN = "rr-test-admin";
  static final String PASSWORD_PLACEHOLDER = ">PASSWORD";
  static final Duration WAIT = Duration.ofSeconds(15);

  /** A Redis with an admin user for the test harness; the router's user is made by the test from README. */
  @RegisterExtension
  static final RedisExtension redis = RedisExtension.of(() -> RedisServer.builder()
      .arg("--user", ADMIN, "on", ">" + ADMIN_PASSWORD, "~*", "&*", "+@all")
      .harnessUser(ADMIN, ADMIN_PASSWORD)
      .start());

  /** The one line of README.md that starts with {@code ACL SETUSER router }. */
  static String readmeAclLine() throws Exception {
    List<String> lines = Files.readAllLines(Path.of("../README.md"), StandardCharsets.UTF_8).stream()
        .map(String::strip).filter(l -> l.startsWith("ACL SETUSER router ")).distinct().toList();
    assertEquals(1, lines.size(), "README.md must hold one ACL SETUSER router line, found " + lines);
    String ops = Files.readString(Path.of("../docs/operations.md"), StandardCharsets.UTF_8);
    assertTrue(ops.contains("\n" + lines.get(0) + "\n"), "docs/operations.md must show README's ACL line as it is");
    return lines.get(0);
  }

  /** The line's words after {@code ACL}, the password placeholder replaced. */
  static List<String> aclArgs(String line, String password) {
    List<String> words = new ArrayList<>(List.of(line.split("\\s+")));
    assertEquals(1, words.stream().filter(PASSWORD_PLACEHOLDER::equals).count(),
        "the README line gives the password as " + PASSWORD_PLACEHOLDER + ": " + line);
    words.replaceAll(w -> w.equals(PASSWORD_PLACEHOLDER) ? ">" + password : w);
    return words.subList(1, words.size());
  }

  /** ACL LOG as one map per entry (reason, object, username, context, ...). */
  static List<Map<String, String>> aclLog() {
    List<Map<String, String>> out = new ArrayList<>();
    for (Object entry : redis.server().callList("ACL", "LOG")) {
      List<?> kv = (List<?>) entry;
      Map<String, String> m = new LinkedHashMap<>();
      for (int i = 0; i + 1 < kv.size(); i += 2) m.put(String.valueOf(kv.get(i)), String.valueOf(kv.get(i + 1)));
      out.add(m);
    }
    return out;
  }

  /** An embedded subscriber that acks everything and records it. */
  static Behavior<Delivery> acking(MessageChecker checker) {
    return Behaviors.receiveMessage(d -> {
      checker.delivered(d.envelope().id());
      d.replyTo().tell(d.ack());
      return Behaviors.same();
    });
  }

  static void awaitTrue(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "not within " + WAIT + ": " + what);
      Thread.sleep(20); // polling a condition with a deadline
    }
  }

  @Test
  void theReadmeAclLineIsEnoughForEveryFlowAndTheCheckCatchesAMissingRight() throws Exception {
    String line = readmeAclLine();
    List<String> setUser = new ArrayList<>(List.of("ACL"));
    setUser.addAll(aclArgs(line, ROUTER_PASSWORD));
    assertEquals("OK", redis.server().call(setUser.toArray(String[]::new)));
    assertEquals("OK", redis.server().call("ACL", "SETUSER", "default", "off"));
    // the default user is off: a connection that does not log in gets nothing
    try (Socket s = new Socket("127.0.0.1", redis.server().port())) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      String answer = new String(in.readNBytes(7), StandardCharsets.US_ASCII);
      assertEquals("-NOAUTH", answer, "a client without a login is refused");
    }
    redis.server().call("ACL", "LOG", "RESET");
    Map<String, Long> callsBefore = redis.server().commandCalls();

    List<String> bodies = new ArrayList<>();
    List<String> lines;
    MessageChecker pulled = new MessageChecker();
    MessageChecker pushed = new MessageChecker();
    MessageChecker embedded = new MessageChecker();
    MessageChecker broadcast = new MessageChecker();
    String ch = "acl-orders";
    String news = "acl-news";
    String extra = "redis-router.redis.instances.default { username = router, password = \"" + ROUTER_PASSWORD
        + "\" }\n"
        + "redis-router.http.warm-up = 1s\n"
        + "redis-router.http.auth.tokens = [\n"
        + "  { name = test, token = \"" + HttpTestSupport.TOKEN + "\", scopes = [publish, consume, admin] },\n"
        + "  { name = producer, token = \"" + PUBLISH_TOKEN + "\", scopes = [publish] } ]\n"
        + "redis-router.channels.defaults.retention.trim-interval = 500ms\n"
        + "redis-router.channels.overrides { \"" + news + "\" { mode = broadcast } }\n";
    try (LogCapture logs = LogCapture.everything(Level.DEBUG);
        WebhookReceiver hook = WebhookReceiver.start(4, call -> {
          pushed.delivered(call.messageId());
          return 200;
        })) {
      RouterService service = HttpTestSupport.start("redis-acl", redis.server(), extra);
      try {
        RouterClient client = new RouterClient(service);
        ActorTestKit kit = ActorTestKit.create(service.system());
        assertTrue(logs.lines().stream().anyMatch(l -> l.contains("connected at " + redis.server().uri())
            && l.contains("as user 'router'")), "the connect line names the ACL user");
        assertTrue(logs.lines().stream().anyMatch(l -> l.contains("warm-up done") && l.contains("0 failed calls")),
            "the warm-up ran without a failed call");

        // subscriptions: pull, webhook, an embedded subscriber on the reliable channel, one on the broadcast channel
        ConsumeHttpSupport.createPull(service, "acl-pull", ch);
        RouterClient.Reply created = client.createSubscription(
            RouterClient.Subscription.webhook("acl-hook", ch, hook.url()));
        assertEquals(201, created.status(), created.body());
        ActorRef<Delivery> sub = kit.spawn(acking(embedded), "acl-embedded");
        assertInstanceOf(SubscribeReply.Subscribed.class,
            RouterTestSupport.subscribe(kit, service.runtime().router(), ch, "acl-embedded", sub));
        ActorRef<Delivery> bcSub = kit.spawn(acking(broadcast), "acl-broadcast");
        assertInstanceOf(SubscribeReply.Subscribed.class,
            RouterTestSupport.subscribe(kit, service.runtime().router(), news, "acl-bc", bcSub));

        // publishes: a batch, single ones with an idempotency key (the dedup script), one repeated
        List<String> ids = new ArrayList<>(ConsumeHttpSupport.publish(service, ch, 20, "batch", null));
        for (int i = 0; i < 5; i++) {
          RouterClient.Reply r = client.publish(ch, RouterClient.Message.json(Map.of("n", i)).withKey("acl-key-" + i));
          assertEquals(202, r.status(), r.body());
          ids.add(r.get("messageId").asText());
        }
        RouterClient.Reply again = client.publish(ch, RouterClient.Message.json(Map.of("n", 0)).withKey("acl-key-0"));
        assertEquals(202, again.status(), again.body());
        assertTrue(again.get("duplicate").asBoolean(), again.body());
        for (MessageChecker c : List.of(pulled, pushed, embedded)) {
          ids.forEach(c::sent);
          ids.forEach(c::acked);
        }
        for (int i = 0; i < 5; i++) {
          RouterClient.Reply r = client.publish(news, RouterClient.Message.json(Map.of("news", i)));
          assertEquals(202, r.status(), r.body());
          broadcast.sent(r.get("messageId").asText());
          broadcast.acked(r.get("messageId").asText());
        }

        // pull: the first one nacked to the dead letters, the second nacked for a retry, the rest acked
        String rejected = null;
        String retried = null;
        Set<String> done = new TreeSet<>();
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (done.size() < ids.size()) {
          assertTrue(System.nanoTime() < deadline, "pulled " + done.size() + " of " + ids.size());
          List<String> acks = new ArrayList<>();
          for (JsonNode d : ConsumeHttpSupport.pull(service, "acl-pull", 100, 500)) {
            String id = ConsumeHttpSupport.messageId(d);
            pulled.delivered(id);
            String deliveryId = d.get("deliveryId").asText();
            if (rejected == null) {
              rejected = id;
              pulled.deadLettered(id);
              done.add(id);
              ConsumeHttpSupport.nack(service, "acl-pull", deliveryId, "cannot handle it", true);
            } else if (retried == null) {
              retried = id;
              ConsumeHttpSupport.nack(service, "acl-pull", deliveryId, "try again", false);
            } else {
              acks.add(deliveryId);
              done.add(id);
            }
          }
          if (!acks.isEmpty()) {
            JsonNode r = ConsumeHttpSupport.ack(service, "acl-pull", acks);
            assertEquals(acks.size(), r.get("acked").asInt(), r.toString());
          }
        }
        assertEquals(2, pulled.deliveryCount(retried), "the nacked message came again");

        awaitTrue("the webhook and the embedded subscriber got every message, the broadcast subscriber all 5",
            () -> pushed.report().delivered() == ids.size() && embedded.report().delivered() == ids.size()
                && broadcast.report().delivered() == 5);

        // dead letters: listed, replayed (delivered again, deleted), one more purged
        String deadPath = "/v1/channels/" + ch + "/dead-letters";
        JsonNode page = ConsumeHttpSupport.awaitJson(service, deadPath, b -> b.get("total").asLong() == 1);
        assertEquals("rejected", page.get("items").get(0).get("reason").asText(), page.toString());
        RouterClient.Reply replay = client.post(deadPath + "/" + page.get("items").get(0).get("id").asText()
            + "/replay", Map.of());
        assertEquals(200, replay.status(), replay.body());
        String replayed = replay.get("messageId").asText();
        for (MessageChecker c : List.of(pulled, pushed, embedded)) {
          c.sent(replayed);
          c.acked(replayed);
        }
        List<JsonNode> back = ConsumeHttpSupport.pullUntil(service, "acl-pull",
            got -> got.stream().anyMatch(d -> ConsumeHttpSupport.messageId(d).equals(replayed)));
        for (JsonNode d : back) pulled.delivered(ConsumeHttpSupport.messageId(d));
        for (JsonNode d : back) {
          ConsumeHttpSupport.nack(service, "acl-pull", d.get("deliveryId").asText(), "still cannot", true);
          pulled.deadLettered(ConsumeHttpSupport.messageId(d));
        }
        ConsumeHttpSupport.awaitJson(service, deadPath, b -> b.get("total").asLong() == back.size());
        RouterClient.Reply purge = client.delete(deadPath);
        assertEquals(200, purge.status(), purge.body());
        assertEquals(back.size(), purge.get("purged").asLong(), purge.body());

        // admin: channel stats (reliable and broadcast), the channel list, subscription stats, readiness
        JsonNode stats = ConsumeHttpSupport.awaitJson(service, "/v1/channels/" + ch,
            b -> b.get("subscriptions").size() == 3 && b.get("deadLetters").asLong() == 0);
        assertTrue(stats.get("length").asLong() >= ids.size(), stats.toString());
        JsonNode bc = client.get("/v1/channels/" + news).json();
        assertEquals("broadcast", bc.get("mode").asText(), bc.toString());
        RouterClient.Reply list = client.get("/v1/channels");
        assertEquals(200, list.status(), list.body());
        assertTrue(list.body().contains("\"" + ch + "\""), list.body());
        RouterClient.Reply subStats = client.subscription("acl-pull");
        assertEquals(200, subStats.status(), subStats.body());
        assertEquals(200, HttpTestSupport.get(service, "/health/ready").statusCode());
        awaitTrue("the webhook got the replayed message", () -> pushed.deliveryCount(replayed) > 0);
        RouterClient.Reply deleted = client.deleteSubscription("acl-hook");
        assertTrue(deleted.status() == 200 || deleted.status() == 204, deleted.body());
        kit.createTestProbe().awaitAssert(WAIT, () -> {
          assertEquals(0L, redis.server().callLong("HEXISTS", RedisKeys.SUBSCRIPTIONS, "acl-hook"));
          return null;
        });

        // wrong and under-scoped tokens: their error bodies are checked for secrets below
        bodies.add(send(service, "POST", "/v1/channels/" + ch + "/messages", WRONG_TOKEN, "{\"payload\": 1}"));
        bodies.add(send(service, "GET", "/v1/channels/" + ch, PUBLISH_TOKEN, null));
        bodies.add(send(service, "POST", "/v1/channels/" + ch + "/messages", PUBLISH_TOKEN, "{not json"));

        // a janitor round (retention every 500 ms here) has run with the user's rights
        awaitTrue("the janitor's XTRIM ran", () -> RedisServer.callsBetween(callsBefore,
            redis.server().commandCalls()).containsKey("xtrim"));

        List<Map<String, String>> denied = aclLog();
        assertTrue(denied.isEmpty(), "the README line lacks rights the router used:\n" + denied);
        Map<String, Long> used = RedisServer.callsBetween(callsBefore, redis.server().commandCalls());
        Set<String> granted = new TreeSet<>();
        for (String w : aclArgs(line, ROUTER_PASSWORD)) if (w.startsWith("+")) granted.add(w.substring(1));
        Set<String> notUsed = new TreeSet<>(granted);
        notUsed.removeAll(used.keySet());
        notUsed.remove("info"); // the harness's own INFO calls are left out of callsBetween
        Set<String> beyond = new TreeSet<>(used.keySet());
        // Redis 6.2 counts subcommands under their command (xinfo, not xinfo|groups)
        beyond.removeIf(c -> granted.contains(c) || granted.stream().anyMatch(g -> g.startsWith(c + "|")));
        // the harness's own calls (ACL, CLIENT, HEXISTS), and HELLO and AUTH, which every user may send
        beyond.removeIf(c -> c.startsWith("acl") || c.startsWith("client") || c.equals("hexists")
            || c.equals("hello") || c.equals("auth"));
        assertTrue(beyond.isEmpty(), "commands ran beyond the README line (ACL LOG should have shown them): " + beyond);

        // the check can fail: without +xack the acknowledgement is denied, and ACL LOG says so
        redis.server().call("ACL", "LOG", "RESET");
        redis.server().call("ACL", "SETUSER", "router", "-xack");
        RouterClient.Reply faultPub = client.publish(ch, RouterClient.Message.json(Map.of("fault", "xack")));
        assertEquals(202, faultPub.status(), faultPub.body());
        String faultId = faultPub.get("messageId").asText();
        for (MessageChecker c : List.of(pulled, embedded)) {
          c.sent(faultId);
          c.acked(faultId);
        }
        List<JsonNode> first = ConsumeHttpSupport.pullUntil(service, "acl-pull",
            got -> got.stream().anyMatch(d -> ConsumeHttpSupport.messageId(d).equals(faultId)));
        for (JsonNode d : first) pulled.delivered(ConsumeHttpSupport.messageId(d));
        RouterClient.Reply faultAck = client.ack("acl-pull", first.stream()
            .map(d -> d.get("deliveryId").asText()).toList());
        bodies.add(faultAck.body());
        awaitTrue("ACL LOG records the denied XACK", () -> aclLog().stream()
            .anyMatch(e -> "xack".equals(e.get("object")) && "router".equals(e.get("username"))));
        Map<String, String> denial = aclLog().stream().filter(e -> "xack".equals(e.get("object"))).findFirst()
            .orElseThrow();
        assertEquals("command", denial.get("reason"), denial.toString());
        assertTrue(pendingCount(ch, "acl-pull") >= 1, "the denied ack left the message pending");
        awaitTrue("the router logs the failed XACK with the server's NOPERM", () -> logs.lines().stream()
            .anyMatch(l -> l.startsWith("WARN") && l.contains("XACK") && l.contains("NOPERM")));
        // the right back: the message comes again after its ack timeout and is acked; nothing lost
        redis.server().call("ACL", "SETUSER", "router", "+xack");
        List<JsonNode> second = ConsumeHttpSupport.pullUntil(service, "acl-pull",
            got -> got.stream().anyMatch(d -> ConsumeHttpSupport.messageId(d).equals(faultId)));
        for (JsonNode d : second) pulled.delivered(ConsumeHttpSupport.messageId(d));
        ConsumeHttpSupport.ackAll(service, "acl-pull", second);
        awaitTrue("nothing left pending after the right came back",
            () -> pendingCount(ch, "acl-pull") == 0);

        // a right the router can do without: -info costs the version line at the next connect, nothing else
        redis.server().call("ACL", "SETUSER", "router", "-info");
        redis.server().call("CLIENT", "KILL", "USER", "router");
        awaitTrue("the router reconnected and logged the version as unknown", () -> logs.lines().stream()
            .anyMatch(l -> l.contains("server version unknown") && l.contains("NOPERM")));
        awaitTrue("ready again", () -> {
          try {
            return HttpTestSupport.get(service, "/health/ready").statusCode() == 200;
          } catch (Exception e) {
            return false;
          }
        });
        RouterClient.Reply afterInfo = client.publish(ch, RouterClient.Message.json(Map.of("after", "info")));
        assertEquals(202, afterInfo.status(), afterInfo.body());
        embedded.sent(afterInfo.get("messageId").asText());
        embedded.acked(afterInfo.get("messageId").asText());
        awaitTrue("the embedded subscriber got the messages published meanwhile",
            () -> embedded.report().delivered() == ids.size() + 3);
        assertTrue(aclLog().stream().anyMatch(e -> "info".equals(e.get("object"))), aclLog().toString());
        redis.server().call("ACL", "SETUSER", "router", "+info");

        // a right needed at connect: without +script|load the connect fails with NOPERM, and the log says what to do
        // (-script: Redis 6.2 cannot take a subcommand away)
        redis.server().call("ACL", "SETUSER", "router", "-script");
        redis.server().call("CLIENT", "KILL", "USER", "router");
        awaitTrue("the connect failure names the missing right", () -> logs.lines().stream()
            .anyMatch(l -> l.contains("connect failed") && l.contains("NOPERM")
                && l.contains("lacks a right the router needs") && l.contains("script")));
        HttpResponse<String> notReady = HttpTestSupport.get(service, "/health/ready");
        assertEquals(503, notReady.statusCode(), notReady.body());
        assertTrue(notReady.body().contains("NOPERM"), notReady.body());
        bodies.add(notReady.body());
        redis.server().call("ACL", "SETUSER", "router", "+script|load");
        awaitTrue("ready again once the right is back", () -> {
          try {
            return HttpTestSupport.get(service, "/health/ready").statusCode() == 200;
          } catch (Exception e) {
            return false;
          }
        });
        bodies.add(HttpTestSupport.get(service, "/health/ready").body());

        System.out.println("RedisAclIT: the README line grants " + granted.size() + " commands; this run used "
            + (granted.size() - notUsed.size()) + " of them (" + used + "); not used in this run: " + notUsed);
        for (String what : List.of("pull", "webhook", "embedded", "broadcast")) {
          MessageChecker c = switch (what) {
            case "pull" -> pulled;
            case "webhook" -> pushed;
            case "embedded" -> embedded;
            default -> broadcast;
          };
          MessageChecker.Report r = c.report();
          System.out.println("RedisAclIT " + what + ": " + r);
          assertEquals(0, r.lost(), what + " lost " + c.lostIds());
          assertEquals(0, r.unexpected(), what + " got unexpected " + c.unexpectedIds());
        }
      } finally {
        service.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      lines = logs.lines();
    }
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("DEBUG")), "DEBUG lines were captured");
    lines.stream().filter(l -> l.contains("as user 'router'") || l.contains("NOPERM")).map(l -> l.split("\n")[0])
        .distinct().limit(6).forEach(l -> System.out.println("RedisAclIT log: " + l));
    System.out.println("RedisAclIT: " + lines.size() + " log events and " + bodies.size() + " error bodies checked");
    for (String secret : SECRETS) {
      List<String> leaks = lines.stream().filter(l -> l.contains(secret)).toList();
      assertTrue(leaks.isEmpty(), "secret " + secret + " appears in the log:\n" + String.join("\n", leaks));
      List<String> leakingBodies = bodies.stream().filter(b -> b.contains(secret)).toList();
      assertTrue(leakingBodies.isEmpty(), "secret " + secret + " appears in a response:\n"
          + String.join("\n", leakingBodies));
    }
  }

  static long pendingCount(String channel, String group) {
    List<Object> summary = redis.server().callList("XPENDING", RedisKeys.stream(channel), group);
    return (Long) summary.get(0);
  }

  static String send(RouterService s, String method, String path, String token, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).timeout(Duration.ofSeconds(30))
        .header("Content-Type", "application/json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (token != null) b.header("Authorization", "Bearer " + token);
    HttpResponse<String> r = HttpTestSupport.send(b.build());
    assertTrue(r.statusCode() >= 400, r.statusCode() + " " + r.body());
    return r.statusCode() + " " + r.body() + " " + r.headers().map();
  }
}
