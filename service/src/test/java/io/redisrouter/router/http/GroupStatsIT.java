package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.testkit.LogCapture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

import static io.redisrouter.router.http.ConsumeHttpSupport.awaitJson;
import static io.redisrouter.router.http.ConsumeHttpSupport.createPull;
import static io.redisrouter.router.http.ConsumeHttpSupport.publish;
import static io.redisrouter.router.http.ConsumeHttpSupport.pullUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Consumer-group statistics on the Redis this run uses (7.0 from PATH, 6.2 with REDIS_TESTKIT_BINARY=embedded):
 * the lag is a number on both (reported by 7.0, counted by the router on 6.2); entries-read is a number on 7.0 and
 * null with {@code entriesReadUnknown} on 6.2, never a number the router cannot know.
 */
class GroupStatsIT {
  private static final Logger log = LoggerFactory.getLogger(GroupStatsIT.class);
  /** Opened when the class is initialised, before the extension starts the service: its start-up log is in it. */
  static final LogCapture startLog = LogCapture.start();

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("group-stats");

  @AfterAll
  static void stop() {
    startLog.close();
  }

  @Test
  void theStartUpLogNamesTheRedisVersionAndWhatItLacks() throws Exception {
    String expected = "runs Redis " + node.redis().version();
    List<String> lines = ConsumeHttpSupport.await("start-up log line naming the Redis version",
        () -> startLog.linesContaining(expected), l -> !l.isEmpty());
    boolean old = Integer.parseInt(node.redis().version().split("\\.")[0]) < 7;
    assertEquals(old, lines.get(0).contains("doing without XINFO GROUPS lag"), lines::toString);
  }

  @Test
  void lagIsKnownOnEverySupportedRedisAndEntriesReadOnlyWhereRedisReportsIt() throws Exception {
    boolean reportsEntriesRead = Integer.parseInt(node.redis().version().split("\\.")[0]) >= 7;
    log.info("GroupStatsIT on redis {} ({})", node.redis().version(),
        node.redis().usesEmbeddedBinary() ? "embedded" : "PATH");
    createPull(node.service(), "stats-pull", "stats.ch");
    publish(node.service(), "stats.ch", 3, "t", null);
    JsonNode before = awaitJson(node.service(), "/v1/subscriptions/stats-pull",
        j -> j.path("stats").path("lag").isNumber() && j.path("stats").path("lag").asLong() == 3);
    assertTrue(before.path("stats").path("lagUnknown").isMissingNode(), before::toString);

    List<JsonNode> pulled = pullUntil(node.service(), "stats-pull", ds -> ds.size() >= 3);
    assertEquals(3, pulled.size());
    JsonNode after = awaitJson(node.service(), "/v1/subscriptions/stats-pull",
        j -> j.path("stats").path("lag").isNumber() && j.path("stats").path("lag").asLong() == 0);
    assertEquals(3, after.path("stats").path("pending").asLong(), after::toString);

    JsonNode channel = awaitJson(node.service(), "/v1/channels/stats.ch", j -> j.path("subscriptions").size() == 1);
    JsonNode row = channel.path("subscriptions").get(0);
    assertTrue(row.has("lag") && row.get("lag").isNumber(), row::toString);
    assertEquals(0, row.get("lag").asLong(), row::toString);
    assertTrue(row.has("entriesRead"), row::toString);
    if (reportsEntriesRead) {
      assertEquals(3, row.get("entriesRead").asLong(), row::toString);
      assertTrue(row.path("entriesReadUnknown").isMissingNode(), row::toString);
    } else {
      assertTrue(row.get("entriesRead").isNull(), row::toString);
      assertTrue(row.path("entriesReadUnknown").asText().contains("does not report entries-read"), row::toString);
    }
  }
}
