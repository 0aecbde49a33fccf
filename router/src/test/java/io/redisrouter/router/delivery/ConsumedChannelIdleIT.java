package io.redisrouter.router.delivery;

import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A channel that was consumed (a subscription's group read and acknowledged every entry) and then unsubscribed is
 * as idle as one nobody ever read: once its entries are past max-age its stream is trimmed to empty and its janitor
 * stops, not before max-age and within a few trim intervals after. A new subscriber or message brings the janitor
 * back and nothing is lost. Its own router (a class of its own) so that the janitor count is this test's alone.
 */
class ConsumedChannelIdleIT {
  private static final Logger log = LoggerFactory.getLogger(ConsumedChannelIdleIT.class);
  private static final Duration MAX_AGE = Duration.ofSeconds(1);
  private static final Duration TRIM_INTERVAL = Duration.ofSeconds(1);
  private static final Duration IDLE_CONSUMER_REMOVAL = Duration.ofSeconds(1);

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("""
      channels.defaults.retention { max-age = %dms, trim-interval = %dms }
      consumer.idle-consumer-removal = %dms
      """.formatted(MAX_AGE.toMillis(), TRIM_INTERVAL.toMillis(), IDLE_CONSUMER_REMOVAL.toMillis()));

  private static int janitors() {
    return node.metrics().snapshot().channelJanitors();
  }

  private static void publish(MessageChecker checker, String channel, String id) {
    checker.sent(id);
    PublishReply r = node.publish(PublishRequest.of(channel, RouterTestSupport.payload(id, 16)).withMessageId(id));
    assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
    checker.accepted(id);
  }

  private static void unsubscribe(String channel, String subscription, ActorRef<Delivery> subscriber) {
    TestProbe<SubscribeReply> reply = node.kit().createTestProbe();
    node.router().tell(new RouterCommand.Unsubscribe(channel, subscription, subscriber, reply.ref()));
    reply.expectMessageClass(SubscribeReply.Unsubscribed.class, Duration.ofSeconds(5));
    node.kit().stop(subscriber);
  }

  /** What Redis holds of the channels whose streams are not empty (for a failure's message). */
  private static String leftovers(List<String> channels) {
    StringBuilder b = new StringBuilder();
    for (String c : channels) {
      long len = node.redis().callLong("XLEN", RedisKeys.stream(c));
      if (len == 0) continue;
      b.append(c).append(": XLEN ").append(len).append(", groups ")
          .append(describe(node.redis().callList("XINFO", "GROUPS", RedisKeys.stream(c))))
          .append("; ");
    }
    return b.toString();
  }

  private static String describe(Object reply) {
    if (reply instanceof byte[] b) return DeliveryITSupport.utf8(b);
    if (reply instanceof List<?> l) return l.stream().map(ConsumedChannelIdleIT::describe).toList().toString();
    return String.valueOf(reply);
  }

  /**
   * A subscriber that acks every delivery, counts it as acked once it answered, and unsubscribes itself right after
   * its answer to the {@code last}-th (an application done with the channel): the router must still get the answers
   * it sent before leaving into Redis.
   */
  private static ActorRef<Delivery> subscribeAckingThenLeaving(String channel, String subscription, int last,
      java.util.function.Consumer<String> acked, ActorRef<SubscribeReply> unsubscribed) {
    int[] answered = {0};
    ActorRef<Delivery> subscriber = node.kit().spawn(Behaviors.setup(ctx -> Behaviors.receiveMessage(d -> {
      d.replyTo().tell(d.ack());
      acked.accept(d.envelope().id());
      if (++answered[0] == last) {
        node.router().tell(new RouterCommand.Unsubscribe(channel, subscription, ctx.getSelf(), unsubscribed));
      }
      return Behaviors.same();
    })));
    assertInstanceOf(SubscribeReply.Subscribed.class, node.subscribe(channel, subscription, subscriber));
    return subscriber;
  }

  /**
   * Not before max-age: a channel whose first message is younger than max-age still has entries (nothing may trim
   * them yet), so its janitor runs; the janitors running are at least as many as those channels.
   */
  private static void assertYoungChannelsKeepTheirJanitors(List<Long> publishedAt, int before) {
    int running = janitors() - before; // read first: a janitor seen stopped after this is not counted as running
    long youngSince = System.currentTimeMillis() - MAX_AGE.toMillis() + 50; // 50 ms for the clocks' granularity
    long young = publishedAt.stream().filter(t -> t >= youngSince).count();
    assertTrue(running >= young, () -> running + " janitors running, but " + young
        + " channels have entries younger than max-age " + MAX_AGE + ": a janitor stopped too early");
  }

  @Test
  void consumedThenUnsubscribedChannelsLetTheirJanitorsGo() throws Exception {
    int channels = 50;
    int perChannel = 3;
    int before = janitors();
    MessageChecker checker = new MessageChecker();
    List<String> names = new ArrayList<>();
    TestProbe<Object> probe = node.kit().createTestProbe();
    long firstPublished = 0;
    int most = 0;
    // when each channel's first message was published: until max-age after that its stream cannot be empty, so
    // its janitor must still run (the lower bound, checked all along)
    List<Long> publishedAt = new ArrayList<>();
    for (int i = 0; i < channels; i++) {
      // each channel in turn, the way an application uses one: subscribe, consume a few, unsubscribe
      String channel = "consumed-" + i;
      names.add(channel);
      TestProbe<SubscribeReply> left = node.kit().createTestProbe();
      ActorRef<Delivery> subscriber = subscribeAckingThenLeaving(channel, "readers", perChannel, checker::delivered,
          left.ref());
      most = Math.max(most, janitors() - before);
      if (i == 0) firstPublished = System.currentTimeMillis();
      publishedAt.add(System.currentTimeMillis());
      assertYoungChannelsKeepTheirJanitors(publishedAt, before);
      // published together, so that their answers come together (some wait for an XACK in flight)
      List<java.util.concurrent.CompletableFuture<PublishReply>> replies = new ArrayList<>();
      for (int m = 0; m < perChannel; m++) {
        String id = channel + "-" + m;
        checker.sent(id);
        replies.add(RouterTestSupport.publishAsync(node.kit(), node.router(),
            PublishRequest.of(channel, RouterTestSupport.payload(id, 16)).withMessageId(id)).toCompletableFuture());
      }
      for (var f : replies) {
        PublishReply r = f.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
        checker.accepted(((PublishReply.Accepted) r).messageId());
      }
      left.expectMessageClass(SubscribeReply.Unsubscribed.class, Duration.ofSeconds(10));
      node.kit().stop(subscriber);
    }
    assertEquals(0, checker.lostIds().size(), () -> "not answered by the subscribers: " + checker.lostIds());
    long unsubscribed = System.nanoTime();
    // what the subscribers answered reached Redis: nothing is left pending in the groups once the subscriptions
    // stopped (they wait at most STOP_SETTLE_MAX for it)
    List<String> pendingLeft = new ArrayList<>();
    probe.awaitAssert(Duration.ofSeconds(4), () -> { // SubscriptionActor.STOP_SETTLE_MAX (2 s), and slack
      pendingLeft.clear();
      for (String c : names) {
        if (DeliveryITSupport.pendingCount(node.redis(), c, "readers") > 0) pendingLeft.add(c);
      }
      assertEquals(List.of(), pendingLeft, "channels with acked entries still pending after the unsubscribe");
      return null;
    });
    assertTrue(most >= 1, "a janitor per subscribed channel");

    // within: the stopped subscriptions' consumers become removable after idle-consumer-removal, which asks for a
    // round a trim-interval later; then the idle rounds a trim-interval apart, and slack for a loaded machine
    Duration within = IDLE_CONSUMER_REMOVAL.plus(TRIM_INTERVAL.multipliedBy(ChannelJanitor.IDLE_ROUNDS + 2))
        .plusSeconds(4);
    long deadline = unsubscribed + within.toNanos();
    int left;
    while ((left = janitors() - before) > 0) {
      assertYoungChannelsKeepTheirJanitors(publishedAt, before);
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(left + " of " + channels + " janitors still running " + within.toMillis()
            + " ms after the unsubscribes; " + leftovers(names));
      }
      Thread.sleep(20); // polling a condition with a deadline
    }
    long allGone = (System.nanoTime() - unsubscribed) / 1_000_000;
    assertEquals("", leftovers(names), "every stream trimmed to empty");
    log.info("{} consumed and unsubscribed channels: up to {} janitors, none before max-age ({} ms) of its channel,"
        + " all stopped {} ms after the last unsubscribe (bound {} ms), {} ms after the first publish; {}", channels,
        most, MAX_AGE.toMillis(), allGone, within.toMillis(), System.currentTimeMillis() - firstPublished,
        checker.report());

    // nothing is lost once idle: a new subscriber gets its janitor back and the next messages
    MessageChecker again = new MessageChecker();
    String channel = names.get(0);
    ActorRef<Delivery> back = node.subscribeAcking(channel, "readers", d -> again.delivered(d.envelope().id()));
    assertEquals(before + 1, janitors(), "the subscribed channel has its janitor again");
    for (int m = 0; m < perChannel; m++) publish(again, channel, channel + "-again-" + m);
    // a message alone (no subscriber on this node) brings a janitor back too: its retention must run
    publish(new MessageChecker(), names.get(1), names.get(1) + "-again");
    probe.awaitAssert(Duration.ofSeconds(10), () -> {
      assertEquals(0, again.lostIds().size(), () -> "lost after the janitor came back: " + again.lostIds());
      assertEquals(before + 2, janitors(), "a janitor for the published channel too");
      return null;
    });
    unsubscribe(channel, "readers", back);
    assertEquals(0, again.report().lost(), "lost");
  }
}
