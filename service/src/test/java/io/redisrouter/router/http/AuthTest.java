package io.redisrouter.router.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.ConfigError;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static io.redisrouter.router.http.Auth.Result.ALLOWED;
import static io.redisrouter.router.http.Auth.Result.FORBIDDEN;
import static io.redisrouter.router.http.Auth.Result.INVALID;
import static io.redisrouter.router.http.Auth.Result.MISSING;
import static io.redisrouter.router.http.HttpSettings.Scope.ADMIN;
import static io.redisrouter.router.http.HttpSettings.Scope.CONSUME;
import static io.redisrouter.router.http.HttpSettings.Scope.PUBLISH;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bearer tokens and scopes; settings that never print a token. */
class AuthTest {
  static final String ALL = "all-scopes-token-0123456789";
  static final String PUB = "publish-only-token-abcdef";

  static HttpSettings settings(String auth) {
    Config c = ConfigFactory.parseString(auth).withFallback(ConfigFactory.load()).resolve();
    return HttpSettings.load(c);
  }

  static final HttpSettings TWO_TOKENS = settings("redis-router.http.auth.tokens = ["
      + "{ name = ops, token = \"" + ALL + "\", scopes = [publish, consume, admin] },"
      + "{ name = producer, token = \"" + PUB + "\", scopes = [publish] }]");

  private static Optional<String> bearer(String t) {
    return Optional.of("Bearer " + t);
  }

  @Test
  void aConfiguredTokenIsAllowedForItsScopesOnly() {
    Auth auth = new Auth(TWO_TOKENS);
    assertEquals(ALLOWED, auth.check(bearer(ALL), ADMIN));
    assertEquals(ALLOWED, auth.check(bearer(PUB), PUBLISH));
    assertEquals(FORBIDDEN, auth.check(bearer(PUB), CONSUME));
    assertEquals(FORBIDDEN, auth.check(bearer(PUB), ADMIN));
    assertEquals(ALLOWED, auth.check(Optional.of("bearer " + PUB), PUBLISH), "the scheme is case-insensitive");
  }

  @Test
  void missingMalformedAndNearMissTokensAreRefused() {
    Auth auth = new Auth(TWO_TOKENS);
    assertEquals(MISSING, auth.check(Optional.empty(), PUBLISH));
    assertEquals(INVALID, auth.check(Optional.of("Basic " + ALL), PUBLISH));
    assertEquals(INVALID, auth.check(Optional.of(ALL), PUBLISH));
    assertEquals(INVALID, auth.check(bearer(ALL.substring(0, ALL.length() - 1)), PUBLISH), "a prefix");
    assertEquals(INVALID, auth.check(bearer(ALL + "0"), PUBLISH), "a longer token");
    assertEquals(INVALID, auth.check(bearer(ALL.toUpperCase()), PUBLISH), "tokens are case-sensitive");
    assertEquals(INVALID, auth.check(bearer(""), PUBLISH));
  }

  @Test
  void authOffAllowsEverything() {
    Auth auth = new Auth(settings("redis-router.http.auth.enabled = false"));
    assertFalse(auth.enabled());
    assertEquals(ALLOWED, auth.check(Optional.empty(), ADMIN));
  }

  @Test
  void authOnWithoutATokenRefusesToStart() {
    ConfigError e = assertThrows(ConfigError.class, () -> settings("redis-router.http.auth.tokens = []"));
    assertTrue(e.getMessage().contains("ROUTER_HTTP_TOKEN"), e.getMessage());
  }

  @Test
  void settingsNeverPrintATokenValue() {
    String shown = TWO_TOKENS.toString() + TWO_TOKENS.tokens();
    assertFalse(shown.contains(ALL) || shown.contains(PUB), shown);
    assertTrue(shown.contains("producer"), shown);
  }

  @Test
  void anUnknownScopeIsAConfigErrorThatDoesNotQuoteTheToken() {
    ConfigError e = assertThrows(ConfigError.class, () -> settings(
        "redis-router.http.auth.tokens = [{ token = \"" + ALL + "\", scopes = [publish, everything] }]"));
    assertTrue(e.getMessage().contains("everything"), e.getMessage());
    assertFalse(e.getMessage().contains(ALL), e.getMessage());
  }
}
