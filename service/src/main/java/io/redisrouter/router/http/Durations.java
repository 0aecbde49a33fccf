package io.redisrouter.router.http;

import java.time.Duration;

/** Durations as the API takes them: "30s", "500ms", "5m", "2h", "1d" or ISO-8601 ("PT30S"). */
final class Durations {
  private Durations() {}

  /** The duration, or null when {@code s} is not one. */
  static Duration parse(String s) {
    String t = s.trim();
    try {
      if (t.startsWith("P") || t.startsWith("p")) return Duration.parse(t);
      if (t.endsWith("ms")) return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2).trim()));
      long n = Long.parseLong(t.substring(0, t.length() - 1).trim());
      return switch (t.charAt(t.length() - 1)) {
        case 's' -> Duration.ofSeconds(n);
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        case 'd' -> Duration.ofDays(n);
        default -> null;
      };
    } catch (RuntimeException e) {
      return null;
    }
  }
}
