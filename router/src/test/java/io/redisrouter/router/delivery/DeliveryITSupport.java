package io.redisrouter.router.delivery;

import io.redisrouter.protocol.DeadLetterPage;
import io.redisrouter.protocol.Delivery;
import io.redisrouter.protocol.DeliveryAck;
import io.redisrouter.protocol.RouterCommand;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.router.RouterExtension;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.RedisServer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** Shared helpers of the delivery-semantics integration tests (not a test itself). */
final class DeliveryITSupport {
  private DeliveryITSupport() {}

  /** One delivery as a subscriber saw it, stamped when it arrived. */
  record Received(Delivery delivery, long nanos, Instant at) {
    String messageId() {
      return delivery.envelope().id();
    }

    int attempt() {
      return delivery.envelope().attempt();
    }
  }

  /**
   * A subscriber that stamps every delivery, reports it to {@code probe}, then answers what {@code answer} returns
   * for it ({@code null}: no answer at all).
   */
  static Behavior<Delivery> recording(ActorRef<Received> probe, Function<Delivery, DeliveryAck> answer) {
    return Behaviors.receiveMessage(d -> {
      probe.tell(new Received(d, System.nanoTime(), Instant.now()));
      DeliveryAck a = answer.apply(d);
      if (a != null) {
        d.replyTo().tell(a);
      }
      return Behaviors.same();
    });
  }

  /** One entry of a dead-letter stream, read with the harness client (XRANGE). */
  record DeadEntry(String id, Map<String, String> fields) {
    io.redisrouter.protocol.DeadLetter.Reason reason() {
      return io.redisrouter.protocol.DeadLetter.Reason.of(fields.get("reason"));
    }

    int attempts() {
      return Integer.parseInt(fields.get("attempts"));
    }

    String error() {
      return fields.get("error");
    }

    String src() {
      return fields.get("src");
    }

    String sub() {
      return fields.get("sub");
    }
  }

  /**
   * Subscribes a {@link #recording} subscriber (answering what {@code answer} returns) to {@code channel} as
   * {@code group} on {@code node}, checks it is subscribed, and returns the probe its deliveries are reported to.
   */
  static TestProbe<Received> subscribeRecording(RouterExtension node, String channel, String group,
      Function<Delivery, DeliveryAck> answer) {
    return subscribeRecording(node, channel, group, RouterCommand.Subscribe.DEFAULT_PREFETCH, answer);
  }

  /** {@link #subscribeRecording} for a subscriber that holds up to {@code prefetch} deliveries unanswered. */
  static TestProbe<Received> subscribeRecording(RouterExtension node, String channel, String group, int prefetch,
      Function<Delivery, DeliveryAck> answer) {
    TestProbe<Received> deliveries = node.kit().createTestProbe();
    ActorRef<Delivery> subscriber = node.kit().spawn(recording(deliveries.getRef(), answer));
    assertInstanceOf(SubscribeReply.Subscribed.class, node.subscribe(channel, group, subscriber, prefetch));
    return deliveries;
  }

  /** XRANGE of the channel's dead-letter stream, oldest first. */
  static List<DeadEntry> deadEntries(RedisServer redis, String channel) {
    return entries(redis, RedisKeys.deadLetters(channel)).entrySet().stream()
        .map(e -> new DeadEntry(e.getKey(), e.getValue())).toList();
  }

  /** XRANGE of a stream: entry id to fields, in id order. */
  static Map<String, Map<String, String>> entries(RedisServer redis, String key) {
    Map<String, Map<String, String>> out = new LinkedHashMap<>();
    for (Object o : redis.callList("XRANGE", key, "-", "+")) {
      List<?> entry = (List<?>) o;
      List<?> kv = (List<?>) entry.get(1);
      Map<String, String> fields = new HashMap<>();
      for (int i = 0; i + 1 < kv.size(); i += 2) {
        fields.put(String.valueOf(kv.get(i)), String.valueOf(kv.get(i + 1)));
      }
      out.put(String.valueOf(entry.get(0)), fields);
    }
    return out;
  }

  /** Stream entry ids in order. */
  static List<String> entryIds(RedisServer redis, String key) {
    return new ArrayList<>(entries(redis, key).keySet());
  }

  /** Number of entries pending (delivered, not acknowledged) in the group, from XPENDING's summary. */
  static long pendingCount(RedisServer redis, String channel, String group) {
    return (Long) redis.callList("XPENDING", RedisKeys.stream(channel), group).get(0);
  }

  /** XLEN of a key (0 when it does not exist). */
  static long xlen(RedisServer redis, String key) {
    return redis.callLong("XLEN", key);
  }

  /** The router's view of the dead letters (RouterCommand.ReadDeadLetters), first page of up to 100. */
  static DeadLetterPage readDeadLetters(ActorTestKit kit, ActorRef<RouterCommand> router, String channel) {
    TestProbe<DeadLetterPage> probe = kit.createTestProbe();
    router.tell(new RouterCommand.ReadDeadLetters(channel, "-", 100, probe.getRef()));
    return probe.receiveMessage(Duration.ofSeconds(10));
  }

  static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
