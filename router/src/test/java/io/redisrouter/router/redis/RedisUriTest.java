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
    RedisURI uri = RedisUris.redisUri(s, "rr:n1:cmd");
    assertTrue(uri.isSsl(), uri.toString());
    assertEquals("redis.example", uri.getHost());
    assertEquals(6380, uri.getPort());
  }

  @Test
  void tlsTrueOnAPlainUriTurnsTlsOn() {
    RedisURI uri = RedisUris.redisUri(instance("redis://redis.example:6379", null, true), "rr:n1:cmd");
    assertTrue(uri.isSsl());
  }

  @Test
  void aPlainUriWithoutTlsStaysPlain() {
    RedisInstanceSettings s = instance("redis://127.0.0.1:6379", null, false);
    assertFalse(s.tls());
    RedisURI uri = RedisUris.redisUri(s, "rr:n1:pub");
    assertFalse(uri.isSsl());
    assertNull(uri.getCredentialsProvider().resolveCredentials().block().getPassword());
    assertEquals("rr:n1:pub", uri.getClientName());
    // Lettuce sends CLIENT SETINFO only for a non-empty library name and version: it needs no ACL right then
    assertEquals("", uri.getLibraryName());
    assertEquals("", uri.getLibraryVersion());
    assertEquals(Duration.ofSeconds(3), uri.getTimeout());
  }

  @Test
  void thePasswordKeyIsUsedForAuthAndNotShownByTheUri() {
    String pw = "pw-" + System.nanoTime();
    RedisURI uri = RedisUris.redisUri(instance("rediss://127.0.0.1:6380", pw, false), "rr:n1:sub");
    assertTrue(uri.isSsl());
    assertArrayEquals(pw.toCharArray(), uri.getCredentialsProvider().resolveCredentials().block().getPassword());
    assertFalse(uri.toString().contains(pw), uri.toString());
  }

  @Test
  void aPasswordInsideTheUriIsKeptAndTlsStaysOn() {
    RedisURI uri = RedisUris.redisUri(instance("rediss://:uri-secret@127.0.0.1:6380/2", null, false),
        "rr:n1:cmd");
    assertTrue(uri.isSsl());
    assertEquals(2, uri.getDatabase());
    assertArrayEquals("uri-secret".toCharArray(),
        uri.getCredentialsProvider().resolveCredentials().block().getPassword());
    assertFalse(uri.toString().contains("uri-secret"), uri.toString());
  }

  private static io.lettuce.core.RedisCredentials credentials(RedisURI uri) {
    return uri.getCredentialsProvider().resolveCredentials().block();
  }

  @Test
  void theUsernameKeyGoesWithThePasswordKey() {
    RedisInstanceSettings s = instance("redis://127.0.0.1:6379", "pw-1", false)
        .withAuthAndTls("router", null, RedisInstanceSettings.TlsVerify.FULL);
    var c = credentials(RedisUris.redisUri(s, "rr:n1:main"));
    assertEquals("router", c.getUsername());
    assertArrayEquals("pw-1".toCharArray(), c.getPassword());
  }

  @Test
  void theUsernameKeyGoesWithAPasswordInTheUri() {
    RedisInstanceSettings s = instance("redis://:uri-pw@127.0.0.1:6379", null, false)
        .withAuthAndTls("router", null, RedisInstanceSettings.TlsVerify.FULL);
    var c = credentials(RedisUris.redisUri(s, "rr:n1:main"));
    assertEquals("router", c.getUsername());
    assertArrayEquals("uri-pw".toCharArray(), c.getPassword());
  }

  @Test
  void theUserOfTheUriIsKeptWhenThePasswordKeyIsSet() {
    // before the username key, the password key dropped the uri's user (AUTH went to the default user)
    var c = credentials(RedisUris.redisUri(instance("redis://router@127.0.0.1:6379", "key-pw", false), "rr:n1:main"));
    assertNull(c.getUsername(), "redis://x@host is the password-only form: no user");
    var withUser = credentials(RedisUris.redisUri(instance("redis://router:uri-pw@127.0.0.1:6379", "key-pw", false),
        "rr:n1:main"));
    assertEquals("router", withUser.getUsername());
    assertArrayEquals("key-pw".toCharArray(), withUser.getPassword());
  }

  @Test
  void tlsVerifyPeerSetsLettucesVerifyMode() {
    for (RedisInstanceSettings.TlsVerify v : RedisInstanceSettings.TlsVerify.values()) {
      RedisInstanceSettings s = instance("rediss://127.0.0.1:6380", null, false).withAuthAndTls(null, null, v);
      assertEquals(v.name(), RedisUris.redisUri(s, "rr:n1:main").getVerifyMode().name());
    }
    assertEquals(Duration.ofSeconds(2),
        RedisUris.sslOptions(instance("rediss://127.0.0.1:6380", null, false)).getHandshakeTimeout());
  }

  @Test
  void theConnectLineSaysWhoAndHow() {
    RedisInstanceSettings s = instance("rediss://127.0.0.1:6380", "pw-2", false)
        .withAuthAndTls("router", java.nio.file.Path.of("/etc/ca.pem"), RedisInstanceSettings.TlsVerify.FULL);
    String shown = RedisUris.access(s);
    assertEquals("as user 'router', TLS (server certificate check: full, trusting /etc/ca.pem)", shown);
    assertEquals("without authentication, plain TCP (no TLS)",
        RedisUris.access(instance("redis://127.0.0.1:6379", null, false)));
    assertEquals("as user 'default' (password), plain TCP (no TLS)",
        RedisUris.access(instance("redis://127.0.0.1:6379", "pw", false)));
  }
}
