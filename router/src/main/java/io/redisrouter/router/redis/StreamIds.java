package io.redisrouter.router.redis;

/** Redis stream entry ids ({@code <ms>-<seq>}, both unsigned 64-bit). */
public final class StreamIds {
  private StreamIds() {}

  /** Orders two entry ids as Redis does; an id without {@code -seq} counts as {@code -0}. */
  public static int compare(String a, String b) {
    int c = Long.compareUnsigned(part(a, true), part(b, true));
    return c != 0 ? c : Long.compareUnsigned(part(a, false), part(b, false));
  }

  /** The greatest id below {@code id} ({@code 0-0} for the smallest): a group created there reads {@code id} next. */
  public static String before(String id) {
    long ms = part(id, true);
    long seq = part(id, false);
    if (seq != 0) return Long.toUnsignedString(ms) + "-" + Long.toUnsignedString(seq - 1);
    if (ms != 0) return Long.toUnsignedString(ms - 1) + "-" + Long.toUnsignedString(-1L);
    return "0-0";
  }

  /** When the entry was added: the millisecond part of its id (0 when {@code id} is not an entry id). */
  public static long millis(String id) {
    try {
      return part(id, true);
    } catch (IllegalArgumentException e) {
      return 0;
    }
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
