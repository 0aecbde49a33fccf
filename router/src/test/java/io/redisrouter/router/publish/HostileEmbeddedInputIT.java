package io.redisrouter.router.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.redisrouter.protocol.DeadLetterPage;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded API with the hostile values {@code HostileInputIT} sends over HTTP: channel and subscription names
 * with globs, CR/LF, NUL, 10,000 characters, unpaired UTF-16 surrogates, blank or null; null payloads and payloads
 * over the limit; message ids, partition keys and content types that are empty, 10,000 characters or hold control
 * characters; header maps with null, empty, glob and 10,000-character names and null values; negative, zero and
 * huge time-to-lives; deadlines at Instant.MIN, the epoch, Instant.MAX. Every publish is answered within 5 s with
 * {@code Rejected(INVALID)} whose field errors name the field (an exception the router caught would be
 * {@code UNAVAILABLE}: it fails here), every subscribe with {@code SubscribeFailed} naming the field, a negative
 * prefetch is refused when the command is built (naming it), dead-letter reads with bad arguments answer with an
 * error or an empty page, nothing reaches Redis for a rejected publish, and the router keeps working after: a normal
 * publish is delivered and acked.
 */
class HostileEmbeddedInputIT {
  private static final Logger log = LoggerFactory.getLogger(HostileEmbeddedInputIT.class);
  private static final Duration BOUND = Duration.ofSeconds(5);
  private static final String CHANNEL = "hostile.embedded";

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("limits.max-payload-bytes = 1024");

  /** Names no channel or subscription may have. */
  static Map<String, String> badNames() {
    Map<String, String> names = new LinkedHashMap<>();
    names.put("glob *", "*");
    names.put("glob a.*", "a.*");
    names.put("glob ?", "a?b");
    names.put("glob [a]", "[a]");
    names.put("CR/LF", "a\r\nb");
    names.put("NUL", "a\u0000b");
    names.put("space", "a b");
    names.put("blank", " ");
    names.put("empty", "");
    names.put("null", null);
    names.put("129 characters", "n".repeat(129));
    names.put("10,000 characters", "n".repeat(10_000));
    names.put("lone high surrogate", "a\uD800b");
    names.put("lone low surrogate", "a\uDC00");
    names.put("unicode", "\u00fcn\u00efc\u00f6de");
    names.put("slash", "a/b");
    names.put("RESP injection", "a\r\n*1\r\n$8\r\nFLUSHALL\r\n");
    return names;
  }

  record Case(String name, PublishRequest request, String field) {}

  static List<Case> publishCases() {
    List<Case> cases = new ArrayList<>();
    byte[] ok = new byte[]{1, 2, 3};
    badNames().forEach((k, v) -> cases.add(new Case("channel " + k, PublishRequest.of(v, ok), "channel")));
    PublishRequest base = PublishRequest.of(CHANNEL, ok);
    cases.add(new Case("payload null", PublishRequest.of(CHANNEL, null), "payload"));
    cases.add(new Case("payload over the limit", PublishRequest.of(CHANNEL, new byte[1025]), "payload"));
    cases.add(new Case("payload 20 MB", PublishRequest.of(CHANNEL, new byte[20 << 20]), "payload"));
    for (String id : List.of("", " ", "a b", "a\r\nb", "a\u0000b", "n".repeat(10_000), "\uD800", "\u00fc")) {
      cases.add(new Case("messageId '" + printable(id) + "'", base.withMessageId(id), "messageId"));
    }
    for (String key : List.of("", "n".repeat(10_000))) {
      cases.add(new Case("partitionKey of " + key.length(), base.withPartitionKey(key), "partitionKey"));
    }
    for (String type : List.of("", " ", "text/plain\r\nX-Injected: 1", "a\u0000b", "t".repeat(10_000),
        "t\u00fcpe")) {
      cases.add(new Case("contentType '" + printable(type) + "'", base.withContentType(type), "contentType"));
    }
    Map<String, Map<String, String>> headerMaps = new LinkedHashMap<>();
    headerMaps.put("empty name", Map.of("", "v"));
    headerMaps.put("glob name", Map.of("a*", "v"));
    headerMaps.put("CR/LF name", Map.of("a\r\nb", "v"));
    headerMaps.put("NUL name", Map.of("a\u0000b", "v"));
    headerMaps.put("10,000-character name", Map.of("n".repeat(10_000), "v"));
    Map<String, String> nullName = new HashMap<>();
    nullName.put(null, "v");
    headerMaps.put("null name", nullName);
    Map<String, String> nullValue = new HashMap<>();
    nullValue.put("h", null);
    headerMaps.put("null value", nullValue);
    headerMaps.put("value of 100 KB", Map.of("h", "v".repeat(100_000)));
    Map<String, String> many = new HashMap<>();
    for (int i = 0; i < 10_000; i++) many.put("h" + i, "v");
    headerMaps.put("10,000 headers", many);
    headerMaps.forEach((k, h) -> cases.add(new Case("headers " + k, base.withHeaders(h), "headers")));
    for (Duration ttl : List.of(Duration.ofSeconds(-5), Duration.ZERO, Duration.ofNanos(-1), Duration.ofDays(366),
        Duration.ofSeconds(Long.MAX_VALUE, 999_999_999), Duration.ofSeconds(Long.MIN_VALUE))) {
      cases.add(new Case("timeToLive " + ttl, base.withTimeToLive(ttl), "timeToLive"));
    }
    for (Instant d : List.of(Instant.MIN, Instant.EPOCH, Instant.now().minusSeconds(1), Instant.MAX,
        Instant.now().plus(Duration.ofDays(400)))) {
      cases.add(new Case("deadline " + d, base.withDeadline(d), "deadline"));
    }
    return cases;
  }

  static String printable(String s) {
    String t = s.replace("\r", "\\r").replace("\n", "\\n").replace("\u0000", "\\0");
    return t.length() > 30 ? t.substring(0, 30) + "...(" + s.length() + ")" : t;
  }

  @Test
  void everyHostilePublishAndSubscribeIsRefusedNamingTheFieldAndTheRouterKeepsWorking() throws Exception {
    List<String> failures = new ArrayList<>();
    int sent = 0;
    long start = System.nanoTime();
    // publishes: all at once, each answered within the bound
    List<Case> cases = publishCases();
    List<CompletableFuture<PublishReply>> replies = new ArrayList<>();
    for (Case c : cases) {
      replies.add(RouterTestSupport.publishAsync(node.kit(), node.router(), c.request()).toCompletableFuture());
    }
    for (int i = 0; i < cases.size(); i++) {
      Case c = cases.get(i);
      sent++;
      PublishReply reply;
      try {
        reply = replies.get(i).get(BOUND.toMillis(), TimeUnit.MILLISECONDS);
      } catch (Exception e) {
        failures.add("publish " + c.name() + ": no reply within " + BOUND.toSeconds() + " s (" + e + ")");
        continue;
      }
      String problem = judge(reply, c.field());
      if (problem != null) failures.add("publish " + c.name() + ": " + problem);
    }
    // subscribes: a bad channel or subscription name, with a real subscriber
    TestProbe<Delivery> subscriber = node.kit().createTestProbe();
    for (Map.Entry<String, String> n : badNames().entrySet()) {
      for (boolean badChannel : List.of(true, false)) {
        sent++;
        String channel = badChannel ? n.getValue() : CHANNEL;
        String subscription = badChannel ? "hostile-sub" : n.getValue();
        String field = badChannel ? "channel" : "subscription";
        TestProbe<SubscribeReply> probe = node.kit().createTestProbe();
        node.router().tell(new RouterCommand.Subscribe(channel, subscription, subscriber.getRef(), probe.getRef()));
        SubscribeReply reply;
        try {
          reply = probe.receiveMessage(BOUND);
        } catch (AssertionError e) {
          failures.add("subscribe " + field + " " + n.getKey() + ": no reply within " + BOUND.toSeconds() + " s");
          continue;
        }
        if (!(reply instanceof SubscribeReply.SubscribeFailed f)) {
          failures.add("subscribe " + field + " " + n.getKey() + ": answered " + reply);
        } else if (f.errors().stream().noneMatch(e -> e.field().equals(field))) {
          failures.add("subscribe " + field + " " + n.getKey() + ": errors " + f.errors() + " do not name " + field);
        }
      }
    }
    // a negative or zero prefetch is refused where the command is built, naming it
    for (int prefetch : List.of(0, -1, Integer.MIN_VALUE)) {
      sent++;
      TestProbe<SubscribeReply> probe = node.kit().createTestProbe();
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new RouterCommand.Subscribe(CHANNEL, "s", subscriber.getRef(), probe.getRef(), prefetch));
      if (!e.getMessage().contains("prefetch")) failures.add("prefetch " + prefetch + ": " + e.getMessage());
    }
    // dead-letter reads with hostile arguments: an answer (an error or a page), never silence
    Function<String, TestProbe<DeadLetterPage>> probes = x -> node.kit().createTestProbe();
    List<Object[]> readCases = new ArrayList<>();
    badNames().forEach((k, v) -> readCases.add(new Object[]{"channel " + k, v, "-", 10, true}));
    for (String after : List.of("zz", "99999999999999999999-0", "-1", "\r\n", "n".repeat(10_000))) {
      readCases.add(new Object[]{"afterId " + printable(after), CHANNEL, after, 10, true});
    }
    for (int count : List.of(-5, 0, Integer.MAX_VALUE, Integer.MIN_VALUE)) {
      readCases.add(new Object[]{"count " + count, CHANNEL, "-", count, false});
    }
    for (Object[] r : readCases) {
      sent++;
      TestProbe<DeadLetterPage> probe = probes.apply("");
      node.router().tell(new RouterCommand.ReadDeadLetters((String) r[1], (String) r[2], (Integer) r[3],
          probe.getRef()));
      try {
        DeadLetterPage page = probe.receiveMessage(BOUND);
        boolean errorExpected = (Boolean) r[4] && !"-1".equals(r[2]);
        if (errorExpected && page.error() == null && !page.items().isEmpty()) {
          failures.add("read dead letters " + r[0] + ": items for a bad argument");
        }
      } catch (AssertionError e) {
        failures.add("read dead letters " + r[0] + ": no reply within " + BOUND.toSeconds() + " s");
      }
    }
    long took = (System.nanoTime() - start) / 1_000_000;
    // nothing of the rejected publishes reached Redis
    long written = node.redis().callLong("EXISTS", RedisKeys.stream(CHANNEL));
    // the router still works: a normal publish is delivered and acked
    List<Delivery> delivered = new java.util.concurrent.CopyOnWriteArrayList<>();
    node.subscribeAcking("hostile.after", "after", delivered::add);
    PublishReply ok = node.publish(PublishRequest.of("hostile.after", new byte[]{42}).withMessageId("after-1"));
    assertInstanceOf(PublishReply.Accepted.class, ok, () -> "reply " + ok);
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(1, delivered.size());
      return null;
    });
    RouterTestSupport.awaitNothingPending(node.kit().createTestProbe(), node.redis(), "hostile.after", "after",
        Duration.ofSeconds(10));
    log.info("HostileEmbeddedInputIT: {} hostile commands ({} publishes) answered in {} ms; {} failures{};"
        + " stream of the rejected channel exists: {}; after: published 1, delivered {}, acked (nothing pending)",
        sent, cases.size(), took, failures.size(), failures.isEmpty() ? "" : ":\n  " + String.join("\n  ", failures),
        written == 1, delivered.size());
    assertTrue(failures.isEmpty(), failures.size() + " of " + sent + " failed:\n" + String.join("\n", failures));
    assertEquals(0L, written, "a rejected publish reached Redis");
    assertEquals(1, delivered.size(), "the normal publish after the hostile ones was not delivered once");
    assertEquals("after-1", delivered.get(0).envelope().id());
    assertTrue(sent >= 100, "commands sent: " + sent);
  }

  /** What is wrong with a publish reply for a hostile value of {@code field}, or null. */
  static String judge(PublishReply reply, String field) {
    if (!(reply instanceof PublishReply.Rejected r)) return "answered " + reply;
    if (r.reason() != PublishReply.RejectReason.INVALID) return "rejected " + r.reason() + ": " + r.message();
    if (!Duration.ZERO.equals(r.retryAfter())) return "an invalid request with a retry-after " + r.retryAfter();
    for (FieldError e : r.errors()) {
      if (e.field().equals(field) || e.field().startsWith(field + ".")) {
        if (e.message().length() > 400) return "a message of " + e.message().length() + " characters: " + e.field();
        return null;
      }
    }
    return "errors " + r.errors() + " do not name " + field;
  }
}
