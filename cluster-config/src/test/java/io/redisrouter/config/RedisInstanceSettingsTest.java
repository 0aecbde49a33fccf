package io.redisrouter.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RedisInstanceSettingsTest {

  private static RedisInstanceSettings instance(String uri, String password, boolean tls) {
    return new RedisInstanceSettings("main", uri, password, tls, Duration.ofSeconds(1), Duration.ofSeconds(2), 10);
  }

  @Test
  void toStringNeverShowsThePassword() {
    RedisInstanceSettings s = instance("redis://db:6379", "correct-horse", false);
    String shown = s.toString();
    assertFalse(shown.contains("correct-horse"), shown);
    assertTrue(shown.contains("password=<set>"), shown);
    assertTrue(instance("redis://db:6379", null, false).toString().contains("password=<none>"));
  }

  @Test
  void toStringRedactsUserInfoInTheUri() {
    RedisInstanceSettings s = instance("redis://app:pa55@db:6379/0", null, false);
    assertFalse(s.toString().contains("pa55"), s.toString());
    assertTrue(s.toString().contains("redis://app:***@db:6379/0"), s.toString());
    assertEquals("redis://app:pa55@db:6379/0", s.uri());
  }

  @ParameterizedTest
  @CsvSource({
      "redis://user:pw@host:6379,        redis://user:***@host:6379",
      "rediss://user:p@ss@host:6380/1,   rediss://user:***@host:6380/1",
      "redis://onlypassword@host,        redis://***@host",
      "redis://host:6379/0?timeout=5s,   redis://host:6379/0?timeout=5s",
      "redis://host/x@y,                 redis://host/x@y",
      "redis://,                         redis://",
  })
  void redactedUri(String uri, String expected) {
    assertEquals(expected, instance(uri, null, false).redactedUri());
  }

  @Test
  void tlsFollowsTheScheme() {
    assertTrue(instance("rediss://db:6380", null, false).tls());
    assertFalse(instance("redis://db:6379", null, false).tls());
    assertTrue(instance("redis://db:6379", null, true).tls());
  }

  @ParameterizedTest
  @CsvSource(nullValues = "null", value = {
      "redis://router:pw@host:6379,   router, true",
      "rediss://router:p@ss@host/1,   router, true",
      "redis://router:@host,          router, false",
      "redis://:pw@host,              null,   true",
      "redis://onlypassword@host,     null,   true",
      "redis://host:6379,             null,   false",
      "redis://host/x@y,              null,   false",
  })
  void userAndPasswordOfTheUri(String uri, String user, boolean hasPassword) {
    assertEquals(user, RedisInstanceSettings.uriUsername(uri));
    assertEquals(hasPassword, RedisInstanceSettings.uriHasPassword(uri));
  }

  @Test
  void toStringShowsTheUserAndHowTlsIsCheckedButNeverThePassword() {
    RedisInstanceSettings s = instance("rediss://db:6380", "correct-horse", false)
        .withAuthAndTls("router", java.nio.file.Path.of("/etc/ca.pem"), RedisInstanceSettings.TlsVerify.CA);
    String shown = s.toString();
    assertTrue(shown.contains("username=router"), shown);
    assertTrue(shown.contains("tlsCaFile=/etc/ca.pem, tlsVerifyPeer=ca"), shown);
    assertFalse(shown.contains("correct-horse"), shown);
    String plain = instance("redis://db:6379", null, false).toString();
    assertTrue(plain.contains("username=<none>") && !plain.contains("tlsVerifyPeer"), plain);
  }
}
