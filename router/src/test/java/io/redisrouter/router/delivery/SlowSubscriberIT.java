package io.redisrouter.router.delivery;

import io.redisrouter.protocol.DeadLetter;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.internal.DeliveryIds;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A subscriber that takes 200 ms per message, for 60 s, while twice as many are published: its mailbox never holds
 * more than its prefetch (1), it never starts on a delivery whose deadline passed or on an entry it already acked,
 * and nothing is lost: what it could not take in time is dead-lettered as expired. Before the gate, up to
 * max-in-flight deliveries (and the retries of those that timed out) queued in its mailbox and it worked through
 * expired and already redelivered ones.
 */
class SlowSubscriberIT {
  private static final Logger log = LoggerFactory.getLogger(SlowSubscriberIT.class);
  private static final String CHANNEL = "slow";
  private static final Duration RUN = Duration.ofSeconds(60);
  private static final Duration WORK = Duration.ofMillis(200);

  @RegisterExtension
  static final RouterExtension node = RouterExtension.withConfig("""
      channels.overrides.slow { time-to-live = 4s, ack-timeout = 3s, max-in-flight = 64 }
      """);

  @Test
  void aSlowSubscriberGetsNoStaleWorkAndABoundedMailbox() throws Exception {
    MessageChecker checker = new MessageChecker();
    AtomicLong processed = new AtomicLong();
    AtomicLong afterDeadline = new AtomicLong();
    AtomicLong afterAck = new AtomicLong();
    Set<String> ackedEntries = ConcurrentHashMap.newKeySet();
    // the slow work blocks (that is the point), so it runs on the blocking dispatcher, not the router's threads
    ActorRef<Delivery> slow = node.kit().spawn(Behaviors.receiveMessage((Delivery d) -> {
      if (d.envelope().deadline().isBefore(Instant.now())) afterDeadline.incrementAndGet();
      String entry = DeliveryIds.entry(d.deliveryId());
      if (ackedEntries.contains(entry)) afterAck.incrementAndGet();
      Thread.sleep(WORK.toMillis()); // the subscriber's slow work
      checker.delivered(d.envelope().id());
      processed.incrementAndGet();
      ackedEntries.add(entry);
      d.replyTo().tell(d.ack());
      return Behaviors.same();
    }), "slow-subscriber", DispatcherSelector.blocking());
    assertInstanceOf(SubscribeReply.Subscribed.class, node.subscribe(CHANNEL, "slow", slow));

    long handedBefore = node.metrics().snapshot().handedToSubscribers();
    long most = 0;
    long end = System.nanoTime() + RUN.toNanos();
    int published = 0;
    while (System.nanoTime() < end) {
      // 10 a second: twice what the subscriber takes
      String id = String.format("s-%04d", published++);
      checker.sent(id);
      PublishReply r = node.publish(PublishRequest.of(CHANNEL,
          RouterTestSupport.payload(id, 16)).withMessageId(id));
      assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
      checker.accepted(id);
      long inMailbox = node.metrics().snapshot().handedToSubscribers() - handedBefore - processed.get();
      most = Math.max(most, inMailbox);
      Thread.sleep(100); // the publisher's pace
    }
    // every message is processed or dead-lettered as expired
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(20), () -> {
      Map<String, String> dead = io.redisrouter.router.fault.DeadLettersView.reasons(node.redis(), CHANNEL);
      dead.forEach((id, reason) -> {
        assertEquals(DeadLetter.EXPIRED.code(), reason, id);
        checker.deadLettered(id);
      });
      assertEquals(0, checker.lostIds().size(), () -> "lost " + checker.lostIds());
      return null;
    });
    MessageChecker.Report report = checker.report();
    log.info("slow subscriber ({} ms a message) for {} s, {} published: processed {}, dead-lettered as expired {},"
        + " at most {} in its mailbox, {} skipped by the gate; started after the deadline {}, after its ack {};"
        + " {}", WORK.toMillis(), RUN.toSeconds(), published, processed.get(), report.deadLettered(), most,
        node.metrics().snapshot().deliveriesSkipped(), afterDeadline.get(), afterAck.get(), report);
    // the overload happened: the subscriber could not take everything
    assertTrue(report.deadLettered() > published / 4, "dead-lettered as expired: " + report.deadLettered());
    assertTrue(processed.get() > RUN.toSeconds() * 3, "processed: " + processed.get());
    assertTrue(most >= 1 && most <= RouterCommand.Subscribe.DEFAULT_PREFETCH, "in the mailbox at most: " + most);
    assertEquals(0, afterDeadline.get(), "deliveries started after their deadline");
    assertEquals(0, afterAck.get(), "entries started again after the subscriber acked them");
    assertEquals(0, report.lost(), "lost");
  }
}
