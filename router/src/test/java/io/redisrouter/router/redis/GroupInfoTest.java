package io.redisrouter.router.redis;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The XINFO GROUPS rows the router reads, in the shapes Redis 6.2 and 7.0 answer, flat (RESP2) or as a map. */
class GroupInfoTest {
  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aRedis7RowGivesEveryField() {
    List<Object> row = List.of(b("name"), b("billing"), b("consumers"), 2L, b("pending"), 3L,
        b("last-delivered-id"), b("1700000000000-5"), b("entries-read"), 8L, b("lag"), 4L);
    GroupInfo g = GroupInfo.parse(List.of(row)).get(0);
    assertEquals(new GroupInfo("billing", 2, 3, "1700000000000-5", 8L, 4L, true), g);
  }

  @Test
  void aRedis62RowHasNoLagAndNoEntriesRead() {
    List<Object> row = List.of(b("name"), b("audit"), b("consumers"), 1L, b("pending"), 0L,
        b("last-delivered-id"), b("0-0"));
    GroupInfo g = GroupInfo.parse(List.of(row)).get(0);
    assertEquals("audit", g.name());
    assertNull(g.lag());
    assertNull(g.entriesRead());
    assertFalse(g.lagReported(), "6.2 has no lag field at all");
  }

  @Test
  void aNilLagIsReportedButUnknown() {
    Map<Object, Object> row = new LinkedHashMap<>();
    row.put(b("name"), b("late"));
    row.put(b("consumers"), 0L);
    row.put(b("pending"), 0L);
    row.put(b("last-delivered-id"), b("5-1"));
    row.put(b("entries-read"), null);
    row.put(b("lag"), null);
    GroupInfo g = GroupInfo.parse(List.of(row)).get(0);
    assertEquals("5-1", g.lastDeliveredId());
    assertNull(g.lag());
    assertTrue(g.lagReported(), "7.0 answers nil where it cannot compute the lag");
    assertEquals(g, GroupInfo.find(List.of(g), "late"));
    assertNull(GroupInfo.find(List.of(g), "other"));
  }
}
