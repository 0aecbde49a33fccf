package io.redisrouter.router.redis;

import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.api.async.RedisAsyncCommands;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;

/**
 * How a call to Redis failed, for the services that answer clients: Redis not reachable (retry later) or a Redis
 * error reply (a bug or a misconfigured server), and calls on an instance's command connection as one stage.
 */
public final class RedisFailures {
  private RedisFailures() {}

  /** The cause inside the future and completion wrappers. */
  public static Throwable unwrap(Throwable t) {
    Throwable c = t;
    while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
      c = c.getCause();
    }
    return c;
  }

  /** Whether {@code t} says Redis cannot be reached now (not connected, timed out, connection lost). */
  public static boolean isUnavailable(Throwable t) {
    Throwable c = unwrap(t);
    return c instanceof RedisUnavailableException
        || (c instanceof RedisException && !(c instanceof RedisCommandExecutionException));
  }

  /**
   * Whether {@code t} is Redis refusing a write because its used memory reached {@code maxmemory} (policy
   * {@code noeviction}, or a {@code volatile-*} one with nothing left to evict): {@code OOM command not allowed when
   * used memory > 'maxmemory'}, as a plain error reply (7.0) or inside a script's error (6.2: {@code ERR Error
   * running script ... -OOM command not allowed ...}). Nothing was written.
   */
  public static boolean isOutOfMemory(Throwable t) {
    Throwable c = unwrap(t);
    if (!(c instanceof RedisCommandExecutionException) || c.getMessage() == null) return false;
    return c.getMessage().contains("OOM command not allowed");
  }

  /** "ExceptionClass: message". */
  public static String describe(Throwable t) {
    Throwable c = unwrap(t);
    return c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
  }

  /**
   * Runs {@code f} on the command connection of {@code handle}: a handle without a connection, or {@code f}
   * throwing, is a failed stage instead of an exception.
   */
  public static <T> CompletionStage<T> on(RedisHandle handle,
      Function<RedisAsyncCommands<String, byte[]>, CompletionStage<T>> f) {
    try {
      return f.apply(handle.commands());
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }
}
