package io.redisrouter.router.consume;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.stream.Materializer;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Pushes the deliveries of one webhook subscription to its URL: a member of the subscription like any embedded
 * subscriber, that POSTs each delivery (the JSON of {@link DeliveryJson}) with at most {@code parallelism} calls in
 * flight, and answers the core by the result: 2xx acks; 4xx other than 408 and 429 nacks with "do not retry" (the
 * core dead-letters it as {@code rejected}); 5xx, 408, 429, a timeout or a connection error nack for a retry with
 * backoff, until the deadline or the attempt limit. The core bounds what it holds (max-in-flight), so its queue is
 * bounded too.
 */
public final class WebhookPusher extends AbstractBehavior<WebhookPusher.Command> {

  public interface Command {}

  /**
   * The subscription was deleted or redefined: leave it and stop. {@code left}, when not null, is told {@link Done}
   * once the router confirmed the unsubscribe (this node's consumer of the group reads nothing more from then on).
   */
  public record Stop(ActorRef<Done> left) implements Command {}

  private record Delivered(Delivery delivery) implements Command {}

  private record Posted(Delivery delivery, int status, Throwable error, long startNanos) implements Command {}

  private record SubscribeAnswer(SubscribeReply reply) implements Command {}

  private enum Rejoin implements Command { INSTANCE }

  public static Behavior<Command> create(HttpSubscription subscription, ActorRef<RouterCommand> router) {
    if (!subscription.isPush()) throw new IllegalArgumentException(subscription.name() + " has no webhook");
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new WebhookPusher(ctx, timers, subscription, router)));
  }

  private final TimerScheduler<Command> timers;
  private final HttpSubscription subscription;
  private final HttpSubscription.Webhook webhook;
  private final ActorRef<RouterCommand> router;
  private final ActorRef<Delivery> deliveries;
  private final ActorRef<SubscribeReply> subscribeReplies;
  private final Http http;
  private final Materializer materializer;
  private final ArrayDeque<Delivery> queue = new ArrayDeque<>();
  private int inFlight;
  private long failuresInARow;

  private WebhookPusher(ActorContext<Command> ctx, TimerScheduler<Command> timers, HttpSubscription subscription,
                        ActorRef<RouterCommand> router) {
    super(ctx);
    this.timers = timers;
    this.subscription = subscription;
    this.webhook = subscription.webhook();
    this.router = router;
    this.deliveries = ctx.messageAdapter(Delivery.class, Delivered::new);
    this.subscribeReplies = ctx.messageAdapter(SubscribeReply.class, SubscribeAnswer::new);
    this.http = Http.get(ctx.getSystem());
    this.materializer = Materializer.matFromSystem(ctx.getSystem());
    join();
  }

  private void join() {
    router.tell(new RouterCommand.Subscribe(subscription.channel(), subscription.name(), deliveries,
        subscribeReplies));
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Delivered.class, d -> {
          queue.addLast(d.delivery());
          pump();
          return this;
        })
        .onMessage(Posted.class, this::onPosted)
        .onMessage(SubscribeAnswer.class, a -> {
          if (a.reply() instanceof SubscribeReply.Subscribed) {
            getContext().getLog().info("webhook subscription '{}' of channel '{}' pushes to {} ({} calls at once)",
                subscription.name(), subscription.channel(), safeUrl(), webhook.parallelism());
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
        .onMessage(Stop.class, s -> {
          CompletionStage<SubscribeReply> left = AskPattern.ask(router, replyTo -> new RouterCommand.Unsubscribe(
              subscription.channel(), subscription.name(), deliveries, replyTo), PullGateway.LEAVE_TIMEOUT,
              getContext().getSystem().scheduler());
          if (s.left() != null) left.whenComplete((r, e) -> s.left().tell(Done.getInstance()));
          return Behaviors.stopped();
        })
        .build();
  }

  private void pump() {
    while (inFlight < webhook.parallelism() && !queue.isEmpty()) {
      Delivery d = queue.pollFirst();
      if (d.envelope().isExpired(Instant.now())) {
        // never pushed late: the core dead-letters it as expired
        d.replyTo().tell(d.nack("deadline passed before the webhook call", false));
        continue;
      }
      post(d);
    }
  }

  private void post(Delivery d) {
    inFlight++;
    long start = System.nanoTime();
    HttpRequest request = HttpRequest.POST(webhook.url().toString())
        .withEntity(ContentTypes.APPLICATION_JSON, DeliveryJson.toBytes(d, null))
        .addHeader(RawHeader.create("X-Router-Delivery-Id", d.deliveryId()))
        .addHeader(RawHeader.create("X-Router-Message-Id", d.envelope().id()))
        .addHeader(RawHeader.create("X-Router-Subscription", subscription.name()))
        .addHeader(RawHeader.create("X-Router-Attempt", Integer.toString(d.envelope().attempt())))
        .addHeader(RawHeader.create("X-Router-Deadline", d.envelope().deadline().toString()));
    CompletableFuture<Integer> f;
    try {
      f = http.singleRequest(request).thenCompose(this::statusOf).toCompletableFuture()
          .orTimeout(webhook.timeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    getContext().pipeToSelf(f, (status, err) -> new Posted(d, status == null ? -1 : status, err, start));
  }

  /** The status, once the response body was read and discarded (else the pooled connection is stuck). */
  private CompletionStage<Integer> statusOf(HttpResponse resp) {
    return resp.discardEntityBytes(materializer).completionStage().thenApply(x -> resp.status().intValue());
  }

  private Behavior<Command> onPosted(Posted p) {
    inFlight--;
    Delivery d = p.delivery();
    int s = p.status();
    if (p.error() == null && s >= 200 && s < 300) {
      failuresInARow = 0;
      d.replyTo().tell(d.ack());
    } else if (p.error() == null && s >= 400 && s < 500 && s != 408 && s != 429) {
      failuresInARow = 0;
      d.replyTo().tell(d.nack("webhook answered " + s, true));
    } else {
      String why = p.error() != null ? describe(p.error()) : "webhook answered " + s;
      if (failuresInARow++ % 100 == 0) { // say it once per burst, not per message
        getContext().getLog().warn("webhook subscription '{}': call to {} failed ({}); retried with backoff",
            subscription.name(), safeUrl(), why);
      }
      d.replyTo().tell(d.nack(why, false));
    }
    pump();
    return this;
  }

  private String describe(Throwable t) {
    Throwable c = SubscriptionStore.unwrap(t);
    if (c instanceof TimeoutException) return "no answer within " + webhook.timeout().toMillis() + " ms";
    String m = c.getMessage();
    return c.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
  }

  /** The URL without user info or query (either may carry a secret). */
  private String safeUrl() {
    return HttpSubscription.redactedUrl(webhook.url());
  }
}
