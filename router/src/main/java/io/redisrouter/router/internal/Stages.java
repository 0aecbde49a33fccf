package io.redisrouter.router.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * Completion stages that come from Scala futures (Pekko's ask, Pekko HTTP's client and route results) are Scala's
 * {@code CompletableFuture} subclass, which runs every dependent action of the non-async methods
 * ({@code thenApply}, {@code whenComplete}, ...) through {@code ForkJoinPool.commonPool()}; on a machine with 2
 * cores that pool has a parallelism of 1, and {@code CompletableFuture} then starts a new thread per action
 * (measured: 46,000 threads started in 15 s of HTTP publishing, and 15 ms added to every request). Chain on
 * {@link #plain} instead: a plain future completed on the thread that completes the Scala one, without a hop.
 */
public final class Stages {
  private static final Executor DIRECT = Runnable::run;

  private Stages() {}

  /** A plain {@link CompletableFuture} with the outcome of {@code stage}. */
  public static <T> CompletableFuture<T> plain(CompletionStage<T> stage) {
    CompletableFuture<T> f = new CompletableFuture<>();
    stage.whenCompleteAsync((v, e) -> {
      if (e != null) {
        f.completeExceptionally(e);
      } else {
        f.complete(v);
      }
    }, DIRECT);
    return f;
  }

  /**
   * The results of {@code stages}, in their order, once all completed (failed when any failed), without waiting on
   * any of them: each result is added as it is combined in.
   */
  public static <T> CompletableFuture<List<T>> all(List<? extends CompletionStage<T>> stages) {
    CompletableFuture<List<T>> acc = CompletableFuture.completedFuture(new ArrayList<>(stages.size()));
    for (CompletionStage<T> s : stages) {
      acc = acc.thenCombine(s, (list, v) -> {
        list.add(v);
        return list;
      });
    }
    return acc;
  }
}
