package io.redisrouter.router.internal;

import io.redisrouter.router.RouterMetrics;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * The two supervision shapes the router's actors use, each logging the failure as a WARN that names the actor's role
 * and counting it in {@code redis_router_failures_recovered}: nothing fails silently, and nothing stays stopped.
 *
 * <ul>
 * <li>{@link #restarting}: an actor whose state can be rebuilt from Redis or from its owner (a subscription, a
 * janitor, an HTTP consumer) starts again from its set-up after a backoff; what it held stays pending in Redis and is
 * claimed again after the ack timeout.</li>
 * <li>{@link #resuming}: an actor whose state is a small table that a restart would lose without need (a subscriber's
 * gate: the deliveries it holds and where their answers go) drops the one message that threw and goes on.</li>
 * </ul>
 */
public final class Supervision {
  /** First and longest wait before a restart (20% jitter); the backoff starts over after 30 s without a failure. */
  public static final Duration RESTART_MIN_BACKOFF = Duration.ofMillis(200);
  public static final Duration RESTART_MAX_BACKOFF = Duration.ofSeconds(10);
  static final Duration RESET_BACKOFF_AFTER = Duration.ofSeconds(30);

  private Supervision() {}

  /**
   * {@code factory} supervised: an exception restarts it with backoff (without limit); each incarnation after the
   * first is logged ({@code what} restarted after a failure) and counted before {@code factory} runs again.
   */
  public static <T> Behavior<T> restarting(String what, RouterMetrics metrics,
      Function<ActorContext<T>, Behavior<T>> factory) {
    AtomicInteger incarnation = new AtomicInteger();
    return Behaviors.supervise(Behaviors.<T>setup(ctx -> {
      int n = incarnation.incrementAndGet();
      if (n > 1) {
        ctx.getLog().warn("{} restarted after a failure (incarnation {})", what, n);
        metrics.recordFailureRecovered();
      }
      return factory.apply(ctx);
    })).onFailure(Exception.class, SupervisorStrategy.restartWithBackoff(RESTART_MIN_BACKOFF, RESTART_MAX_BACKOFF,
        0.2).withResetBackoffAfter(RESET_BACKOFF_AFTER));
  }

  /**
   * {@code behavior} supervised: an exception drops the message that threw it (logged as a WARN with {@code what}
   * and the message's type, counted) and the actor goes on with its state.
   */
  public static <T> Behavior<T> resuming(Class<T> type, String what, RouterMetrics metrics, Behavior<T> behavior) {
    return Behaviors.supervise(Behaviors.intercept(() -> new Counting<>(type, what, metrics), behavior))
        .onFailure(Exception.class, SupervisorStrategy.resume().withLoggingEnabled(false));
  }

  /** Logs and counts a failure on its way to the supervisor (which resumes). */
  private static final class Counting<T> extends BehaviorInterceptor<T, T> {
    private final String what;
    private final RouterMetrics metrics;

    Counting(Class<T> type, String what, RouterMetrics metrics) {
      super(type);
      this.what = what;
      this.metrics = metrics;
    }

    @Override
    public Behavior<T> aroundReceive(TypedActorContext<T> ctx, T msg, ReceiveTarget<T> target) {
      try {
        return target.apply(ctx, msg);
      } catch (RuntimeException e) {
        ctx.asJava().getLog().warn("{} failed on a {} and goes on without it: {}", what,
            msg.getClass().getSimpleName(), e.toString());
        metrics.recordFailureRecovered();
        throw e;
      }
    }
  }
}
