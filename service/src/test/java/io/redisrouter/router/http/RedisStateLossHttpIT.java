package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.MessageChecker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpResponse;
import java.util.List;

import static io.redisrouter.router.http.ConsumeHttpSupport.ackAll;
import static io.redisrouter.router.http.ConsumeHttpSupport.await;
import static io.redisrouter.router.http.ConsumeHttpSupport.createPull;
import static io.redisrouter.router.http.ConsumeHttpSupport.groups;
import static io.redisrouter.router.http.ConsumeHttpSupport.messageId;
import static io.redisrouter.router.http.ConsumeHttpSupport.publish;
import static io.redisrouter.router.http.ConsumeHttpSupport.pullUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Redis loses the router's state (here FLUSHALL, as a restart without persistence does): an HTTP subscription is not
 * taken for deleted because its definition is missing; the node writes it back, its consumer group is recreated, the
 * restore is counted in /metrics, and messages published afterwards are delivered.
 */
class RedisStateLossHttpIT {

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("state-loss-http")
      .config("redis-router.http.subscription-refresh = 500ms\n");

  @Test
  void aSubscriptionWhoseDefinitionRedisLostIsWrittenBackAndKeepsDelivering() throws Exception {
    String sub = "restored-pull";
    String channel = "state.loss.pull";
    MessageChecker checker = new MessageChecker();
    createPull(node.service(), sub, channel);
    List<String> before = publish(node.service(), channel, 3, "before", null);
    List<JsonNode> first = pullUntil(node.service(), sub, ds -> ds.size() >= 3);
    ackAll(node.service(), sub, first);
    assertEquals(before, first.stream().map(ConsumeHttpSupport::messageId).toList());

    node.redis().call("FLUSHALL");
    // the loss happened: definition and group are gone from Redis
    assertEquals(0L, node.redis().callLong("EXISTS", "rr:subscriptions"));
    assertTrue(groups(node.redis(), channel).isEmpty());

    // the node writes the definition back (no tombstone: it was not deleted) and the group comes back
    await("definition written back", () -> node.redis().callLong("HEXISTS", "rr:subscriptions", sub), n -> n == 1L);
    await("consumer group recreated", () -> groups(node.redis(), channel), g -> g.contains(sub));
    HttpResponse<String> show = HttpTestSupport.get(node.service(), "/v1/subscriptions/" + sub);
    assertEquals(200, show.statusCode(), show.body());
    HttpResponse<String> metrics = HttpTestSupport.get(node.service(), "/metrics");
    assertTrue(metrics.body().lines().anyMatch(l -> l.startsWith("redis_router_redis_state_restored_total")
        && l.contains("what=\"subscription-definition\"") && !l.trim().endsWith(" 0.0")), metrics.body());

    List<String> after = publish(node.service(), channel, 5, "after", checker);
    List<JsonNode> second = pullUntil(node.service(), sub, ds -> ds.size() >= 5);
    for (JsonNode d : second) checker.delivered(messageId(d));
    ackAll(node.service(), sub, second);
    await("nothing pending", () -> (Long) node.redis().callList("XPENDING", RedisKeys.stream(channel), sub).get(0),
        p -> p == 0L);
    MessageChecker.Report report = ConsumeHttpSupport.report(checker, "subscriptionRestoredAfterFlushall");
    assertEquals(after.size(), report.sent());
    assertEquals(0, report.lost(), report::toString);
    assertEquals(0, report.unexpected(), report::toString);
  }
}
