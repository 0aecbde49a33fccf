package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A webhook endpoint for tests (the JDK's {@code com.sun.net.httpserver} on 127.0.0.1, a free port): every POST is
 * recorded as a {@link Call} and answered with the status the {@link Responder} returns. It counts calls and 2xx
 * answers per message id, and the calls being handled at once (current and highest). A batched call (header
 * {@code X-Router-Batch-Size}, a JSON array of deliveries) counts for each message in it, and its message ids are kept
 * in call order ({@link #batches()}). It can be stopped and started again on the same port, to play a subscriber that
 * is down for a while.
 */
final class WebhookReceiver implements AutoCloseable {

  /**
   * One webhook call as received; a batched call has no message id, delivery id, attempt or deadline of its own (they
   * are in each element of its body, a JSON array).
   */
  record Call(String messageId, String deliveryId, int attempt, String subscription, String deadline,
      JsonNode body, long receivedNanos, String node) {}

  /** A batched call: the message ids and attempts of its deliveries, in the order of its body. */
  record Batch(List<String> messageIds, List<Integer> attempts, String sizeHeader) {}

  /** A call whose answer was written ({@link System#nanoTime} when it was). */
  record Answered(Call call, int status, long answeredNanos) {}

  /**
   * Decides the answer to a call: an HTTP status, or {@link #NO_ANSWER} to hold the call without answering until the
   * receiver stops (the handler may also block for a while itself: each call has a thread of its own).
   */
  @FunctionalInterface
  interface Responder {
    int answer(Call call) throws Exception;
  }

  static {
    // The JDK server writes the response headers and the body in two segments; without TCP_NODELAY the body waits
    // for the client's delayed ACK (40 ms on Linux) and every call takes 40 ms more. Read once, when the JDK server
    // classes load: nothing in these tests starts a JDK HTTP server before this class.
    System.setProperty("sun.net.httpserver.nodelay", "true");
  }

  /** {@link Responder} result: never answer this call (held until {@link #stop()}). */
  static final int NO_ANSWER = -1;

  private final Responder responder;
  private final String path;
  private final int threads;
  private volatile int port;
  private volatile HttpServer server;
  private volatile ExecutorService executor;
  private volatile CountDownLatch release = new CountDownLatch(1);

  final ConcurrentLinkedQueue<Call> calls = new ConcurrentLinkedQueue<>();
  private final ConcurrentLinkedQueue<Answered> answered = new ConcurrentLinkedQueue<>();
  private final ConcurrentLinkedQueue<Batch> batches = new ConcurrentLinkedQueue<>();
  private final Map<String, AtomicInteger> callsById = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> okById = new ConcurrentHashMap<>();
  /** Calls that did not match the documented webhook callback (headers, Delivery body without ackDeadline). */
  private final ConcurrentLinkedQueue<String> contractProblems = new ConcurrentLinkedQueue<>();
  private final AtomicInteger current = new AtomicInteger();
  private final AtomicInteger highest = new AtomicInteger();
  private final AtomicLong okAnswers = new AtomicLong();
  private final AtomicLong errorAnswers = new AtomicLong();

  private WebhookReceiver(Responder responder, String path, int threads) {
    this.responder = responder;
    this.path = path;
    this.threads = threads;
  }

  /** Starts a receiver on a free port, handling up to {@code threads} calls at once. */
  static WebhookReceiver start(int threads, Responder responder) {
    WebhookReceiver r = new WebhookReceiver(responder, "/hook", threads);
    r.bind(0);
    return r;
  }

  /** The URL to give a subscription. */
  String url() {
    return "http://127.0.0.1:" + port + path;
  }

  int port() {
    return port;
  }

  /** Calls received so far for {@code messageId} (whatever the answer). */
  int callsFor(String messageId) {
    AtomicInteger n = callsById.get(messageId);
    return n == null ? 0 : n.get();
  }

  /** 2xx answers given for {@code messageId}. */
  int okFor(String messageId) {
    AtomicInteger n = okById.get(messageId);
    return n == null ? 0 : n.get();
  }

  /** Message id → number of 2xx answers, live view. */
  Map<String, AtomicInteger> okById() {
    return okById;
  }

  /** Every call so far, in arrival order. */
  List<Call> calls() {
    return List.copyOf(calls);
  }

  List<Call> callsOf(String messageId) {
    return calls.stream().filter(c -> messageId.equals(c.messageId())).toList();
  }

  /** Every batched call so far, in arrival order. */
  List<Batch> batches() {
    return List.copyOf(batches);
  }

  /** Every call answered so far, in the order the answers were written. */
  List<Answered> answered() {
    return List.copyOf(answered);
  }

  /** Calls being handled now (received, not yet answered). */
  int inFlight() {
    return current.get();
  }

  /** Most calls ever handled at the same time. */
  int highestConcurrency() {
    return highest.get();
  }

  long okAnswers() {
    return okAnswers.get();
  }

  long errorAnswers() {
    return errorAnswers.get();
  }

  /** Stops listening and closes every connection; held calls are released (their clients see the close). */
  synchronized void stop() {
    HttpServer s = server;
    if (s == null) return;
    server = null;
    release.countDown();
    s.stop(0);
    executor.shutdownNow();
    try {
      executor.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Listens again on the same port (retrying while the port is still being released). */
  synchronized void restart() {
    if (server != null) throw new IllegalStateException("running");
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      try {
        bind(port);
        return;
      } catch (UncheckedIOException e) {
        if (!(e.getCause() instanceof BindException) || System.nanoTime() > deadline) throw e;
        java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(50).toNanos()); // port still held
      }
    }
  }

  @Override
  public void close() {
    stop();
    if (!contractProblems.isEmpty()) {
      throw new AssertionError(contractProblems.size() + " webhook calls did not match the OpenAPI callback"
          + " 'delivery': " + contractProblems.stream().limit(5).toList());
    }
  }

  /**
   * Holds a call to the documented callback: the X-Router-* headers it requires, and a body that is a
   * {@code Delivery} without {@code ackDeadline}.
   */
  private void checkContract(com.sun.net.httpserver.Headers headers, byte[] body) {
    if (headers.getFirst("X-Router-Batch-Size") != null) {
      checkBatchContract(headers, body);
      return;
    }
    for (String h : List.of("X-Router-Delivery-Id", "X-Router-Message-Id", "X-Router-Attempt",
        "X-Router-Subscription", "X-Router-Deadline", "X-Router-Node")) {
      if (headers.getFirst(h) == null) contractProblems.add("no " + h + " header");
    }
    try {
      com.fasterxml.jackson.databind.JsonNode json = HttpTestSupport.JSON.readTree(body);
      List<String> problems = ApiContract.validate("/components/schemas/Delivery", json);
      if (!problems.isEmpty()) contractProblems.add(problems + " in " + json);
      if (json.has("ackDeadline")) contractProblems.add("ackDeadline in a webhook call: " + json);
    } catch (IOException e) {
      contractProblems.add("a body that is not JSON: " + e.getMessage());
    }
  }

  /**
   * Holds a batched call to the documented callback: X-Router-Subscription, X-Router-Node and X-Router-Batch-Size
   * (the array's length), and a body that is a {@code DeliveryBatch}, none with {@code ackDeadline}.
   */
  private void checkBatchContract(com.sun.net.httpserver.Headers headers, byte[] body) {
    for (String h : List.of("X-Router-Subscription", "X-Router-Node")) {
      if (headers.getFirst(h) == null) contractProblems.add("no " + h + " header on a batch");
    }
    try {
      JsonNode json = HttpTestSupport.JSON.readTree(body);
      List<String> problems = ApiContract.validate("/components/schemas/DeliveryBatch", json);
      if (!problems.isEmpty()) contractProblems.add(problems + " in " + json);
      if (!String.valueOf(json.size()).equals(headers.getFirst("X-Router-Batch-Size"))) {
        contractProblems.add("X-Router-Batch-Size " + headers.getFirst("X-Router-Batch-Size") + " for " + json.size()
            + " deliveries");
      }
      for (JsonNode d : json) {
        if (d.has("ackDeadline")) contractProblems.add("ackDeadline in a webhook batch: " + d);
      }
    } catch (IOException e) {
      contractProblems.add("a body that is not JSON: " + e.getMessage());
    }
  }

  private void bind(int onPort) {
    try {
      HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", onPort), 1024);
      ExecutorService ex = Executors.newFixedThreadPool(threads, r -> {
        Thread t = new Thread(r, "webhook-receiver");
        t.setDaemon(true);
        return t;
      });
      s.setExecutor(ex);
      s.createContext(path, this::handle);
      release = new CountDownLatch(1);
      s.start();
      executor = ex;
      server = s;
      port = s.getAddress().getPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    int now = current.incrementAndGet();
    highest.accumulateAndGet(now, Math::max);
    boolean counted = true;
    try (ex) {
      byte[] bytes;
      try (InputStream in = ex.getRequestBody()) {
        bytes = in.readAllBytes();
      }
      checkContract(ex.getRequestHeaders(), bytes);
      String messageId = ex.getRequestHeaders().getFirst("X-Router-Message-Id");
      String attempt = ex.getRequestHeaders().getFirst("X-Router-Attempt");
      Call call = new Call(messageId, ex.getRequestHeaders().getFirst("X-Router-Delivery-Id"),
          attempt == null ? -1 : Integer.parseInt(attempt), ex.getRequestHeaders().getFirst("X-Router-Subscription"),
          ex.getRequestHeaders().getFirst("X-Router-Deadline"), HttpTestSupport.JSON.readTree(bytes),
          System.nanoTime(), ex.getRequestHeaders().getFirst("X-Router-Node"));
      calls.add(call);
      List<String> ids = List.of(String.valueOf(messageId));
      if (ex.getRequestHeaders().getFirst("X-Router-Batch-Size") != null && call.body().isArray()) {
        List<String> inBatch = new java.util.ArrayList<>();
        List<Integer> attempts = new java.util.ArrayList<>();
        for (JsonNode d : call.body()) {
          inBatch.add(d.path("messageId").asText());
          attempts.add(d.path("attempt").asInt(-1));
        }
        ids = List.copyOf(inBatch);
        batches.add(new Batch(ids, List.copyOf(attempts), ex.getRequestHeaders().getFirst("X-Router-Batch-Size")));
      }
      for (String id : ids) callsById.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
      int status;
      try {
        status = responder.answer(call);
      } catch (InterruptedException e) {
        return; // stopping
      } catch (Exception e) {
        status = 599;
      }
      if (status == NO_ANSWER) {
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return; // closed without an answer
      }
      byte[] answer = ("{\"status\":" + status + "}").getBytes();
      // no longer in flight once the answer starts on its way: the client may send its next call as soon as it has
      // it, and that call must not be counted next to this one (this thread may not have got here yet)
      current.decrementAndGet();
      counted = false;
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(status, answer.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(answer);
      }
      answered.add(new Answered(call, status, System.nanoTime()));
      // counted once the answer is written (it may still be lost on the way: then the router retries)
      if (status >= 200 && status < 300) {
        for (String id : ids) okById.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
        okAnswers.incrementAndGet();
      } else {
        errorAnswers.incrementAndGet();
      }
    } finally {
      if (counted) current.decrementAndGet();
    }
  }
}
