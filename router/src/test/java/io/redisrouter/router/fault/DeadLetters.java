package io.redisrouter.router.fault;

import io.redisrouter.protocol.EnvelopeCodec;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.testkit.RedisServer;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What a channel's dead-letter stream holds, read straight from Redis. */
final class DeadLetters {
  private DeadLetters() {}

  /** Message id to the reason it was dead-lettered, in stream order. */
  static Map<String, String> reasons(RedisServer redis, String channel) {
    Map<String, String> out = new LinkedHashMap<>();
    List<?> entries = (List<?>) redis.callBinary("XRANGE", RedisKeys.deadLetters(channel), "-", "+");
    for (Object o : entries) {
      List<?> fields = (List<?>) ((List<?>) o).get(1);
      String id = null;
      String reason = null;
      for (int f = 0; f + 1 < fields.size(); f += 2) {
        String name = new String((byte[]) fields.get(f), StandardCharsets.UTF_8);
        if (RedisKeys.FIELD_ENVELOPE.equals(name)) id = EnvelopeCodec.decode((byte[]) fields.get(f + 1)).id();
        if ("reason".equals(name)) reason = new String((byte[]) fields.get(f + 1), StandardCharsets.UTF_8);
      }
      if (id != null) out.put(id, reason);
    }
    return out;
  }

  /** Subscription to (message id to reason), in stream order: what each subscription dead-lettered. */
  static Map<String, Map<String, String>> bySubscription(RedisServer redis, String channel) {
    Map<String, Map<String, String>> out = new LinkedHashMap<>();
    List<?> entries = (List<?>) redis.callBinary("XRANGE", RedisKeys.deadLetters(channel), "-", "+");
    for (Object o : entries) {
      List<?> fields = (List<?>) ((List<?>) o).get(1);
      String id = null;
      String reason = null;
      String sub = null;
      for (int f = 0; f + 1 < fields.size(); f += 2) {
        String name = new String((byte[]) fields.get(f), StandardCharsets.UTF_8);
        if (RedisKeys.FIELD_ENVELOPE.equals(name)) id = EnvelopeCodec.decode((byte[]) fields.get(f + 1)).id();
        if ("reason".equals(name)) reason = new String((byte[]) fields.get(f + 1), StandardCharsets.UTF_8);
        if ("sub".equals(name)) sub = new String((byte[]) fields.get(f + 1), StandardCharsets.UTF_8);
      }
      if (id != null) out.computeIfAbsent(String.valueOf(sub), k -> new LinkedHashMap<>()).put(id, reason);
    }
    return out;
  }
}
