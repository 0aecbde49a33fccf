package io.redisrouter.router.redis;

import io.lettuce.core.RedisURI;
import io.redisrouter.config.RedisInstanceSettings;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How an instance's settings become the Lettuce URI: TLS, password, timeout, client name. */
class RedisUriTest {
  private static RedisInstanceSettings instance(String uri, String password, boolean tls) {
    return new RedisInstanceSettings("default", uri, password, tls, Duration.ofSeconds(2), Duration.ofSeconds(3), 100);
  }

  @Test
  void aRedissUriTurnsTlsOn() {
    RedisInstanceSettings s = instance("rediss://redis.example:6380", null, false);
    assertTrue(s.tls(), "rediss:// sets RedisInstanceSettings.tls");
    RedisURI uri = RedisConnectionActor.redisUri(s, "rr:n1:cmd");
    assertTrue(uri.isSsl(), uri.toString());
    assertEquals("redis.example", uri.getHost());
    assertEquals(6380, uri.getPort());
  }

  @Test
  void tlsTrueOnAPlainUriTurnsTlsOn() {
    RedisURI uri = RedisConnectionActor.redisUri(instance("redis://redis.example:6379", null, true), "rr:n1:cmd");
    assertTrue(uri.isSsl());
  }

  @Test
  void aPlainUriWithoutTlsStaysPlain() {
    RedisInstanceSettings s = instance("redis://127.0.0.1:6379", null, false);
    assertFalse(s.tls());
    RedisURI uri = RedisConnectionActor.redisUri(s, "rr:n1:pub");
    assertFalse(uri.isSsl());
    assertNull(uri.getCredentialsProvider().resolveCredentials().block().getPassword());
    assertEquals("rr:n1:pub", uri.getClientName());
    assertEquals(Duration.ofSeconds(3), uri.getTimeout());
  }

  @Test
  void thePasswordKeyIsUsedForAuthAndNotShownByTheUri() {
    String pw = "pw-" + System.nanoTime();
    RedisURI uri = RedisConnectionActor.redisUri(instance("rediss://127.0.0.1:6380", pw, false), "rr:n1:sub");
    assertTrue(uri.isSsl());
    assertArrayEquals(pw.toCharArray(), uri.getCredentialsProvider().resolveCredentials().block().getPassword());
    assertFalse(uri.toString().contains(pw), uri.toString());
  }

  @Test
  void aPasswordInsideTheUriIsKeptAndTlsStaysOn() {
    RedisURI uri = RedisConnectionActor.redisUri(instance("rediss://:uri-secret@127.0.0.1:6380/2", null, false),
        "rr:n1:cmd");
    assertTrue(uri.isSsl());
    assertEquals(2, uri.getDatabase());
    assertArrayEquals("uri-secret".toCharArray(),
        uri.getCredentialsProvider().resolveCredentials().block().getPassword());
    assertFalse(uri.toString().contains("uri-secret"), uri.toString());
  }
}
