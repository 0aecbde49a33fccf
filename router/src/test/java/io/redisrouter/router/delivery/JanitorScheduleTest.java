package io.redisrouter.router.delivery;

import com.typesafe.config.ConfigFactory;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.config.ConsumerSettings;
import io.redisrouter.config.RouterSettings;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** When a channel's janitor looks again by itself: the earliest of what is due, never a busy loop. */
class JanitorScheduleTest {
  private static final RouterSettings SETTINGS = RouterSettings.load(ConfigFactory.parseString(
      "redis-router.channels.defaults.retention { max-age = 1h, trim-interval = 30s, dead-letter-max-age = 14d }")
      .withFallback(ConfigFactory.load()).resolve());
  private static final ChannelPolicy POLICY = SETTINGS.channelDefaults();
  private static final ConsumerSettings CONSUMER = SETTINGS.consumer();

  private static ChannelJanitor.Trimmed trimmed(String oldest, String oldestDead, String pinnedBy) {
    return new ChannelJanitor.Trimmed(0, null, pinnedBy, oldest == null && oldestDead == null, 0, 0, oldest,
        oldestDead, null);
  }

  @Test
  void earlierTreatsNeverAsLaterThanAnything() {
    assertEquals(5L, ChannelJanitor.earlier(ChannelJanitor.NEVER, 5L));
    assertEquals(-5L, ChannelJanitor.earlier(-5L, ChannelJanitor.NEVER));
    assertEquals(-7L, ChannelJanitor.earlier(-5L, -7L));
    assertEquals(ChannelJanitor.NEVER, ChannelJanitor.earlier(ChannelJanitor.NEVER, ChannelJanitor.NEVER));
  }

  @Test
  void anEmptyOrPinnedChannelNeverAgesOut() {
    long now = System.nanoTime();
    long wall = System.currentTimeMillis();
    assertEquals(ChannelJanitor.NEVER,
        ChannelJanitor.agesOutAt(trimmed(null, null, null), POLICY, CONSUMER, now, wall));
    assertEquals(ChannelJanitor.NEVER,
        ChannelJanitor.agesOutAt(trimmed((wall - 1000) + "-0", null, "lagging"), POLICY, CONSUMER, now, wall));
  }

  @Test
  void theOldestEntryAgesOutAtItsTimePlusMaxAge() {
    long now = System.nanoTime();
    long wall = System.currentTimeMillis();
    long due = ChannelJanitor.agesOutAt(trimmed((wall - 60_000) + "-0", null, null), POLICY, CONSUMER, now, wall);
    assertEquals(TimeUnit.MINUTES.toNanos(59), due - now, TimeUnit.MILLISECONDS.toNanos(5));
  }

  @Test
  void anEntryApproximateTrimmingLeftIsLookedAtAgainLaterNotAtOnce() {
    long now = System.nanoTime();
    long wall = System.currentTimeMillis();
    // past max-age already (it shares a radix-tree node with younger entries): again after min(quiet, max-age)
    long due = ChannelJanitor.agesOutAt(trimmed((wall - 7_200_000) + "-0", null, null), POLICY, CONSUMER, now, wall);
    long in = due - now;
    assertTrue(in >= TimeUnit.SECONDS.toNanos(30) && in <= TimeUnit.HOURS.toNanos(1), "in " + in + " ns");
    assertEquals(TimeUnit.HOURS.toNanos(1), in);
  }

  @Test
  void theOldestDeadLetterCountsWithItsOwnRetention() {
    long now = System.nanoTime();
    long wall = System.currentTimeMillis();
    long due = ChannelJanitor.agesOutAt(trimmed(null, (wall - TimeUnit.DAYS.toMillis(13)) + "-0", null), POLICY,
        CONSUMER, now, wall);
    assertEquals(TimeUnit.DAYS.toNanos(1), due - now, TimeUnit.MILLISECONDS.toNanos(5));
  }
}
