package io.redisrouter.config;

import static java.util.Objects.requireNonNull;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigUtil;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.function.Function;

/**
 * Reads one HOCON block and turns every failure, including Typesafe Config's own exceptions, into a
 * {@link ConfigError} that names the full key and the allowed values.
 */
final class BlockReader {
  private final Config config;
  private final String path;

  /**
   * @param config the block
   * @param path   the block's full path expression, quoted where needed, e.g. {@code redis-router.ingress}
   */
  BlockReader(Config config, String path) {
    this.config = requireNonNull(config, "config");
    this.path = requireNonNull(path, "path");
  }

  /** The full path of the block. */
  String path() {
    return path;
  }

  /** The block itself. */
  Config config() {
    return config;
  }

  /** The full path of {@code key}, a path expression relative to this block. */
  String key(String key) {
    return path + "." + key;
  }

  /** The full path of a block entry named {@code name}, quoted when it contains dots or colons. */
  String entryKey(String name) {
    return path + "." + ConfigUtil.joinPath(name);
  }

  /** The object at {@code key}, e.g. {@code channels.overrides}. */
  ConfigObject object(String key) {
    try {
      return config.getObject(key);
    } catch (ConfigException e) {
      throw invalid(key, "an object { ... }", e);
    }
  }

  /** The block at {@code key}. */
  BlockReader block(String key) {
    try {
      return new BlockReader(config.getConfig(key), key(key));
    } catch (ConfigException e) {
      throw invalid(key, "an object { ... }", e);
    }
  }

  /** The entry {@code name} of {@code object} as a block; fails when it is not an object. */
  BlockReader entry(ConfigObject object, String name, String allowed) {
    ConfigValue value = object.get(name);
    String full = entryKey(name);
    if (!(value instanceof ConfigObject)) {
      throw new ConfigError(full, full + " = " + show(value) + " is invalid: use " + allowed);
    }
    return new BlockReader(((ConfigObject) value).toConfig(), full);
  }

  String string(String key, String allowed) {
    try {
      return config.getString(key);
    } catch (ConfigException e) {
      throw invalid(key, allowed, e);
    }
  }

  /** A string whose value must never appear in a message. */
  String secret(String key, String allowed) {
    try {
      return config.getString(key);
    } catch (ConfigException e) {
      String full = key(key);
      String what = e instanceof ConfigException.Missing ? " is missing" : " has a wrong type";
      throw new ConfigError(full, full + what + ": use " + allowed, e);
    }
  }

  boolean bool(String key) {
    try {
      return config.getBoolean(key);
    } catch (ConfigException e) {
      throw invalid(key, "true or false", e);
    }
  }

  int intAtLeast(String key, int min) {
    return intBetween(key, min, Integer.MAX_VALUE);
  }

  int intBetween(String key, int min, int max) {
    String allowed = max == Integer.MAX_VALUE ? "an integer >= " + min : "an integer from " + min + " to " + max;
    int value;
    try {
      value = config.getInt(key);
    } catch (ConfigException e) {
      throw invalid(key, allowed, e);
    }
    if (value < min || value > max) throw invalid(key, allowed);
    return value;
  }

  long longAtLeast(String key, long min) {
    String allowed = "an integer >= " + min;
    long value;
    try {
      value = config.getLong(key);
    } catch (ConfigException e) {
      throw invalid(key, allowed, e);
    }
    if (value < min) throw invalid(key, allowed);
    return value;
  }

  /** A size in bytes: a plain number or a size such as {@code 1MiB}; at most {@link Integer#MAX_VALUE}. */
  int bytesAtLeast(String key, int min) {
    String allowed = "a number of bytes >= " + min + " (or a size such as 64KiB) up to " + Integer.MAX_VALUE;
    long value;
    try {
      value = config.getBytes(key);
    } catch (ConfigException e) {
      throw invalid(key, allowed, e);
    }
    if (value < min || value > Integer.MAX_VALUE) throw invalid(key, allowed);
    return (int) value;
  }

  double doubleBetween(String key, double min, double max) {
    String allowed = "a number from " + min + " to " + max;
    double value;
    try {
      value = config.getDouble(key);
    } catch (ConfigException e) {
      throw invalid(key, allowed, e);
    }
    if (!(value >= min && value <= max)) throw invalid(key, allowed);
    return value;
  }

  /**
   * The longest duration a timer setting may have: Pekko's scheduler holds at most 2^31 ticks of 10 ms (about 248
   * days) and fails at run time beyond it, so every duration that drives a timer is capped well below, at 180 days.
   */
  static final Duration MAX_TIMER_DURATION = Duration.ofDays(180);

  /** A duration greater than zero and at most {@link #MAX_TIMER_DURATION} (it drives a timer or a timeout). */
  Duration positiveDuration(String key) {
    return positiveDuration(key, MAX_TIMER_DURATION, "timers cannot hold more");
  }

  /** A duration greater than zero and at most {@code max}; {@code why} says where the maximum comes from. */
  Duration positiveDuration(String key, Duration max, String why) {
    String allowed = "a duration > 0 and at most " + show(max) + " (" + why + "), e.g. 30s";
    Duration value = duration(key, allowed);
    if (value.isZero() || value.isNegative() || value.compareTo(max) > 0) throw invalid(key, allowed);
    return value;
  }

  /** A duration of zero or more, at most {@code max}; {@code why} says where the maximum comes from. */
  Duration nonNegativeDuration(String key, Duration max, String why) {
    String allowed = "a duration >= 0 and at most " + show(max) + " (" + why + "), e.g. 24h";
    Duration value = duration(key, allowed);
    if (value.isNegative() || value.compareTo(max) > 0) throw invalid(key, allowed);
    return value;
  }

  /** A duration as HOCON would write it, in the largest whole unit ({@code 180d}, {@code 30s}, {@code 500ms}). */
  static String show(Duration d) {
    if (d.toMillis() % 86_400_000L == 0) return d.toDays() + "d";
    if (d.toMillis() % 3_600_000L == 0) return d.toHours() + "h";
    if (d.toMillis() % 60_000L == 0) return d.toMinutes() + "m";
    if (d.toMillis() % 1000L == 0) return d.toSeconds() + "s";
    return d.toMillis() + "ms";
  }

  private Duration duration(String key, String allowed) {
    try {
      return config.getDuration(key);
    } catch (ConfigException e) {
      throw invalid(key, allowed, e);
    } catch (ArithmeticException e) {
      throw invalid(key, allowed, e);
    }
  }

  /** One of {@code values}, by the name {@code nameOf} gives it in configuration. */
  <E> E oneOf(String key, E[] values, Function<E, String> nameOf) {
    List<String> names = java.util.Arrays.stream(values).map(nameOf).toList();
    String allowed = "one of " + String.join(", ", names);
    String name = string(key, allowed);
    for (E value : values) {
      if (nameOf.apply(value).equals(name)) return value;
    }
    throw invalid(key, allowed);
  }

  /**
   * Fails on the first key of this block not in {@code allowed}.
   *
   * @param hint added to the message, e.g. how to quote a channel name; empty for none
   */
  void requireKnownKeys(Collection<String> allowed, String hint) {
    for (String name : config.root().keySet().stream().sorted().toList()) {
      if (!allowed.contains(name)) {
        String full = entryKey(name);
        throw new ConfigError(full,
            "unknown key " + full + ": allowed keys are " + String.join(", ", allowed) + hint);
      }
    }
  }

  /** {@code key = value is invalid: use allowed}, for a value that was read but is out of range. */
  ConfigError invalid(String key, String allowed) {
    return invalid(key, allowed, null);
  }

  /** The error for {@code key}; {@code cause} is the Typesafe Config exception, if any. */
  ConfigError invalid(String key, String allowed, Throwable cause) {
    String full = key(key);
    if (cause instanceof ConfigException.Missing && !(cause instanceof ConfigException.Null)) {
      return new ConfigError(full, full + " is missing: use " + allowed, cause);
    }
    ConfigValue value;
    try {
      value = config.getValue(key);
    } catch (ConfigException e) {
      value = null;
    }
    String shown = value == null ? "null" : show(value);
    if (value == null && cause != null && !(cause instanceof ConfigException.Null)) {
      return new ConfigError(full, full + " is invalid (" + cause.getMessage() + "): use " + allowed, cause);
    }
    return new ConfigError(full, full + " = " + shown + " is invalid: use " + allowed, cause);
  }

  /** A value as written, strings without quotes unless they are empty or contain spaces. */
  static String show(ConfigValue value) {
    if (value == null) return "null";
    if (value.valueType() == ConfigValueType.STRING) {
      String s = (String) value.unwrapped();
      return s.isEmpty() || s.chars().anyMatch(Character::isWhitespace) ? '"' + s + '"' : s;
    }
    String rendered = value.render(ConfigRenderOptions.concise());
    return rendered.length() > 80 ? rendered.substring(0, 77) + "..." : rendered;
  }
}
