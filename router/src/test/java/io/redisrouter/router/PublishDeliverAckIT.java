package io.redisrouter.router;

import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.protocol.SubscribeReply;
import io.redisrouter.testkit.MessageChecker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Publish → deliver → ack, end to end on a real redis-server. */
class PublishDeliverAckIT {

  @RegisterExtension
  static final RouterExtension node = RouterExtension.create();

  @Test
  void everyAcceptedMessageIsDeliveredOnceAndAcked() throws Exception {
    MessageChecker checker = new MessageChecker();
    var subscriber = node.kit()
        .spawn(RouterTestSupport.acking(d -> checker.delivered(new String(d.envelope().payload(), 0, 8))));
    SubscribeReply sub = node.subscribe("orders", "billing", subscriber);
    assertInstanceOf(SubscribeReply.Subscribed.class, sub);

    int n = 2000;
    List<CompletableFuture<PublishReply>> replies = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String id = String.format("m%07d", i);
      checker.sent(id);
      replies.add(RouterTestSupport.publishAsync(node.kit(), node.router(),
          PublishRequest.of("orders", RouterTestSupport.payload(id, 256))).toCompletableFuture());
    }
    for (int i = 0; i < n; i++) {
      PublishReply r = replies.get(i).get(30, TimeUnit.SECONDS);
      assertInstanceOf(PublishReply.Accepted.class, r, () -> "reply " + r);
      checker.accepted(String.format("m%07d", i));
    }
    node.kit().createTestProbe().awaitAssert(Duration.ofSeconds(30), () -> {
      assertEquals(0, checker.report().lost(), () -> checker.report().toString());
      return null;
    });
    // every entry acknowledged in Redis: nothing pending for the group
    RouterTestSupport.awaitNothingPending(node.kit().createTestProbe(), node.redis(), "orders", "billing",
        Duration.ofSeconds(10));
    MessageChecker.Report report = checker.report();
    checker.logReport("everyAcceptedMessageIsDeliveredOnceAndAcked");
    assertEquals(n, report.sent());
    assertEquals(n, report.delivered());
    assertEquals(0, report.lost());
    assertEquals(0, report.unexpected());
    assertTrue(report.duplicated() == 0, report::toString);
  }
}
