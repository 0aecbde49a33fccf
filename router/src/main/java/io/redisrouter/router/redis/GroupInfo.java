package io.redisrouter.router.redis;

import io.lettuce.core.api.async.RedisAsyncCommands;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * One row of {@code XINFO GROUPS}, parsed once for every user (the janitor, the group restore, the statistics of
 * the HTTP API). Lettuce answers the command as raw fields (a flat list under RESP2, a map under RESP3).
 *
 * @param entriesRead {@code entries-read}: Redis 7.0+, and nil there after deletions in the group's range; else null
 * @param lag         {@code lag}: Redis 7.0+, nil where it cannot be computed; else null (see {@link GroupLag})
 * @param lagReported whether the server has the field at all (nil or not): false on Redis 6.2
 */
public record GroupInfo(String name, long consumers, long pending, String lastDeliveredId, Long entriesRead,
    Long lag, boolean lagReported) {

  /** The rows of an {@code XINFO GROUPS} reply. */
  public static List<GroupInfo> parse(List<Object> reply) {
    List<GroupInfo> rows = new ArrayList<>(reply.size());
    for (Object row : reply) rows.add(parseRow(row));
    return rows;
  }

  /** {@code XINFO GROUPS stream}; no groups when the stream does not exist. */
  public static CompletionStage<List<GroupInfo>> of(RedisAsyncCommands<String, byte[]> cmd, String stream) {
    return cmd.xinfoGroups(stream).handle((reply, e) -> {
      if (e == null) return parse(reply);
      Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      if (String.valueOf(c.getMessage()).contains("no such key")) return List.<GroupInfo>of();
      throw e instanceof CompletionException ce ? ce : new CompletionException(e);
    });
  }

  /** The row of {@code group}, or null. */
  public static GroupInfo find(List<GroupInfo> rows, String group) {
    for (GroupInfo g : rows) if (g.name().equals(group)) return g;
    return null;
  }

  private static GroupInfo parseRow(Object row) {
    String name = null;
    String last = null;
    long consumers = 0;
    long pending = 0;
    Long entriesRead = null;
    Long lag = null;
    boolean lagReported = false;
    List<Object[]> fields = new ArrayList<>();
    if (row instanceof List<?> l) {
      for (int i = 0; i + 1 < l.size(); i += 2) fields.add(new Object[]{l.get(i), l.get(i + 1)});
    } else if (row instanceof Map<?, ?> m) {
      m.forEach((k, v) -> fields.add(new Object[]{k, v}));
    }
    for (Object[] f : fields) {
      switch (text(f[0])) {
        case "name" -> name = text(f[1]);
        case "consumers" -> consumers = number(f[1], 0L);
        case "pending" -> pending = number(f[1], 0L);
        case "last-delivered-id" -> last = text(f[1]);
        case "entries-read" -> entriesRead = number(f[1], null);
        case "lag" -> {
          lagReported = true;
          lag = number(f[1], null);
        }
        default -> {
        }
      }
    }
    return new GroupInfo(name == null ? "" : name, consumers, pending, last == null ? "0-0" : last, entriesRead, lag,
        lagReported);
  }

  private static String text(Object o) {
    return o instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(o);
  }

  private static Long number(Object o, Long orElse) {
    if (o instanceof Number n) return n.longValue();
    if (o instanceof byte[] || o instanceof String) {
      try {
        return Long.parseLong(text(o));
      } catch (NumberFormatException e) {
        return orElse;
      }
    }
    return orElse;
  }
}
