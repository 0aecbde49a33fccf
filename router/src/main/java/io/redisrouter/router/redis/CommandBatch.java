package io.redisrouter.router.redis;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.output.IntegerOutput;
import io.lettuce.core.output.NestedMultiOutput;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.AsyncCommand;
import io.lettuce.core.protocol.Command;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import io.lettuce.core.protocol.RedisCommand;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * Commands written to a connection together: {@link #dispatch()} hands the whole batch to Lettuce in one call, so it
 * goes out in one write and one flush. The connection keeps auto-flush on for its other users (reads, acks, claims,
 * the health check), which are never held back behind a batch nor wait for someone else's flush: this is what lets
 * the ingress pipeline its publishes on the one connection it shares with everything else.
 *
 * <p>Not thread safe: one batch is filled and dispatched once, by one caller.
 */
public final class CommandBatch {
  private final RedisHandle handle;
  private final RedisHandle.Live live;
  private final StatefulConnection<String, byte[]> connection;
  private final List<RedisCommand<String, byte[], ?>> commands = new ArrayList<>();
  /** Reliable channels written in this batch: their doorbells ring after the writes. */
  private final java.util.Set<String> touched = new java.util.LinkedHashSet<>();
  private byte[] bell;

  /** A batch for {@code live}'s publish connection (the only connection in single-connection mode). */
  public CommandBatch(RedisHandle handle, RedisHandle.Live live) {
    this.handle = handle;
    this.live = live;
    this.connection = live.publish();
  }

  private <T> CompletableFuture<T> add(CommandType type, io.lettuce.core.output.CommandOutput<String, byte[], T> out,
      CommandArgs<String, byte[]> args) {
    AsyncCommand<String, byte[], T> c = new AsyncCommand<>(new Command<>(type, out, args));
    commands.add(c);
    return c;
  }

  /** {@code XADD stream * field value}: completes with the entry id. */
  public CompletableFuture<String> xadd(String stream, String field, byte[] value) {
    return add(CommandType.XADD, new StatusOutput<>(RedisConnectionActor.CODEC),
        new CommandArgs<>(RedisConnectionActor.CODEC).addKey(stream).add("*").add(field).addValue(value));
  }

  /** {@code PUBLISH channel message}: completes with the number of receivers. */
  public CompletableFuture<Long> publish(String channel, byte[] message) {
    return add(CommandType.PUBLISH, new IntegerOutput<>(RedisConnectionActor.CODEC),
        new CommandArgs<>(RedisConnectionActor.CODEC).addKey(channel).addValue(message));
  }

  /**
   * One of the {@link Scripts} by its digest (multi-bulk reply), falling back to EVAL when the server lost its script
   * cache (a restart or SCRIPT FLUSH). The fallback runs on the same connection as the batch (of the same
   * incarnation), so that a {@link ReplicaWaits WAIT} on it after the answer covers the write.
   */
  public CompletionStage<List<Object>> evalScript(String script, String[] keys, byte[]... args) {
    String sha = live.scriptShas().get(script);
    if (sha == null) {
      return live.publish().async().<List<Object>>eval(script, ScriptOutputType.MULTI, keys, args);
    }
    CommandArgs<String, byte[]> a = new CommandArgs<>(RedisConnectionActor.CODEC).add(sha).add(keys.length)
        .addKeys(keys).addValues(args);
    CompletableFuture<List<Object>> f = add(CommandType.EVALSHA, new NestedMultiOutput<>(RedisConnectionActor.CODEC),
        a);
    return f.handle((v, e) -> {
      if (e == null) return CompletableFuture.completedFuture(v);
      Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      if (cause instanceof RedisNoScriptException) {
        return live.publish().async().<List<Object>>eval(script, ScriptOutputType.MULTI, keys, args)
            .toCompletableFuture();
      }
      return CompletableFuture.<List<Object>>failedFuture(cause);
    }).thenCompose(x -> x);
  }

  /**
   * Rings {@code channel}'s doorbell ({@link RedisKeys#doorbell}) with {@code token} after the batch's writes (a
   * PUBLISH per channel, once per batch, executed after the writes on the same connection): subscriptions on other
   * nodes that receive it read the new entries at once.
   */
  public void ringAfter(String channel, byte[] token) {
    touched.add(channel);
    bell = token;
  }

  public boolean isEmpty() {
    return commands.isEmpty();
  }

  /**
   * Writes the batch: one call, one flush (once; the batch is not used again: Lettuce may still hold the list).
   * A connection that closed fails the commands, each is answered.
   */
  public void dispatch() {
    if (commands.isEmpty()) return;
    for (String channel : touched) publish(RedisKeys.doorbell(channel), bell); // answers unused: a hint only
    try {
      connection.dispatch(commands);
    } catch (RuntimeException e) {
      for (RedisCommand<String, byte[], ?> c : commands) c.completeExceptionally(e);
    }
  }
}
