package io.redisrouter.testkit;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.read.ListAppender;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Captures every log event of the JVM (a {@link ListAppender} on the root logger) while open. With
 * {@link #everything(Level)} the root and the named loggers are lowered to that level and the console appenders are
 * detached meanwhile (so a DEBUG capture does not flood the build output); {@link #close()} restores both.
 */
public final class LogCapture implements AutoCloseable {
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
  private final Logger root;
  private final Map<Logger, Level> savedLevels = new HashMap<>();
  private final List<Appender<ILoggingEvent>> detached = new ArrayList<>();

  private LogCapture(Level level) {
    LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
    root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    if (level != null) {
      for (Logger l : ctx.getLoggerList()) {
        if (l.getLevel() != null) {
          savedLevels.put(l, l.getLevel());
          l.setLevel(level);
        }
      }
      for (Iterator<Appender<ILoggingEvent>> it = root.iteratorForAppenders(); it.hasNext();) {
        detached.add(it.next());
      }
      detached.forEach(root::detachAppender);
    }
    appender.setContext(ctx);
    appender.setName("log-capture");
    appender.start();
    root.addAppender(appender);
  }

  /** Captures at the configured levels. */
  public static LogCapture start() {
    return new LogCapture(null);
  }

  /** Captures everything at {@code level} and above, from every logger, keeping it off the console. */
  public static LogCapture everything(Level level) {
    return new LogCapture(level);
  }

  /** The events so far. */
  public List<ILoggingEvent> events() {
    synchronized (appender) {
      return List.copyOf(appender.list);
    }
  }

  /** Every event as text: level, logger, formatted message, MDC, and each throwable's class, message and frames. */
  public List<String> lines() {
    List<String> out = new ArrayList<>();
    for (ILoggingEvent e : events()) {
      StringBuilder b = new StringBuilder().append(e.getLevel()).append(' ').append(e.getLoggerName()).append(" - ")
          .append(e.getFormattedMessage());
      if (!e.getMDCPropertyMap().isEmpty()) b.append(' ').append(e.getMDCPropertyMap());
      if (e.getArgumentArray() != null) {
        for (Object a : e.getArgumentArray()) b.append(" | arg: ").append(a);
      }
      for (IThrowableProxy t = e.getThrowableProxy(); t != null; t = t.getCause()) {
        b.append("\n  ").append(t.getClassName()).append(": ").append(t.getMessage());
        for (StackTraceElementProxy s : t.getStackTraceElementProxyArray())
          b.append("\n    ").append(s.getSTEAsString());
        for (IThrowableProxy sup : t.getSuppressed())
          b.append("\n  suppressed ").append(sup.getClassName()).append(": ")
              .append(sup.getMessage());
      }
      out.add(b.toString());
    }
    return out;
  }

  /** The lines containing {@code text}. */
  public List<String> linesContaining(String text) {
    return lines().stream().filter(l -> l.contains(text)).toList();
  }

  @Override
  public void close() {
    root.detachAppender(appender);
    appender.stop();
    detached.forEach(root::addAppender);
    savedLevels.forEach(Logger::setLevel);
  }
}
