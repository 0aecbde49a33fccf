package io.redisrouter.router.consume;

import io.redisrouter.router.internal.DeliveryIds;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.internal.Stages;
import io.redisrouter.router.internal.Supervision;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.scaladsl.Http.HostConnectionPool;
import org.apache.pekko.http.scaladsl.HttpExt;
import org.apache.pekko.http.scaladsl.model.HttpRequest;
import org.apache.pekko.http.scaladsl.model.HttpResponse;
import org.apache.pekko.http.scaladsl.settings.ConnectionPoolSettings;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import scala.Tuple2;
import scala.concurrent.duration.FiniteDuration;
import scala.util.Try;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * Pushes the deliveries of one webhook subscription to its URL: a member of the subscription like any embedded
 * subscriber, that POSTs each delivery (the JSON of {@link DeliveryView}) with at most {@code parallelism} calls in
 * flight, and answers the core by the result: 2xx acks; 4xx other than 408 and 429 nacks with "do not retry" (the
 * core dead-letters it as {@code rejected}); 5xx, 408, 429, a timeout or a connection error nack for a retry with
 * backoff, until the deadline or the attempt limit. With a {@code batchSize} above 1 a call carries up to that many
 * deliveries, a JSON array in the order they came from the core, and its answer settles all of them the same way: one
 * HTTP exchange and one round of acks for many messages, which is what a fast receiver needs (one call per message
 * is bound by the per-call CPU of both sides). It takes {@code parallelism} x {@code batchSize} deliveries at once
 * from the core (its prefetch), so its queue is bounded too; a message is in at most one call at a time, a newer
 * attempt replaces a waiting older one, and a
 * delivery that waited for a slot so long that its call could not end before the core's ack timeout is nacked
 * instead of pushed (the core may have given up on that attempt, or on the message, already).
 *
 * <p>The calls go through a connection pool of its own (a Pekko HTTP host connection pool of {@code parallelism}
 * connections, other settings from {@code pekko.http.host-connection-pool}), so subscriptions do not queue behind
 * each other. A call without an answer within {@code timeoutMs} is nacked at once (the core retries it on its
 * schedule), but it keeps its connection and its slot until the answer comes, or until the connection was idle for
 * the longer of the timeout and the channel's ack timeout (then it is closed): a receiver never gets more than
 * {@code parallelism} calls at once, even when it is slower than the timeout, and a 2xx that arrives late still acks
 * the message (the core takes an ack of any attempt).
 *
 * <p>Why one file of about 600 lines: the waiting queue, the call table, the slots and the client stream are one state
 * machine whose invariants (one call per message, at most {@code parallelism} open, every delivery answered once)
 * hold only when they change together in one message handler.
 */
public final class WebhookPusher extends AbstractBehavior<WebhookPusher.Command> {

  public interface Command {}

  /** Failed calls are logged at most this often per subscription (with the count since the last line). */
  static final Duration WARN_EVERY = Duration.ofSeconds(10);

  /**
   * How many acked deliveries are remembered to drop their stale retries: at least this many, and at least four
   * prefetch windows.
   */
  static final int RECENTLY_ACKED = 4096;

  /**
   * The subscription was deleted, redefined or moves to another node: start no new call, let the calls in flight end
   * (each is acked or nacked by its answer, at the latest at the webhook timeout), then leave the subscription and
   * stop. {@code left}, when not null, is told {@link Done} once the router confirmed the unsubscribe (this node's
   * consumer of the group reads nothing more from then on). So a subscription that moves is pushed by one node at a
   * time: the next owner starts once this one has left, with nothing of this one's still on the wire.
   */
  public record Stop(ActorRef<Done> left) implements Command {}

  /** Longest a stopping pusher waits for its calls in flight beyond the webhook timeout (their answers). */
  static final Duration DRAIN_MARGIN = Duration.ofMillis(500);

  /**
   * Calls in flight are waited for at most this long when the pusher stops (a longer webhook timeout is cut there:
   * those calls stay pending and are delivered again), so that a node leaving the cluster hands its subscriptions
   * over within the sharding hand-off phase.
   */
  static final Duration DRAIN_MAX = Duration.ofSeconds(10);

  /** The longest {@link Stop} takes before the unsubscribe is sent: the webhook timeout (at most 10 s) plus 500 ms. */
  static Duration drainBound(HttpSubscription subscription) {
    Duration t = subscription.webhook().timeout();
    return (t.compareTo(DRAIN_MAX) > 0 ? DRAIN_MAX : t).plus(DRAIN_MARGIN);
  }

  /**
   * The longest any pusher's {@link Stop} takes until it confirms: the longest drain, then the router's unsubscribe
   * (what an owner asking it to stop waits at most).
   */
  public static final Duration LONGEST_STOP = DRAIN_MAX.plus(DRAIN_MARGIN).plus(PullGateway.LEAVE_TIMEOUT);

  private enum DrainTimedOut implements Command { INSTANCE }

  private record Delivered(Delivery delivery) implements Command {}

  /** The HTTP exchange of call {@code callId} ended: a status (the response body was read), or the error. */
  private record Posted(long callId, int status, Throwable error) implements Command {}

  private record CallTimedOut(long callId) implements Command {}

  private record SubscribeAnswer(SubscribeReply reply) implements Command {}

  /**
   * The client stream ended: failed (restarted), or completed because its pool was shut down (the service stops and
   * shuts every client pool down first); what it carried gets no answer.
   */
  private record ClientEnded(Object client, Throwable error) implements Command {}

  private enum Rejoin implements Command { INSTANCE }

  private enum RestartClient implements Command { INSTANCE }

  /**
   * The message a delivery is an attempt of: its stream entry (the delivery id without the attempt). Every attempt of
   * one message has the same key.
   */
  static String key(Delivery d) {
    return DeliveryIds.entry(d.deliveryId());
  }

  /** A call on its way to the pool: it must start by {@code startBy} (a {@link System#nanoTime}) or not at all. */
  private record Outgoing(HttpRequest request, long callId, long startBy) {}

  /** A call that reached the pool too late to end before the core's ack timeout of its attempt. */
  static final class TooLateToCall extends RuntimeException {
    TooLateToCall() {
      super("not sent: it reached the connection pool too late to end before the attempt's ack timeout (the node was"
          + " paused or overloaded)", null, false, false);
    }
  }

  /** A delivery waiting for a slot since {@code sinceNanos}. */
  private record Waiting(Delivery delivery, long sinceNanos) {}

  /**
   * A call in flight with its deliveries (one, or a batch in delivery order); {@code answered} once the core got their
   * acks or nacks (at the latest at the timeout).
   */
  private static final class Call {
    final List<Delivery> deliveries;
    boolean answered;

    Call(List<Delivery> deliveries) {
      this.deliveries = deliveries;
    }
  }

  /**
   * Restarted with backoff after a failure: the calls in flight are answered as failed (the core retries them), the
   * client pool is shut down, and the new incarnation starts a pool and joins the subscription again.
   */
  public static Behavior<Command> create(HttpSubscription subscription, ChannelPolicy policy,
      ActorRef<RouterCommand> router, RouterMetrics metrics, String nodeId) {
    if (!subscription.isPush()) throw new IllegalArgumentException(subscription.name() + " has no webhook");
    return Supervision.restarting("the webhook pusher of HTTP subscription '" + subscription.name() + "'", metrics,
        ctx -> Behaviors.withTimers(timers -> new WebhookPusher(ctx, timers, subscription, policy, router,
            nodeId)));
  }

  private final TimerScheduler<Command> timers;
  private final HttpSubscription subscription;
  private final HttpSubscription.Webhook webhook;
  private final ChannelPolicy policy;
  /**
   * Longest a delivery may wait for a slot: its call (up to the webhook timeout) must be able to end before the
   * core's ack timeout of the attempt, which started before the delivery got here.
   */
  private final long waitBudgetNanos;
  private final ActorRef<RouterCommand> router;
  /** This router node's id, sent as {@code X-Router-Node}: which node made a call. */
  private final String nodeId;
  private final ActorRef<Delivery> deliveries;
  private final ActorRef<SubscribeReply> subscribeReplies;
  private final Materializer materializer;
  private final boolean https;
  private final String host;
  private final int port;
  private final String requestUri;
  /**
   * Deliveries waiting for a slot, in arrival order, by message ({@link #key}): a newer attempt of the same message replaces the waiting one in its place (the core has
   * given up on that one).
   */
  private final LinkedHashMap<String, Waiting> waiting = new LinkedHashMap<>();
  /** The calls in flight by call id: at most {@code parallelism}. */
  private final Map<Long, Call> calls = new HashMap<>();
  private long nextCallId;
  /** The messages ({@link #key}) of the calls in flight: a message is never in two calls at once. */
  private final Set<String> calling = new HashSet<>();
  /**
   * Messages this pusher acked lately: a delivery of one that was on its way meanwhile (a retry sent just before a
   * late 2xx came) is stale and not pushed.
   */
  private final Set<String> acked;
  private BoundedSourceQueue<Outgoing> requests;
  private HostConnectionPool pool;
  /** Failed calls since the last warning, and when that was: at most one warning per {@link #WARN_EVERY}. */
  private long failedSinceWarning;
  private long lastWarningNanos;
  private boolean warned;
  /**
   * Set once a {@link Stop} came: no new call starts, and the pusher leaves once its calls have been answered; then
   * {@link #toldWhenLeft} (the stops' {@code left}, when not null) hear.
   */
  private boolean stopping;
  private final List<ActorRef<Done>> toldWhenLeft = new ArrayList<>(1);

  private WebhookPusher(ActorContext<Command> ctx, TimerScheduler<Command> timers, HttpSubscription subscription,
      ChannelPolicy policy, ActorRef<RouterCommand> router, String nodeId) {
    super(ctx);
    this.nodeId = nodeId;
    this.timers = timers;
    this.subscription = subscription;
    this.webhook = subscription.webhook();
    this.policy = policy;
    long ack = policy.ackTimeout().toNanos();
    long call = webhook.timeout().toNanos();
    this.waitBudgetNanos = call < ack ? ack - call : ack;
    int remembered = Math.max(RECENTLY_ACKED, 4 * prefetch(webhook));
    this.acked = java.util.Collections.newSetFromMap(new LinkedHashMap<>() {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
        return size() > remembered;
      }
    });
    this.router = router;
    this.deliveries = ctx.messageAdapter(Delivery.class, Delivered::new);
    this.subscribeReplies = ctx.messageAdapter(SubscribeReply.class, SubscribeAnswer::new);
    // the system's materializer: the pool is shut down in order when this actor stops (PostStop), not cut off
    this.materializer = Materializer.matFromSystem(ctx.getSystem());
    java.net.URI url = webhook.url();
    boolean https = "https".equalsIgnoreCase(url.getScheme());
    int port = url.getPort() >= 0 ? url.getPort() : https ? 443 : 80;
    this.https = https;
    this.host = url.getHost();
    this.port = port;
    String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
    this.requestUri = url.getRawQuery() == null ? path : path + "?" + url.getRawQuery();
    if (webhook.timeout().compareTo(policy.ackTimeout()) >= 0) {
      ctx.getLog().warn("webhook subscription '{}': its timeout ({} ms) is not shorter than the ack-timeout of channel"
          + " '{}' ({} ms): a slow call counts as a failed attempt before its answer is awaited; give the"
          + " webhook a shorter timeoutMs or the channel a longer ack-timeout", subscription.name(),
          webhook.timeout().toMillis(), subscription.channel(), policy.ackTimeout().toMillis());
    }
    startClient();
    join();
  }

  /**
   * The pool of one subscription: {@code parallelism} connections; connecting may take up to the webhook timeout; a
   * connection that carries no byte for the longer of the webhook timeout and the ack timeout is closed (which ends a
   * call that never gets an answer); no retries by the pool (the core retries).
   */
  static ConnectionPoolSettings poolSettings(ConnectionPoolSettings base, HttpSubscription.Webhook webhook,
      Duration ackTimeout) {
    int p = webhook.parallelism();
    FiniteDuration timeout = FiniteDuration.create(webhook.timeout().toMillis(), TimeUnit.MILLISECONDS);
    FiniteDuration idle = FiniteDuration.create(Math.max(webhook.timeout().toMillis(), ackTimeout.toMillis()),
        TimeUnit.MILLISECONDS);
    return base
        .withMaxConnections(p)
        .withMinConnections(0)
        .withMaxOpenRequests(Integer.highestOneBit(Math.max(1, p - 1)) << 1) // a power of two >= parallelism
        .withPipeliningLimit(1)
        .withMaxRetries(0)
        .withConnectionSettings(base.connectionSettings().withIdleTimeout(idle).withConnectingTimeout(timeout));
  }

  private void startClient() {
    ActorRef<Command> self = getContext().getSelf();
    ClassicActorSystemProvider system = getContext().getSystem();
    HttpExt ext = org.apache.pekko.http.scaladsl.Http.apply(system);
    ConnectionPoolSettings settings = poolSettings(ConnectionPoolSettings.apply(system.classicSystem().settings()
        .config()), webhook, policy.ackTimeout());
    LoggingAdapter log = system.classicSystem().log();
    // a pool of its own (the Scala API: javadsl's newHostConnectionPool with settings always speaks TLS)
    Flow<Tuple2<HttpRequest, Long>, Tuple2<Try<HttpResponse>, Long>, HostConnectionPool> client = (https
        ? ext.<Long>newHostConnectionPoolHttps(host, port, ext.defaultClientHttpsContext(), settings, log,
            materializer)
        : ext.<Long>newHostConnectionPool(host, port, settings, log, materializer)).asJava();
    Pair<Pair<BoundedSourceQueue<Outgoing>, HostConnectionPool>, CompletionStage<Done>> m = Source
        .<Outgoing>queue(webhook.parallelism())
        // checked again as the pool takes the call, just before it goes on the wire: a call that waited past its
        // start-by (this process was paused, e.g. SIGSTOP, or starved) is not sent, since another node may own the
        // message by now (its lease is over); it is answered as failed, which the core ignores if it moved on
        .filter(o -> {
          if (System.nanoTime() - o.startBy() <= 0) return true;
          self.tell(new Posted(o.callId(), -1, new TooLateToCall()));
          return false;
        })
        .map(o -> Tuple2.apply(o.request(), (Long) o.callId()))
        .viaMat(client, Keep.both())
        .mapAsyncUnordered(webhook.parallelism(),
            r -> statusOf(r._1()).handle((status, err) -> new Posted(r._2(), status == null ? -1 : status, err)))
        .toMat(Sink.foreach(self::tell), Keep.both())
        .run(materializer);
    requests = m.first().first();
    pool = m.first().second();
    BoundedSourceQueue<Outgoing> thisClient = requests;
    getContext().pipeToSelf(m.second(), (done, err) -> new ClientEnded(thisClient, err));
  }

  /**
   * Joins the subscription taking {@link #prefetch} deliveries at once (what the call slots carry): the others wait
   * in the core, where they never burn an attempt, and when this pusher leaves (a hand-over, a shutdown) those that
   * never reached it are released to the next owner at once instead of waiting out the ack timeout.
   */
  private void join() {
    router.tell(new RouterCommand.Subscribe(subscription.channel(), subscription.name(), deliveries,
        subscribeReplies).withPrefetch(prefetch(webhook)));
  }

  /** Deliveries a pusher holds at most: a full batch for every call slot (the channel's max-in-flight bounds it too). */
  static int prefetch(HttpSubscription.Webhook webhook) {
    return webhook.parallelism() * webhook.batchSize();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Delivered.class, d -> {
          if (acked.contains(key(d.delivery()))) return this; // acked already: a stale retry
          waiting.put(key(d.delivery()), new Waiting(d.delivery(), System.nanoTime()));
          pump();
          return this;
        })
        .onMessage(Posted.class, this::onPosted)
        .onMessage(CallTimedOut.class, this::onCallTimedOut)
        .onMessage(SubscribeAnswer.class, a -> {
          if (a.reply() instanceof SubscribeReply.Subscribed) {
            getContext().getLog().info("webhook subscription '{}' of channel '{}' pushes to {} ({} calls at once, {})",
                subscription.name(), subscription.channel(), safeUrl(), webhook.parallelism(),
                webhook.batched() ? "up to " + webhook.batchSize() + " deliveries per call" : "one delivery per call");
          } else if (a.reply() instanceof SubscribeReply.SubscribeFailed f) {
            getContext().getLog().warn("webhook subscription '{}' cannot join channel '{}': {}; trying again in 5 s",
                subscription.name(), subscription.channel(), f.message());
            timers.startSingleTimer(Rejoin.INSTANCE, Duration.ofSeconds(5));
          }
          return this;
        })
        .onMessageEquals(Rejoin.INSTANCE, () -> {
          join();
          return this;
        })
        .onMessage(ClientEnded.class, this::onClientEnded)
        .onMessageEquals(RestartClient.INSTANCE, () -> {
          startClient();
          pump();
          return this;
        })
        .onMessage(Stop.class, s -> {
          if (s.left() != null) toldWhenLeft.add(s.left());
          if (stopping) return this; // a second stop: told too when it has left
          stopping = true;
          int inFlight = unanswered();
          if (inFlight > 0) {
            getContext().getLog().info("webhook subscription '{}': stopping; {} call(s) in flight are let finish"
                + " (at most {} ms) before it leaves", subscription.name(), inFlight,
                drainBound(subscription).toMillis());
            timers.startSingleTimer(DrainTimedOut.INSTANCE, drainBound(subscription));
          }
          return leaveIfDrained();
        })
        .onMessageEquals(DrainTimedOut.INSTANCE, () -> {
          getContext().getLog().warn("webhook subscription '{}': {} call(s) still unanswered {} ms after the stop;"
              + " leaving without them (they stay pending and are delivered again)", subscription.name(),
              unanswered(), drainBound(subscription).toMillis());
          return leave();
        })
        .onMessage(InjectedFailure.class, f -> {
          throw f.fail();
        })
        .onSignal(PostStop.class, s -> {
          if (pool != null) pool.shutdown();
          return this;
        })
        .onSignal(PreRestart.class, s -> {
          // this incarnation's calls get no answer from here on: failed now, so that the core retries them at once
          failCallsInFlight("webhook pusher restarting");
          if (pool != null) pool.shutdown();
          return this;
        })
        .build();
  }

  /** Calls in flight whose delivery has had no ack or nack yet. */
  private int unanswered() {
    int n = 0;
    for (Call c : calls.values()) {
      if (!c.answered) n++;
    }
    return n;
  }

  /** When stopping and every call has been answered: leaves; else goes on. */
  private Behavior<Command> leaveIfDrained() {
    if (!stopping || unanswered() > 0) return this;
    return leave();
  }

  private Behavior<Command> leave() {
    CompletionStage<SubscribeReply> left = Stages.plain(AskPattern.ask(router,
        replyTo -> new RouterCommand.Unsubscribe(subscription.channel(), subscription.name(), deliveries, replyTo),
        PullGateway.LEAVE_TIMEOUT, getContext().getSystem().scheduler()));
    List<ActorRef<Done>> told = List.copyOf(toldWhenLeft);
    if (!told.isEmpty()) left.whenComplete((r, e) -> told.forEach(t -> t.tell(Done.getInstance())));
    return Behaviors.stopped();
  }

  /**
   * Starts calls while a slot is free: each takes the waiting deliveries in arrival order, up to the batch size,
   * passing over a message whose earlier call still runs.
   */
  private void pump() {
    if (stopping) return; // stopping: no new call
    while (requests != null && calls.size() < webhook.parallelism() && !waiting.isEmpty()) {
      List<Delivery> batch = new ArrayList<>(Math.min(webhook.batchSize(), waiting.size()));
      long startBy = 0;
      Iterator<Waiting> it = waiting.values().iterator();
      long now = System.nanoTime();
      while (batch.size() < webhook.batchSize() && it.hasNext()) {
        Waiting w = it.next();
        Delivery d = w.delivery();
        // a retry of a message whose earlier call still runs (it timed out) waits for that call: if it ends with a
        // 2xx the message is acked and the retry dropped
        if (calling.contains(key(d))) continue;
        it.remove();
        if (now - w.sinceNanos() > waitBudgetNanos) {
          // a call started now could not end before the core's ack timeout of this attempt (which may have passed
          // already, and the message been dead-lettered): not pushed; the nack has it retried now (it is ignored if
          // the core moved on)
          d.replyTo().tell(d.nack("waited " + (now - w.sinceNanos()) / 1_000_000 + " ms for one of the "
              + webhook.parallelism() + " call slots: too close to the ack timeout to start the call", false));
          continue;
        }
        if (d.envelope().isExpired(Instant.now())) {
          // never pushed late: the core dead-letters it as expired
          d.replyTo().tell(d.nack("deadline passed before the webhook call", false));
          continue;
        }
        // the call must start while every delivery in it can still end before its ack timeout: the earliest bound
        long by = w.sinceNanos() + waitBudgetNanos;
        if (batch.isEmpty() || by - startBy < 0) startBy = by;
        batch.add(d);
      }
      if (batch.isEmpty()) return; // what waits, waits for its message's earlier call
      post(batch, startBy);
    }
  }

  /**
   * Makes one call for {@code batch} (one delivery as a JSON object with its own headers, or, when batched, a JSON
   * array of them), unless it cannot start before {@code startBy} (a {@link System#nanoTime}).
   */
  private void post(List<Delivery> batch, long startBy) {
    HttpRequest request;
    try {
      request = webhook.batched() ? batchRequest(batch) : singleRequest(batch.get(0));
    } catch (RuntimeException e) {
      for (Delivery d : batch) d.replyTo().tell(d.nack("cannot build the webhook call: " + e, false));
      return;
    }
    long id = nextCallId++;
    // the queue holds at most parallelism elements and never more are in flight: an offer is only refused when the
    // client stream has failed (it is being restarted)
    QueueOfferResult offered = requests.offer(new Outgoing(request, id, startBy));
    if (offered != QueueOfferResult.enqueued()) {
      for (Delivery d : batch) d.replyTo().tell(d.nack("webhook client unavailable (" + offered + ")", false));
      return;
    }
    calls.put(id, new Call(batch));
    for (Delivery d : batch) calling.add(key(d));
    timers.startSingleTimer(id, new CallTimedOut(id), webhook.timeout());
  }

  private HttpRequest singleRequest(Delivery d) {
    // javadsl's builders make scaladsl instances (the pool flow takes those)
    return (HttpRequest) org.apache.pekko.http.javadsl.model.HttpRequest.POST(requestUri)
        .withEntity(ContentTypes.APPLICATION_JSON, DeliveryView.toBytes(d, null))
        .addHeader(RawHeader.create("X-Router-Delivery-Id", d.deliveryId()))
        .addHeader(RawHeader.create("X-Router-Message-Id", d.envelope().id()))
        .addHeader(RawHeader.create("X-Router-Subscription", subscription.name()))
        .addHeader(RawHeader.create("X-Router-Attempt", Integer.toString(d.envelope().attempt())))
        .addHeader(RawHeader.create("X-Router-Deadline", d.envelope().deadline().toString()))
        .addHeader(RawHeader.create("X-Router-Node", nodeId));
  }

  /** A batch: the deliveries' JSON in an array; what differs per message (ids, attempt, deadline) is in the body. */
  private HttpRequest batchRequest(List<Delivery> batch) {
    return (HttpRequest) org.apache.pekko.http.javadsl.model.HttpRequest.POST(requestUri)
        .withEntity(ContentTypes.APPLICATION_JSON, DeliveryView.toBytes(batch))
        .addHeader(RawHeader.create("X-Router-Subscription", subscription.name()))
        .addHeader(RawHeader.create("X-Router-Batch-Size", Integer.toString(batch.size())))
        .addHeader(RawHeader.create("X-Router-Node", nodeId));
  }

  /** The status, once the response body was read and discarded (else the pooled connection is stuck). */
  private CompletionStage<Integer> statusOf(Try<HttpResponse> result) {
    if (result.isFailure()) return CompletableFuture.failedFuture(result.failed().get());
    HttpResponse resp = result.get();
    return Stages.plain(resp.discardEntityBytes(materializer).completionStage())
        .thenApply(x -> resp.status().intValue());
  }

  private Behavior<Command> onCallTimedOut(CallTimedOut t) {
    Call c = calls.get(t.callId());
    if (c == null || c.answered) return this;
    // answered now so that the core retries on schedule; the slot stays taken until the answer comes or the
    // connection is closed
    c.answered = true;
    nackForRetry(c.deliveries, "no answer within " + webhook.timeout().toMillis() + " ms");
    return leaveIfDrained();
  }

  /** The answer settles every delivery of the call alike. */
  private Behavior<Command> onPosted(Posted p) {
    Call c = calls.remove(p.callId());
    if (c == null) return this; // the client was restarted meanwhile
    timers.cancel(p.callId());
    for (Delivery d : c.deliveries) calling.remove(key(d));
    int s = p.status();
    boolean ok = p.error() == null && s >= 200 && s < 300;
    if (ok) {
      // also when it timed out before: a late 2xx still means the receiver processed the messages, and the ack
      // settles each whatever attempt the core is at; a retry waiting here has nothing left to do
      for (Delivery d : c.deliveries) {
        d.replyTo().tell(d.ack());
        waiting.remove(key(d));
        acked.add(key(d));
      }
    } else if (c.answered) {
      // timed out before and already nacked
    } else if (p.error() == null && s >= 400 && s < 500 && s != 408 && s != 429) {
      for (Delivery d : c.deliveries) d.replyTo().tell(d.nack("webhook answered " + s, true));
    } else {
      nackForRetry(c.deliveries, p.error() != null ? describe(p.error()) : "webhook answered " + s);
    }
    pump();
    return leaveIfDrained();
  }

  /** Nacks the deliveries of one failed call for a retry; a failing receiver is warned of at most every 10 s. */
  private void nackForRetry(List<Delivery> failed, String why) {
    failedSinceWarning++;
    long now = System.nanoTime();
    if (!warned || now - lastWarningNanos >= WARN_EVERY.toNanos()) { // a receiver failing often is not a log flood
      getContext().getLog().warn("webhook subscription '{}': call to {} failed ({}); {} failed call(s) since the last"
          + " such warning, retried with backoff", subscription.name(), safeUrl(), why, failedSinceWarning);
      warned = true;
      lastWarningNanos = now;
      failedSinceWarning = 0;
    }
    for (Delivery d : failed) d.replyTo().tell(d.nack(why, false));
  }

  private Behavior<Command> onClientEnded(ClientEnded e) {
    if (e.client() != requests) return this; // the client of an incarnation before a restart
    if (e.error() == null) {
      getContext().getLog().info("webhook subscription '{}': the HTTP client to {} was shut down ({} calls in flight"
          + " stay pending and are delivered again)", subscription.name(), safeUrl(), calls.size());
    } else {
      getContext().getLog().warn("webhook subscription '{}': the HTTP client to {} failed ({}); {} calls in flight are"
          + " retried, the client restarts in 1 s", subscription.name(), safeUrl(), describe(e.error()), calls.size());
    }
    failCallsInFlight("webhook client stopped");
    requests = null;
    if (pool != null && e.error() != null) pool.shutdown();
    pool = null;
    if (e.error() != null) timers.startSingleTimer(RestartClient.INSTANCE, Duration.ofSeconds(1));
    return leaveIfDrained();
  }

  private void failCallsInFlight(String why) {
    for (Map.Entry<Long, Call> e : calls.entrySet()) {
      timers.cancel(e.getKey());
      Call c = e.getValue();
      if (!c.answered) {
        for (Delivery d : c.deliveries) d.replyTo().tell(d.nack(why, false));
      }
    }
    calls.clear();
    calling.clear();
  }

  private String describe(Throwable t) {
    Throwable c = SubscriptionStore.unwrap(t);
    String m = c.getMessage();
    return c.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
  }

  /** The URL without user info or query (either may carry a secret). */
  private String safeUrl() {
    return HttpSubscription.redactedUrl(webhook.url());
  }
}
