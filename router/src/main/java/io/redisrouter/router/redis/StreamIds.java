package io.redisrouter.router.redis;

/** Redis stream entry ids ({@code <ms>-<seq>}, both unsigned 64-bit). */
public final class StreamIds {
  private StreamIds() {}

  /** Orders two entry ids as Redis does; an id without {@code -seq} counts as {@code -0}. */
  public static int compare(String a, String b) {
    int c = Long.compareUnsigned(part(a, true), part(b, true));
    return c != 0 ? c : Long.compareUnsigned(part(a, false), part(b, false));
  }

  private static long part(String id, boolean ms) {
    int dash = id.indexOf('-');
    String s = ms ? (dash < 0 ? id : id.substring(0, dash)) : (dash < 0 ? "0" : id.substring(dash + 1));
    try {
      return Long.parseUnsignedLong(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + id + "' is not a stream entry id (<ms>-<seq>)", e);
    }
  }
}
