package io.redisrouter.router.redis;

import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisConnectionException;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pure parts of the Redis-limit handling: telling an out-of-memory refusal from other failures (in the forms 7.0
 * and 6.2 give it), which keys an eviction policy puts at risk, and reading the pub/sub output buffer limit.
 */
class RedisLimitsTest {

  @Test
  void anOomRefusalIsToldFromOtherFailuresInBothServerForms() {
    String v7 = "OOM command not allowed when used memory > 'maxmemory'. script: 7f9e, on @user_script:1.";
    String v62 = "ERR Error running script (call to f_7f9e): @user_script:1: @user_script: 1: -OOM command not"
        + " allowed when used memory > 'maxmemory'.";
    assertTrue(RedisFailures.isOutOfMemory(new RedisCommandExecutionException(v7)));
    assertTrue(RedisFailures.isOutOfMemory(new CompletionException(new RedisCommandExecutionException(v62))));
    assertFalse(RedisFailures.isOutOfMemory(new RedisCommandExecutionException("ERR wrong number of arguments")));
    // a connection failure whose text happened to contain the words is not an error reply of the server
    assertFalse(RedisFailures.isOutOfMemory(new RedisConnectionException(v7)));
  }

  @Test
  void anEvictionPolicyNamesTheKeysItPutsAtRisk() {
    assertNull(RedisConnectionActor.evictableKeys("noeviction"));
    String all = RedisConnectionActor.evictableKeys("allkeys-lfu");
    assertTrue(all.contains("rr:{channel}:stream") && all.contains("rr:subscriptions") && all.contains("dedup"), all);
    String volatileKeys = RedisConnectionActor.evictableKeys("volatile-ttl");
    assertTrue(volatileKeys.contains("rr:{channel}:dedup:<messageId>"), volatileKeys);
    assertFalse(volatileKeys.contains("rr:{channel}:stream) with"), volatileKeys);
  }

  @Test
  void theInfoFieldAndThePubSubLimitAreRead() {
    String info = "# Memory\r\nused_memory:1024\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n";
    assertEquals("allkeys-lru", RedisConnectionActor.infoField(info, "maxmemory_policy"));
    assertEquals("0", RedisConnectionActor.infoField(info, "maxmemory"));
    assertNull(RedisConnectionActor.infoField(info, "maxmemory_samples"));
    assertEquals("65536 32768 1",
        RedisHandle.pubsubLimit("normal 0 0 0 slave 268435456 67108864 60 pubsub 65536 32768 1"));
    assertNull(RedisHandle.pubsubLimit("normal 0 0 0"));
    assertNull(RedisHandle.pubsubLimit(null));
  }
}
