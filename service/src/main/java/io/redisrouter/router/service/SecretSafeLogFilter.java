package io.redisrouter.router.service;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import org.slf4j.Marker;

/**
 * Keeps the Redis password out of the log even at TRACE: Lettuce's {@code CommandEncoder} traces every command it
 * sends as raw RESP ("Sent: *7 $5 HELLO ... AUTH default &lt;password&gt;"), so its TRACE output is always denied.
 * Installed by {@code logback-router.xml} ({@code <turboFilter class="...SecretSafeLogFilter"/>}); add it to any
 * other logback configuration that may raise {@code io.lettuce} to TRACE.
 */
public final class SecretSafeLogFilter extends TurboFilter {
  /** The logger whose TRACE lines carry the raw commands, AUTH and HELLO included. */
  public static final String WIRE_LOGGER = "io.lettuce.core.protocol.CommandEncoder";

  @Override
  public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
    if (level == Level.TRACE && logger != null && logger.getName().equals(WIRE_LOGGER)) {
      return FilterReply.DENY;
    }
    return FilterReply.NEUTRAL;
  }
}
