package io.redisrouter.router.http;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.service.RouterService;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import io.redisrouter.testkit.RedisExtension;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Graceful shutdown under load: publishers post over HTTP (each message with its own idempotency key) while an
 * embedded subscriber consumes; the service is stopped mid-stream. Requests during the shutdown are answered 503
 * (or refused once the port is closed); every message that got a 202 is delivered after a new node starts on the
 * same Redis and subscription (lost = 0; duplicates are counted). The shutdown steps run in order: stop accepting,
 * finish the accepted publishes, then stop the deliveries.
 */
class GracefulShutdownIT {
  private static final Logger log = LoggerFactory.getLogger(GracefulShutdownIT.class);
  static final String CHANNEL = "graceful";
  static final String SUBSCRIPTION = "workers";
  static final int PUBLISHERS = 4;

  @RegisterExtension
  static final RedisExtension redis = RedisExtension.create().withKit("graceful");

  /** What the publishers saw: per outcome, before and after stop() was called. */
  static final class Outcomes {
    final Map<String, LongAdder> before = new ConcurrentHashMap<>();
    final Map<String, LongAdder> during = new ConcurrentHashMap<>();

    void add(boolean afterStop, String outcome) {
      (afterStop ? during : before).computeIfAbsent(outcome, k -> new LongAdder()).increment();
    }

    long during(String outcome) {
      LongAdder a = during.get(outcome);
      return a == null ? 0 : a.sum();
    }

    @Override
    public String toString() {
      return "before stop " + new TreeMap<>(before) + ", after stop " + new TreeMap<>(during);
    }
  }

  @Test
  void everyAcceptedMessageIsDeliveredAcrossAStopAndRestart() throws Exception {
    MessageChecker checker = new MessageChecker();
    Outcomes outcomes = new Outcomes();
    AtomicInteger accepted = new AtomicInteger();
    AtomicInteger refusedAfterStop = new AtomicInteger();
    TestProbe<Object> probe = redis.kit().createTestProbe();
    List<String> shutdownLines;
    List<String> ioErrorIds = java.util.Collections.synchronizedList(new ArrayList<>());
    long[] backlog = new long[1]; // accepted but not delivered when the first node had stopped

    RouterService first;
    long stopMs;
    String lateAnswer;
    try (LogCapture logs = LogCapture.start()) {
      // a slow consumer on the first node (one delivery in flight, acked after 20 ms: at most ~50/s) so that a
      // backlog builds up, which the second node must deliver
      first = HttpTestSupport.start("graceful-1", redis.server(),
          "redis-router.channels.overrides.\"" + CHANNEL + "\".max-in-flight = 1");
      // a message counts as delivered when the subscriber is done with it and acks it (20 ms after it came)
      ActorRef<Object> sub1Raw = redis.kit().spawn(Behaviors.setup(ctx -> Behaviors.receiveMessage(m -> {
        if (m instanceof Delivery d) {
          ctx.scheduleOnce(Duration.ofMillis(20), ctx.getSelf(), new Done(d));
        } else if (m instanceof Done done) {
          checker.delivered(done.d().envelope().id());
          done.d().replyTo().tell(done.d().ack());
        }
        return Behaviors.same();
      })), "sub-1");
      ActorRef<Delivery> sub1 = sub1Raw.narrow();
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(redis.kit(), first.runtime().router(), CHANNEL, SUBSCRIPTION, sub1));

      var stopCalled = new java.util.concurrent.atomic.AtomicBoolean();
      var running = new java.util.concurrent.atomic.AtomicBoolean(true);
      String base = first.baseUrl();
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < PUBLISHERS; t++) {
        int thread = t;
        Thread th = new Thread(() -> {
          for (int n = 0; running.get() && n < 200_000; n++) {
            String id = "g" + thread + "-" + n;
            boolean afterStop = stopCalled.get();
            checker.sent(id);
            try {
              HttpResponse<String> r = HttpTestSupport.send(java.net.http.HttpRequest.newBuilder(
                  java.net.URI.create(base + "/v1/channels/" + CHANNEL + "/messages"))
                  .timeout(Duration.ofSeconds(30))
                  .header("Authorization", "Bearer " + HttpTestSupport.TOKEN)
                  .header("Content-Type", "application/json")
                  .POST(java.net.http.HttpRequest.BodyPublishers.ofString(
                      "{\"payload\": {\"n\": " + n + "}, \"idempotencyKey\": \"" + id + "\"}"))
                  .build());
              if (r.statusCode() == 202) {
                checker.accepted(id);
                accepted.incrementAndGet();
              }
              outcomes.add(afterStop, Integer.toString(r.statusCode()));
            } catch (ConnectException e) {
              outcomes.add(afterStop, "refused");
              if (afterStop) refusedAfterStop.incrementAndGet();
            } catch (IOException e) {
              outcomes.add(afterStop, "io-error " + e.getClass().getSimpleName());
              ioErrorIds.add(id);
              log.info("publisher {}: {} for {} ({} stop)", thread, e.toString(), id, afterStop ? "after" : "before");
            } catch (InterruptedException e) {
              return;
            }
          }
        }, "graceful-publisher-" + t);
        th.setDaemon(true);
        threads.add(th);
        th.start();
      }

      // mid-stream: publishes accepted and deliveries flowing
      probe.awaitAssert(Duration.ofSeconds(20), () -> {
        MessageChecker.Report r = checker.report();
        assertTrue(accepted.get() >= 500 && r.delivered() >= 20 && accepted.get() - r.delivered() >= 100,
            r.toString());
        return null;
      });
      // a client with a connection open before the shutdown, idle until it begins
      java.net.URI uri = java.net.URI.create(base);
      int lateStatus;
      try (RawHttp raw = new RawHttp(uri.getHost(), uri.getPort())) {
        assertEquals(200, raw.request("GET", "/health/live", null), "the idle connection works");
        // Redis holds its writes for 1.5 s as the shutdown begins: the publishes in flight wait, and the drain of
        // the requests in flight with them
        redis.server().call("CLIENT", "PAUSE", "1500", "WRITE");
        stopCalled.set(true);
        long t0 = System.nanoTime();
        java.util.concurrent.CompletableFuture<?> stopping = first.stop().toCompletableFuture();
        probe.awaitAssert(Duration.ofSeconds(5), Duration.ofMillis(10), () -> {
          assertTrue(logs.linesContaining("HTTP endpoint stops accepting").size() > 0, "unbind logged");
          return null;
        });
        // a publish on that connection now: the port is closed, but an open connection is still served until the
        // drain ends; the answer waits for Redis like the others, then comes with "Connection: close"
        checker.sent("late-raw");
        lateStatus = raw.request("POST", "/v1/channels/" + CHANNEL + "/messages",
            "{\"payload\": \"late\", \"idempotencyKey\": \"late-raw\"}");
        if (lateStatus == 202) {
          checker.accepted("late-raw");
          accepted.incrementAndGet();
        }
        outcomes.add(true, "raw " + lateStatus);
        lateAnswer = lateStatus + (raw.closeAsked ? " close" : " keep-alive");
        stopping.get(60, TimeUnit.SECONDS);
        stopMs = (System.nanoTime() - t0) / 1_000_000;
      }
      // the publishers go on against the closed port for a while
      probe.awaitAssert(Duration.ofSeconds(10), () -> {
        assertTrue(refusedAfterStop.get() >= 2 * PUBLISHERS, outcomes.toString());
        return null;
      });
      running.set(false);
      for (Thread th : threads) th.join(30_000);
      backlog[0] = accepted.get() - checker.report().delivered();
      long ioWritten = ioErrorIds.stream()
          .filter(id -> redis.server().callLong("EXISTS", RedisKeys.dedup(CHANNEL, id)) == 1)
          .count();
      log.info("GracefulShutdownIT: {} requests failed without a response (connection closed as the server shut down),"
          + " {} of them were written anyway", ioErrorIds.size(), ioWritten);
      // a request the server took is answered before its connection closes (HttpServer drains before terminate)
      assertEquals(0, ioWritten, "accepted but the connection closed before the answer: " + ioErrorIds);
      shutdownLines = logs.lines();
      log.info("GracefulShutdownIT: stop took {} ms; {}", stopMs, outcomes);
    }

    // the steps ran in order: stop accepting, answer the requests in flight, finish the accepted publishes, then
    // the router (and its deliveries) stop
    int unbind = indexOf(shutdownLines, "HTTP endpoint stops accepting");
    int requestsDone = indexOf(shutdownLines, "HTTP requests drained");
    int drain = indexOf(shutdownLines, "finishing accepted publishes");
    int stopped = indexOf(shutdownLines, "stopped");
    assertTrue(unbind >= 0 && unbind < requestsDone && requestsDone < drain && drain < stopped,
        "shutdown order: unbind=" + unbind + " requests-done=" + requestsDone + " drain=" + drain
            + " stopped=" + stopped);

    // during the shutdown only 202 (accepted before the drain), 503 or a refused connection
    for (String outcome : outcomes.during.keySet()) {
      assertTrue(List.of("202", "503", "refused", "raw 202").contains(outcome) || outcome.startsWith("io-error"),
          "unexpected outcome during shutdown: " + outcomes);
    }
    assertEquals(0, outcomes.during("500"), outcomes.toString());
    // the drain happened: a request on an open connection after the port closed was answered (after Redis let the
    // write through) and the client was told to close; the stop waited for it
    assertEquals("202 close", lateAnswer, outcomes.toString());
    assertTrue(stopMs >= 1000, "the drain waited for the publishes Redis held: stop took " + stopMs + " ms");
    assertTrue(outcomes.before.keySet().stream().allMatch(o -> o.equals("202")), outcomes.toString());

    // a new node on the same Redis and subscription delivers what the first did not
    AtomicInteger deliveredBySecond = new AtomicInteger();
    long written = redis.server().callLong("XLEN", RedisKeys.stream(CHANNEL));
    assertTrue(written >= accepted.get(), "every 202 is in the stream: " + written + " < " + accepted.get());
    RouterService second = HttpTestSupport.start("graceful-2", redis.server(), "");
    try {
      ActorRef<Delivery> sub2 = redis.kit().spawn(RouterTestSupport.acking(d -> {
        checker.delivered(d.envelope().id());
        deliveredBySecond.incrementAndGet();
      }), "sub-2");
      assertInstanceOf(SubscribeReply.Subscribed.class,
          RouterTestSupport.subscribe(redis.kit(), second.runtime().router(), CHANNEL, SUBSCRIPTION, sub2));
      probe.awaitAssert(Duration.ofSeconds(30), Duration.ofMillis(200), () -> {
        MessageChecker.Report r = checker.report();
        assertEquals(0, r.lost(), "lost ids (first 10): " + checker.lostIds().stream().limit(10).toList() + " " + r);
        // and Redis agrees: nothing left pending (an ack lost in the shutdown would leave its entry pending until
        // the second node's ack timeout takes it over and its subscriber acks it)
        assertEquals(0L, (Long) redis.server().callList("XPENDING", RedisKeys.stream(CHANNEL), SUBSCRIPTION).get(0),
            "entries still pending");
        return null;
      });
    } finally {
      second.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    checker.logReport("GracefulShutdownIT");
    MessageChecker.Report r = checker.report();
    assertEquals(0, r.lost(), r.toString());
    assertEquals(0, r.unexpected(), r.toString());
    assertEquals(accepted.get(), r.accepted(), r.toString());
    assertTrue(backlog[0] > 0, "a backlog was left when the first node stopped");
    assertTrue(deliveredBySecond.get() >= backlog[0], "the second node delivered the backlog: "
        + deliveredBySecond.get() + " < " + backlog[0]);
  }

  /**
   * The "503 while shutting down" path: a request still running when the drain ends ({@code http.shutdown.drain-max})
   * is answered 503 shutting-down with {@code Connection: close}, instead of having its connection closed unanswered
   * by terminate (which Pekko HTTP does to a request still running at its deadline). Here Redis holds the publish
   * (CLIENT PAUSE WRITE 2 s) past a 300 ms drain-max. The answer says the publish may still take effect: it does,
   * once Redis resumes, and the client's retry on another node with the same idempotency key is not written twice.
   */
  @Test
  void aRequestStillRunningWhenTheDrainEndsIsAnswered503AndItsRetryIsNotWrittenTwice() throws Exception {
    String channel = "graceful-503";
    try (LogCapture logs = LogCapture.start()) {
      RouterService node = HttpTestSupport.start("graceful-503", redis.server(), String.join("\n",
          "redis-router.http.shutdown.drain-max = 300ms",
          "redis-router.http.shutdown.terminate-deadline = 5s"));
      java.net.URI uri = java.net.URI.create(node.baseUrl());
      int heldStatus;
      long heldMs;
      String heldBody;
      boolean heldClose;
      try (RawHttp conn = new RawHttp(uri.getHost(), uri.getPort())) {
        assertEquals(202, conn.request("POST", "/v1/channels/" + channel + "/messages",
            "{\"payload\": \"before\", \"idempotencyKey\": \"before\"}"), "the connection works");
        redis.server().call("CLIENT", "PAUSE", "2000", "WRITE");
        conn.send("POST", "/v1/channels/" + channel + "/messages",
            "{\"payload\": \"held\", \"idempotencyKey\": \"held\"}");
        TestProbe<Object> probe = redis.kit().createTestProbe();
        probe.awaitAssert(Duration.ofSeconds(5), Duration.ofMillis(10), () -> {
          assertEquals(1, node.http().inFlight(), "the held publish is in flight");
          return null;
        });
        long stopAt = System.nanoTime();
        java.util.concurrent.CompletableFuture<?> stopping = node.stop().toCompletableFuture();
        heldStatus = conn.read();
        heldMs = (System.nanoTime() - stopAt) / 1_000_000;
        heldBody = conn.lastBody;
        heldClose = conn.closeAsked;
        stopping.get(30, TimeUnit.SECONDS);
      }
      log.info("GracefulShutdownIT 503 path: a publish Redis held past drain-max (300 ms) answered {} {} ms after"
          + " stop(): {}", heldStatus, heldMs, heldBody);
      assertEquals(503, heldStatus, "a request still running when the drain ends");
      assertTrue(heldBody.contains("shutting-down") && heldBody.contains("same idempotencyKey"),
          "the JSON error body says what to do: " + heldBody);
      assertTrue(heldClose, "and the client is told to close the connection");
      assertTrue(heldMs >= 250 && heldMs < 1500, "at the end of the drain (300 ms), not at the end of the 2 s"
          + " pause: " + heldMs + " ms");
      assertEquals(1, logs.linesContaining("requests still running after http.shutdown.drain-max").size(),
          "the cut-off is logged");
      // it did take effect once Redis let writes through: the router finished the publish it had accepted
      assertEquals(1L, redis.server().callLong("EXISTS", RedisKeys.dedup(channel, "held")),
          "the held publish was written");
    }
    // the client retries on another node with the same key: answered as a duplicate, not written twice
    long lengthBefore = redis.server().callLong("XLEN", RedisKeys.stream(channel));
    RouterService other = HttpTestSupport.start("graceful-503-retry", redis.server(), "");
    try {
      HttpResponse<String> retry = HttpTestSupport.send(java.net.http.HttpRequest.newBuilder(
          java.net.URI.create(other.baseUrl() + "/v1/channels/" + channel + "/messages"))
          .header("Authorization", "Bearer " + HttpTestSupport.TOKEN)
          .header("Content-Type", "application/json")
          .POST(java.net.http.HttpRequest.BodyPublishers.ofString(
              "{\"payload\": \"held\", \"idempotencyKey\": \"held\"}"))
          .build());
      assertEquals(202, retry.statusCode(), retry.body());
      assertTrue(retry.body().contains("\"duplicate\":true"), "the retry is a duplicate: " + retry.body());
      assertEquals(lengthBefore, redis.server().callLong("XLEN", RedisKeys.stream(channel)), "nothing written twice");
    } finally {
      other.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  private record Done(Delivery d) {}

  /** One HTTP/1.1 connection, kept open, for requests written by hand (the JDK client picks its own connections). */
  private static final class RawHttp implements AutoCloseable {
    private final java.net.Socket socket;
    private final java.io.InputStream in;
    private final String host;
    /** The last answer asked to close the connection. */
    boolean closeAsked;
    /** The last answer's body. */
    String lastBody = "";

    RawHttp(String host, int port) throws IOException {
      this.host = host;
      this.socket = new java.net.Socket(host, port);
      socket.setSoTimeout(10_000);
      this.in = new java.io.BufferedInputStream(socket.getInputStream());
    }

    /** Sends one request and reads its whole answer; returns the status code. */
    int request(String method, String path, String json) throws IOException {
      send(method, path, json);
      return read();
    }

    /** Writes one request (answers come in order: read them with {@link #read()}). */
    void send(String method, String path, String json) throws IOException {
      byte[] body = json == null ? new byte[0] : json.getBytes(java.nio.charset.StandardCharsets.UTF_8);
      String head = method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer "
          + HttpTestSupport.TOKEN + "\r\n" + (json == null ? "" : "Content-Type: application/json\r\n")
          + "Content-Length: " + body.length + "\r\n\r\n";
      var out = socket.getOutputStream();
      out.write(head.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
    }

    /** Reads the next answer whole; returns its status code. */
    int read() throws IOException {
      String status = line();
      int length = 0;
      closeAsked = false;
      for (String h = line(); !h.isEmpty(); h = line()) {
        if (h.equalsIgnoreCase("connection: close")) closeAsked = true;
        if (h.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
          length = Integer.parseInt(h.substring(15).trim());
        }
      }
      lastBody = new String(in.readNBytes(length), java.nio.charset.StandardCharsets.UTF_8);
      return Integer.parseInt(status.split(" ")[1]);
    }

    private String line() throws IOException {
      StringBuilder b = new StringBuilder();
      for (int c = in.read(); c != '\n'; c = in.read()) {
        if (c < 0) throw new IOException("connection closed after: " + b);
        if (c != '\r') b.append((char) c);
      }
      return b.toString();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  private static int indexOf(List<String> lines, String text) {
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).contains(text)) return i;
    }
    return -1;
  }
}
