package io.redisrouter.router.http;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Optional;

/**
 * Bearer-token check. Tokens are compared as SHA-256 digests with {@link MessageDigest#isEqual} (constant time, and
 * independent of the token lengths), against every configured token, so the time taken reveals nothing.
 */
public final class Auth {
  private record Entry(HttpSettings.Token token, byte[] digest) {}

  private final boolean enabled;
  private final List<Entry> entries;

  public Auth(HttpSettings settings) {
    this.enabled = settings.authEnabled();
    this.entries = settings.tokens().stream().map(t -> new Entry(t, sha256(t.secret()))).toList();
  }

  public boolean enabled() {
    return enabled;
  }

  /** The outcome of checking an Authorization header. */
  public enum Result { ALLOWED, MISSING, INVALID, FORBIDDEN }

  /** Checks the {@code Authorization} header value (may be absent) for the given scope. */
  public Result check(Optional<String> authorization, HttpSettings.Scope scope) {
    if (!enabled) return Result.ALLOWED;
    if (authorization.isEmpty()) return Result.MISSING;
    String h = authorization.get();
    if (!h.regionMatches(true, 0, "Bearer ", 0, 7)) return Result.INVALID;
    byte[] given = sha256(h.substring(7).trim());
    HttpSettings.Token match = null;
    for (Entry e : entries) {
      if (MessageDigest.isEqual(e.digest(), given)) match = e.token(); // no early exit
    }
    if (match == null) return Result.INVALID;
    return match.scopes().contains(scope) ? Result.ALLOWED : Result.FORBIDDEN;
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
