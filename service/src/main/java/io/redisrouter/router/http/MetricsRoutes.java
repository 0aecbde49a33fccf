package io.redisrouter.router.http;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.redisrouter.router.LatencyHistogram;
import io.redisrouter.router.RouterMetrics;
import io.redisrouter.router.RouterRuntime;
import io.redisrouter.router.admin.ClusterAdmin;
import io.redisrouter.router.audit.DeliveryAudits;
import io.redisrouter.router.audit.SequenceAudit;
import io.redisrouter.router.redis.RedisHandle;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.Route;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * {@code GET /metrics}: the router's counters and gauges in the Prometheus text format (version 0.0.4). No auth, like
 * the health endpoints: scrapers call it, and it holds no payloads or secrets, and no channel names except in the
 * loss audit's {@code redis_router_audit_*} series (labels {@code channel} and {@code subscription}, only for the
 * subscriptions that settled messages with a producer id on this node; never a producer id): bind the HTTP endpoint
 * to a private interface, or filter /metrics at the proxy, where that is too much.
 *
 * <p>Every metric is read at scrape time from {@link RouterMetrics} and the {@link RouterRuntime}; the registry is
 * this endpoint's own (never the global default one), so that several routers in one JVM do not mix.
 */
public final class MetricsRoutes extends RouteSupport {
  private static final ContentType TEXT_FORMAT = ContentTypes.parse(PrometheusTextFormatWriter.CONTENT_TYPE);

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
  private final RouterMetrics metrics;

  public MetricsRoutes(RouterRuntime runtime, ClusterAdmin cluster, Auth auth, Endpoints endpoints) {
    super(auth, endpoints);
    this.metrics = runtime.metrics();
    RouterMetrics m = metrics;
    counter("redis_router_published", "Messages accepted by publish (duplicates not counted)",
        RouterMetrics.Snapshot::publishAccepted);
    counter("redis_router_publish_duplicates", "Publishes dropped as duplicates of a message id seen within the"
        + " dedup window", RouterMetrics.Snapshot::publishDuplicates);
    counter("redis_router_publish_rejected", "Publishes refused (invalid, overloaded, Redis unavailable, shutting"
        + " down)", RouterMetrics.Snapshot::publishRejected);
    counter("redis_router_publish_redis_full", "Publishes refused with redis-full (also in publish_rejected): the"
        + " Redis instance reached its maxmemory under noeviction", RouterMetrics.Snapshot::publishRedisFull);
    counter("redis_router_publish_expired", "Publishes whose deadline passed before they were written to Redis",
        RouterMetrics.Snapshot::publishExpired);
    counter("redis_router_delivered", "Deliveries handed to subscribers (every attempt counts)",
        RouterMetrics.Snapshot::delivered);
    counter("redis_router_acked", "Deliveries acknowledged by subscribers", RouterMetrics.Snapshot::acked);
    counter("redis_router_nacked", "Deliveries answered with a nack", RouterMetrics.Snapshot::nacked);
    counter("redis_router_retried", "Delivery retries (attempts after the first)", RouterMetrics.Snapshot::retried);
    counter("redis_router_ack_timeouts", "Deliveries that got no ack within the ack timeout",
        RouterMetrics.Snapshot::ackTimeouts);
    counter("redis_router_claimed", "Pending entries taken over from a stopped or stuck consumer",
        RouterMetrics.Snapshot::claimed);
    counter("redis_router_leases_lost", "Entries this node stopped handling (no retry, no dead-lettering) because"
        + " another consumer took them over after this one did not renew its lease within the ack timeout",
        RouterMetrics.Snapshot::leasesLost);
    counter("redis_router_failures_recovered", "Exceptions the router recovered from: subscription actors restarted"
        + " with backoff (subscribers re-attached), publishes answered unavailable after a failed write",
        RouterMetrics.Snapshot::failuresRecovered);
    counter("redis_router_dead_lettered", "Messages moved to a dead-letter stream (any reason)",
        RouterMetrics.Snapshot::deadLettered);
    counter("redis_router_expired", "Messages dead-lettered because their deadline passed before delivery",
        RouterMetrics.Snapshot::expired);
    counter("redis_router_broadcast_delivered", "Broadcast messages handed to local subscribers",
        RouterMetrics.Snapshot::broadcastDelivered);
    counter("redis_router_broadcast_expired", "Broadcast messages dropped because their deadline had passed",
        RouterMetrics.Snapshot::broadcastExpired);
    counter("redis_router_broadcast_dropped", "Broadcast messages dropped because the subscriber held its whole"
        + " broadcast-window unanswered (a subscriber slower than the flow)", RouterMetrics.Snapshot::broadcastDropped);
    counter("redis_router_broadcast_resubscribes", "Reconnects of a pub/sub connection that carried broadcast"
        + " subscriptions (closed by the server, e.g. past client-output-buffer-limit pubsub, or lost): broadcasts"
        + " published meanwhile were missed; re-subscribed at once (each is also a WARN)",
        RouterMetrics.Snapshot::broadcastResubscribes);
    counter("redis_router_watch_wakeups", "Idle subscriptions woken by the stream watch: their stream had entries no"
        + " wake-up announced (written by something else than a router, or a doorbell lost)",
        RouterMetrics.Snapshot::watchWakeups);
    GaugeWithCallback.builder().name("redis_router_in_flight")
        .help("Messages held by delivery actors on this node (awaiting an ack, or a retry)")
        .callback(cb -> cb.call(m.snapshot().inFlight()))
        .register(registry);
    GaugeWithCallback.builder().name("redis_router_ingress_depth")
        .help("Publishes waiting in the ingress queue")
        .callback(cb -> cb.call(runtime.ingressDepth()))
        .register(registry);
    GaugeWithCallback.builder().name("redis_router_channel_janitors")
        .help("Reliable channels whose retention this node keeps now (a channel empty and unused here is dropped)")
        .callback(cb -> cb.call(m.snapshot().channelJanitors()))
        .register(registry);
    GaugeWithCallback.builder().name("redis_router_retention_pinned")
        .help("Channels whose retention a consumer group holds back now: entries older than max-age are kept"
            + " because the group lags or holds them pending (each is also a WARN naming the group)")
        .callback(cb -> cb.call(m.retentionPinned().size()))
        .register(registry);
    GaugeWithCallback.builder().name("redis_router_until_received_waiting")
        .help("Until-received broadcasts waiting for a receiver (republished with backoff); at"
            + " ingress.until-received-max new ones are refused with 429")
        .callback(cb -> cb.call(runtime.untilReceivedWaiting()))
        .register(registry);
    GaugeWithCallback.builder().name("redis_router_ingress_capacity")
        .help("Size of the ingress queue (publishes beyond it are refused with 429)")
        .callback(cb -> cb.call(runtime.ingressCapacity()))
        .register(registry);
    if (cluster.enabled()) {
      GaugeWithCallback.builder().name("redis_router_cluster_members")
          .help("Members of the router cluster as this node sees them, by status (up, joining, leaving, ...)")
          .labelNames("status")
          .callback(cb -> cluster.membersByStatus().forEach((status, n) -> cb.call(n, status)))
          .register(registry);
      GaugeWithCallback.builder().name("redis_router_cluster_unreachable_members")
          .help("Members this node cannot reach now (the split brain resolver downs them after stable-after)")
          .callback(cb -> cb.call(cluster.unreachableCount()))
          .register(registry);
      GaugeWithCallback.builder().name("redis_router_subscriptions_owned")
          .help("HTTP subscriptions whose one owner (webhook pusher or pull gateway) runs on this node")
          .callback(cb -> cb.call(cluster.ownedHere()))
          .register(registry);
      GaugeWithCallback.builder().name("redis_router_embedded_subscriptions_owned")
          .help("Embedded (actor) subscriptions of reliable channels whose one owner, the node that consumes them for"
              + " their subscribers on every node, runs on this node")
          .callback(cb -> cb.call(cluster.embeddedOwnedHere()))
          .register(registry);
    }
    GaugeWithCallback.builder().name("redis_router_redis_connections")
        .help("Connections this router has open to a Redis instance, counted as Lettuce opens and closes them ("
            + "redis.instances.<name>.connections-per-instance, 1 by default, while it is up; 0 while it is down, more for a moment while a reconnect"
            + " replaces them)")
        .labelNames("instance")
        .callback(cb -> {
          for (RedisHandle h : runtime.handles().values()) {
            cb.call(h.openConnections(), h.instance());
          }
        })
        .register(registry);
    CounterWithCallback.builder().name("redis_router_redis_state_restored")
        .help("State a Redis instance had lost (consumer groups, HTTP subscription definitions) that the router"
            + " restored")
        .labelNames("instance", "what")
        .callback(cb -> m.stateRestored().forEach((k, v) -> cb.call(v.sum(), k.instance(), k.what())))
        .register(registry);
    audit("redis_router_audit_received", "Loss audit: messages with a producer id acknowledged by the"
        + " subscription's subscribers on this node (repeats included)", true, SequenceAudit.Report::received);
    audit("redis_router_audit_dead_lettered", "Loss audit: messages with a producer id the subscription"
        + " dead-lettered on this node (accounted for, not gaps)", true, SequenceAudit.Report::deadLettered);
    audit("redis_router_audit_gaps", "Loss audit: sequence numbers between a producer's lowest and highest settled"
        + " ones not settled (yet) by the subscription, within the audit window (late arrivals lower it)", false,
        SequenceAudit.Report::gaps);
    audit("redis_router_audit_missing", "Loss audit: gaps that left the audit window unsettled (given up on)", true,
        SequenceAudit.Report::missing);
    audit("redis_router_audit_duplicates", "Loss audit: sequence numbers settled again by a first delivery attempt"
        + " (the producer sent the number twice)", true, SequenceAudit.Report::duplicates);
    audit("redis_router_audit_redeliveries", "Loss audit: sequence numbers settled again by a later delivery attempt"
        + " (the router delivered the same entry again)", true, SequenceAudit.Report::redeliveries);
    audit("redis_router_audit_late", "Loss audit: sequence numbers settled below the audit window (too old to tell"
        + " a late fill from a repeat)", true, SequenceAudit.Report::late);
    audit("redis_router_audit_producers", "Loss audit: producers the subscription tracks on this node", false,
        SequenceAudit.Report::producers);
    audit("redis_router_audit_producers_evicted", "Loss audit: producers dropped (with their open gaps) to stay"
        + " within audit.max-producers", true, SequenceAudit.Report::producersEvicted);
    LatencyHistogram publishToAck = m.publishToAck();
    registry.register(() -> HistogramSnapshot.builder().name("redis_router_publish_to_ack_seconds")
        .help("Time from the publish (accepted by a router) to the subscriber's ack, in seconds")
        .dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
            .classicHistogramBuckets(ClassicHistogramBuckets.of(publishToAck.upperBounds(), publishToAck.counts()))
            .sum(publishToAck.sum())
            .build())
        .build());
  }

  private void counter(String name, String help, java.util.function.ToLongFunction<RouterMetrics.Snapshot> value) {
    CounterWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.applyAsLong(metrics.snapshot())))
        .register(registry);
  }

  /** A loss-audit series per subscription that has an audit on this node. */
  private void audit(String name, String help, boolean counter,
      java.util.function.ToLongFunction<SequenceAudit.Report> value) {
    DeliveryAudits audits = metrics.audits();
    if (counter) {
      CounterWithCallback.builder().name(name).help(help).labelNames("channel", "subscription")
          .callback(cb -> audits.all().forEach((k, a) -> cb.call(value.applyAsLong(a.totals()), k.channel(),
              k.subscription())))
          .register(registry);
    } else {
      GaugeWithCallback.builder().name(name).help(help).labelNames("channel", "subscription")
          .callback(cb -> audits.all().forEach((k, a) -> cb.call(value.applyAsLong(a.totals()), k.channel(),
              k.subscription())))
          .register(registry);
    }
  }

  public Route route() {
    endpoints.add("GET", "/metrics");
    return path("metrics", () -> get(() -> extractRequest(req -> complete(scrape()))));
  }

  /** The current values in the text format (CPU only, never blocks). */
  HttpResponse scrape() {
    ByteArrayOutputStream out = new ByteArrayOutputStream(8192);
    try {
      writer.write(out, registry.scrape());
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
    }
    return HttpResponse.create().withEntity(HttpEntities.create(TEXT_FORMAT, out.toByteArray()));
  }
}
