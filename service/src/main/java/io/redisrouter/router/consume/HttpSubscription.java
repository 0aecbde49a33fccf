package io.redisrouter.router.consume;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.redisrouter.protocol.EnvelopeCodec;

import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * A subscription created over the HTTP API, as stored in Redis ({@code rr:subscriptions}, one hash field per
 * subscription). Its consumer group is named after it on the channel's stream. Without a webhook it is consumed by
 * pull or server-sent events; with one, the router pushes every delivery to the webhook's URL.
 *
 * @param name      the subscription (and consumer group) name
 * @param channel   the reliable channel it reads
 * @param webhook   where deliveries are pushed, or {@code null} for pull / server-sent events
 * @param createdAt when it was created
 */
public record HttpSubscription(String name, String channel, Webhook webhook, Instant createdAt) {
  private static final ObjectMapper JSON = EnvelopeCodec.mapper();

  public HttpSubscription {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(channel, "channel");
    Objects.requireNonNull(createdAt, "createdAt");
  }

  /**
   * Push target of a webhook subscription: at most {@code parallelism} calls in flight, each carrying one delivery
   * (a JSON object) when {@code batchSize} is 1, else up to {@code batchSize} deliveries (a JSON array, in delivery
   * order) that its answer settles together.
   */
  public record Webhook(URI url, Duration timeout, int parallelism, int batchSize) {
    public Webhook {
      Objects.requireNonNull(url, "url");
      Objects.requireNonNull(timeout, "timeout");
      if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1: " + batchSize);
    }

    /** One delivery per call, a JSON object (the shape from before batches). */
    public Webhook(URI url, Duration timeout, int parallelism) {
      this(url, timeout, parallelism, 1);
    }

    /** Whether a call carries a JSON array of deliveries (batch size above 1) rather than one object. */
    public boolean batched() {
      return batchSize > 1;
    }
  }

  /** Whether the router pushes deliveries (webhook) rather than waiting for pulls. */
  public boolean isPush() {
    return webhook != null;
  }

  /** Same definition, ignoring the creation time (a repeated create with the same body is not a conflict). */
  public boolean sameDefinition(HttpSubscription o) {
    return name.equals(o.name) && channel.equals(o.channel) && Objects.equals(webhook, o.webhook);
  }

  /** The JSON Redis stores (the full webhook URL); the API shows {@link #publicView()}. */
  public ObjectNode toJson() {
    ObjectNode n = JSON.createObjectNode();
    n.put("name", name);
    n.put("channel", channel);
    n.put("type", isPush() ? "webhook" : "pull");
    if (webhook != null) {
      ObjectNode w = n.putObject("webhook");
      w.put("url", webhook.url().toString());
      w.put("timeoutMs", webhook.timeout().toMillis());
      w.put("parallelism", webhook.parallelism());
      w.put("batchSize", webhook.batchSize());
    }
    n.put("createdAt", createdAt.toString());
    return n;
  }

  /** A webhook as the API shows it: its URL without credentials (see {@link #redactedUrl}). */
  public record WebhookView(String url, long timeoutMs, int parallelism, int batchSize) {}

  /**
   * The subscription as the API shows it: as {@link #toJson()}, but the webhook URL without user info and with its
   * query replaced by {@code ?...} (either may carry a credential of the receiving service); {@code stats} only
   * where asked for.
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record View(String name, String channel, String type, WebhookView webhook, String createdAt, Object stats) {
    /** This view with {@code stats}. */
    public View withStats(Object stats) {
      return new View(name, channel, type, webhook, createdAt, stats);
    }
  }

  public View publicView() {
    return new View(name, channel, isPush() ? "webhook" : "pull", webhook == null
        ? null
        : new WebhookView(redactedUrl(webhook.url()), webhook.timeout().toMillis(), webhook.parallelism(),
            webhook.batchSize()),
        createdAt.toString(), null);
  }

  /** {@code scheme://host[:port]/path[?...]}: no user info, no query values, no fragment. */
  public static String redactedUrl(URI u) {
    return u.getScheme() + "://" + u.getHost() + (u.getPort() < 0 ? "" : ":" + u.getPort())
        + (u.getRawPath() == null ? "" : u.getRawPath()) + (u.getRawQuery() == null ? "" : "?...");
  }

  public byte[] encode() {
    try {
      return JSON.writeValueAsBytes(toJson());
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode subscription " + name, e);
    }
  }

  /** Reads a stored definition; throws {@link IllegalArgumentException} when it is not one. */
  public static HttpSubscription decode(byte[] bytes) {
    try {
      JsonNode n = JSON.readTree(bytes);
      Webhook w = null;
      JsonNode wn = n.get("webhook");
      if (wn != null && wn.isObject()) {
        // batchSize: absent in definitions stored before batches existed (one delivery per call)
        w = new Webhook(URI.create(wn.get("url").asText()), Duration.ofMillis(wn.get("timeoutMs").asLong()),
            wn.get("parallelism").asInt(), wn.has("batchSize") ? wn.get("batchSize").asInt() : 1);
      }
      return new HttpSubscription(n.get("name").asText(), n.get("channel").asText(), w,
          Instant.parse(n.get("createdAt").asText()));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("stored subscription is unreadable: " + e.getMessage(), e);
    }
  }
}
