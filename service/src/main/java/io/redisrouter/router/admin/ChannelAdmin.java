package io.redisrouter.router.admin;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.redisrouter.config.ChannelPolicy;
import io.redisrouter.protocol.ChannelMode;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.RateCounter;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.redis.GroupInfo;
import io.redisrouter.router.redis.GroupLag;
import io.redisrouter.router.redis.RedisFailures;
import io.redisrouter.router.redis.RedisHandle;
import io.redisrouter.router.redis.RedisKeys;
import io.redisrouter.router.redis.StreamIds;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Channels and their subscriptions, read from Redis (no HTTP here): the channel list (SCAN of
 * {@code rr:{*}:stream} on every instance, plus the configured overrides and the broadcast channels this node
 * published to) and one channel's statistics (stream length, dead letters, per consumer group: consumers, pending,
 * lag, the oldest pending entry), with this node's publish and ack rates. Every call is non-blocking, on the
 * command connection of the channel's instance.
 */
public final class ChannelAdmin {
  /** Channels the list holds at most (per Redis instance scanned). */
  static final int MAX_LISTED_CHANNELS = 10_000;
  private static final int SCAN_COUNT = 1000;
  private static final String STREAM_PATTERN = "rr:{*}:stream";

  private final RouterRuntime runtime;

  public ChannelAdmin(RouterRuntime runtime) {
    this.runtime = runtime;
  }

  /** Totals and the rate over the last {@value RateCounter#WINDOW_SECONDS} s, as counted by this node. */
  public record Rate(long total, double perSecond, int windowSeconds) {
    static Rate of(RateCounter c) {
      return new Rate(c == null ? 0 : c.total(), c == null ? 0.0 : Math.round(c.perSecond() * 1000.0) / 1000.0,
          RateCounter.WINDOW_SECONDS);
    }
  }

  /** One row of the channel list; {@code length} and {@code deadLetters} only where a stream was found. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record ChannelRow(String channel, String mode, String redisInstance, boolean configured, Rate published,
      Rate acked, boolean stream, Long length, Long deadLetters) {}

  /** An instance that could not be scanned. */
  public record Unavailable(String instance, String message) {}

  /** The channel list: rows sorted by channel, whether a scan stopped at the cap, the instances not scanned. */
  public record ChannelList(List<ChannelRow> channels, boolean truncated, List<Unavailable> unavailable) {}

  /** The channel's policy as configured (defaults and overrides). */
                                                                     /** {@code durability}: {@code primary} or {@code replica(N)} (see the channel option of the same name). */
  public record Policy(long timeToLiveMs, long ackTimeoutMs, int maxAttempts, int maxInFlight, String durability) {}

  /**
   * One subscription (consumer group) of a channel. {@code entriesRead} is Redis 7+ (null on 6.2, with
   * {@code entriesReadUnknown} saying why); {@code lag} is null when it cannot be known, with {@code lagUnknown}.
   */
  public record SubscriptionStats(String name, long consumers, long pending, String lastDeliveredId,
      Long entriesRead,
      @JsonInclude(JsonInclude.Include.NON_NULL) String entriesReadUnknown,
      Long lag, @JsonInclude(JsonInclude.Include.NON_NULL) String lagUnknown,
      String oldestPendingId, Long oldestPendingAgeMs) {}

  /**
   * One channel: a reliable one with {@code exists}, {@code length}, {@code deadLetters} and its subscriptions; a
   * broadcast one with {@code redisSubscribers} (pub/sub connections of router nodes) and no subscriptions.
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record ChannelStats(String channel, String mode, String redisInstance, boolean configured, Policy policy,
      Rate published, Rate acked, Long redisSubscribers, Boolean exists, Long length,
      Long deadLetters, List<SubscriptionStats> subscriptions) {}

  /** The Redis instance the channel's policy names. */
  public String instanceOf(String channel) {
    return runtime.settings().policyFor(channel).redisInstance();
  }

  // ---- the list ---------------------------------------------------------------------------------------------------

  private record Found(String channel, String instance, long length, long deadLetters) {}

  private record InstanceScan(String instance, List<Found> found, boolean truncated, String error) {}

  /** Every channel this node can see; never fails (an instance that cannot be scanned is listed as unavailable). */
  public CompletionStage<ChannelList> list() {
    List<CompletableFuture<InstanceScan>> scans = new ArrayList<>();
    for (RedisHandle h : runtime.handles().values()) scans.add(scanInstance(h).toCompletableFuture());
    return CompletableFuture.allOf(scans.toArray(CompletableFuture[]::new)).thenApply(v -> {
      Map<String, ChannelRow> rows = new TreeMap<>();
      List<Unavailable> unavailable = new ArrayList<>();
      boolean truncated = false;
      for (CompletableFuture<InstanceScan> f : scans) {
        InstanceScan s = f.join(); // completed: allOf finished, and scanInstance never fails
        truncated |= s.truncated();
        if (s.error() != null) unavailable.add(new Unavailable(s.instance(), s.error()));
        for (Found c : s.found()) {
          rows.put(c.channel() + "\u0000" + c.instance(), row(c.channel(), c.instance(), true, c.length(),
              c.deadLetters()));
        }
      }
      Set<String> listed = new TreeSet<>();
      rows.values().forEach(r -> listed.add(r.channel()));
      Set<String> more = new TreeSet<>(runtime.settings().channelOverrides().keySet());
      for (String c : runtime.metrics().publishedByChannel().keySet()) {
        if (runtime.settings().policyFor(c).mode() == ChannelMode.BROADCAST) more.add(c);
      }
      for (String c : more) {
        if (!listed.contains(c)) rows.put(c + "\u0000", row(c, null, false, null, null));
      }
      return new ChannelList(List.copyOf(rows.values()), truncated, unavailable);
    });
  }

  private ChannelRow row(String channel, String foundOn, boolean stream, Long length, Long deadLetters) {
    ChannelPolicy policy = runtime.settings().policyFor(channel);
    return new ChannelRow(channel, policy.mode().configName(), foundOn != null ? foundOn : policy.redisInstance(),
        runtime.settings().channelOverrides().containsKey(channel), published(channel), acked(channel), stream,
        length, deadLetters);
  }

  private Rate published(String channel) {
    return Rate.of(runtime.metrics().publishedByChannel().get(channel));
  }

  private Rate acked(String channel) {
    return Rate.of(runtime.metrics().ackedByChannel().get(channel));
  }

  /** SCANs one instance for channel streams, then reads their lengths; completes normally even on errors. */
  private CompletionStage<InstanceScan> scanInstance(RedisHandle h) {
    Set<String> channels = new TreeSet<>();
    return RedisFailures.on(h, cmd -> scan(cmd, ScanCursor.INITIAL, channels).thenCompose(truncated -> {
      List<String> names = new ArrayList<>(channels);
      List<CompletableFuture<Long>> lengths = new ArrayList<>(names.size() * 2);
      for (String c : names) {
        lengths.add(cmd.xlen(RedisKeys.stream(c)).toCompletableFuture());
        lengths.add(cmd.xlen(RedisKeys.deadLetters(c)).toCompletableFuture());
      }
      return CompletableFuture.allOf(lengths.toArray(CompletableFuture[]::new)).thenApply(v -> {
        List<Found> found = new ArrayList<>(names.size());
        for (int i = 0; i < names.size(); i++) {
          found.add(new Found(names.get(i), h.instance(), lengths.get(2 * i).join(), lengths.get(2 * i + 1).join()));
        }
        return new InstanceScan(h.instance(), found, truncated, null);
      });
    })).exceptionally(e -> new InstanceScan(h.instance(), List.of(), false, describeScanError(e)));
  }

  private static String describeScanError(Throwable e) {
    Throwable c = RedisFailures.unwrap(e);
    return c instanceof io.redisrouter.router.redis.RedisUnavailableException
        ? c.getMessage()
        : RedisFailures.describe(c);
  }

  /** Non-blocking SCAN loop (one round trip at a time); completes with whether it stopped at the channel cap. */
  private CompletionStage<Boolean> scan(RedisAsyncCommands<String, byte[]> cmd, ScanCursor cursor, Set<String> out) {
    return cmd.scan(cursor, ScanArgs.Builder.matches(STREAM_PATTERN).limit(SCAN_COUNT))
        .thenCompose((KeyScanCursor<String> c) -> {
          for (String key : c.getKeys()) {
            String channel = channelOfStream(key);
            if (channel != null) out.add(channel);
          }
          if (out.size() >= MAX_LISTED_CHANNELS) return CompletableFuture.completedFuture(!c.isFinished());
          if (c.isFinished()) return CompletableFuture.completedFuture(false);
          return scan(cmd, c, out);
        });
  }

  /** The channel of a stream key {@code rr:{channel}:stream}, or null when the key is not one of ours. */
  static String channelOfStream(String key) {
    if (!key.startsWith("rr:{") || !key.endsWith("}:stream")) return null;
    String channel = key.substring(4, key.length() - 8);
    return Validation.checkName("channel", channel) == null ? channel : null;
  }

  // ---- one channel ------------------------------------------------------------------------------------------------

  /**
   * One channel's statistics, or empty when it is unknown (no stream, no dead letters, not configured). Fails
   * when Redis does not answer.
   */
  public CompletionStage<Optional<ChannelStats>> stats(String channel) {
    ChannelPolicy policy = runtime.settings().policyFor(channel);
    boolean configured = runtime.settings().channelOverrides().containsKey(channel);
    Policy p = new Policy(policy.timeToLive().toMillis(), policy.ackTimeout().toMillis(), policy.maxAttempts(),
        policy.maxInFlight(), policy.durability().configName());
    String instance = policy.redisInstance();
    String mode = policy.mode().configName();
    return runtime.onCommands(channel, cmd -> {
      if (policy.mode() == ChannelMode.BROADCAST) {
        String key = RedisKeys.broadcast(channel);
        return cmd.pubsubNumsub(key).thenApply(m -> Optional.of(new ChannelStats(channel, mode, instance,
            configured, p, published(channel), acked(channel), m.getOrDefault(key, 0L), null, null, null,
            List.of())));
      }
      String stream = RedisKeys.stream(channel);
      CompletableFuture<Long> exists = cmd.exists(stream).toCompletableFuture();
      CompletableFuture<Long> length = cmd.xlen(stream).toCompletableFuture();
      CompletableFuture<Long> deadLetters = cmd.xlen(RedisKeys.deadLetters(channel)).toCompletableFuture();
      CompletableFuture<List<GroupInfo>> groups = GroupInfo.of(cmd, stream).toCompletableFuture();
      return CompletableFuture.allOf(exists, length, deadLetters, groups).thenCompose(v -> {
        boolean streamExists = exists.join() > 0;
        if (!streamExists && deadLetters.join() == 0 && !configured) {
          return CompletableFuture.completedFuture(Optional.<ChannelStats>empty());
        }
        return subscriptions(cmd, stream, groups.join()).thenApply(subs -> Optional.of(new ChannelStats(channel,
            mode, instance, configured, p, published(channel), acked(channel), null, streamExists, length.join(),
            deadLetters.join(), subs)));
      });
    });
  }

  /** Each group's stats, with its lag and its oldest pending entry (from the XPENDING summary), sorted by name. */
  private CompletionStage<List<SubscriptionStats>> subscriptions(RedisAsyncCommands<String, byte[]> cmd,
      String stream, List<GroupInfo> groups) {
    long now = System.currentTimeMillis();
    List<CompletableFuture<SubscriptionStats>> rows = new ArrayList<>();
    for (GroupInfo info : groups) {
      CompletableFuture<GroupLag.Lag> lag = GroupLag.of(cmd, stream, info).toCompletableFuture();
      CompletableFuture<String> oldest = info.pending() == 0
          ? CompletableFuture.completedFuture(null)
          : cmd.xpending(stream, info.name()).toCompletableFuture()
              .thenApply(p -> p.getMessageIds() == null ? null : p.getMessageIds().getLower().getValue());
      rows.add(lag.thenCombine(oldest, (l, lowest) -> new SubscriptionStats(info.name(), info.consumers(),
          info.pending(), info.lastDeliveredId(), info.entriesRead(),
          info.entriesRead() == null ? GroupLag.ENTRIES_READ_UNKNOWN : null, l.value(),
          l.value() == null ? l.unknown() : null, lowest,
          lowest == null ? null : Math.max(0, now - StreamIds.millis(lowest)))));
    }
    return CompletableFuture.allOf(rows.toArray(CompletableFuture[]::new)).thenApply(v -> rows.stream()
        .map(CompletableFuture::join).sorted(Comparator.comparing(SubscriptionStats::name)).toList());
  }

  /** One producer in a subscription's loss audit; gap ranges as {@code {from, to}} (both included). */
  public record ProducerAudit(String producerId, long lowestSequence, long highestSequence, long received,
      long deadLettered, long gaps, List<GapRange> gapRanges, boolean gapRangesTruncated, long missing,
      long duplicates, long redeliveries, long late) {}

  /** A run of sequence numbers not settled (yet). */
  public record GapRange(long from, long to) {}

  /**
   * A subscription's loss audit on this node ({@code scope}): the totals over every producer it tracks, and up to
   * {@code limit} producers in id order.
   */
  public record AuditView(String channel, String subscription, String node, String scope, int window,
      int maxProducers, int producerCount, long producersEvicted, long received, long deadLettered, long gaps,
      long missing, long duplicates, long redeliveries, long late, List<ProducerAudit> producers) {}

  /** The loss audit of a subscription on this node (all zero when it settled no numbered message here). */
  public AuditView audit(String channel, String subscription, int limit) {
    io.redisrouter.router.audit.SequenceAudit a = runtime.metrics().audits().find(channel, subscription);
    io.redisrouter.router.audit.SequenceAudit.Report r = a != null
        ? a.report(limit)
        : new io.redisrouter.router.audit.SequenceAudit(runtime.settings().auditWindow(),
            runtime.settings().auditMaxProducers()).report(limit);
    List<ProducerAudit> producers = r.producerList().stream().map(p -> new ProducerAudit(p.producerId(),
        p.lowestSequence(), p.highestSequence(), p.received(), p.deadLettered(), p.gaps(),
        p.gapRanges().stream().map(g -> new GapRange(g[0], g[1])).toList(), p.gapRangesTruncated(), p.missing(),
        p.duplicates(), p.redeliveries(), p.late())).toList();
    return new AuditView(channel, subscription, runtime.settings().nodeId(), "node", r.window(), r.maxProducers(),
        r.producers(), r.producersEvicted(), r.received(), r.deadLettered(), r.gaps(), r.missing(), r.duplicates(),
        r.redeliveries(), r.late(), producers);
  }
}
