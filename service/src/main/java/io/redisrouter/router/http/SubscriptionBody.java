package io.redisrouter.router.http;

import io.redisrouter.protocol.FieldError;
import io.redisrouter.protocol.Validation;
import io.redisrouter.router.consume.HttpSubscription;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The body of {@code POST /v1/subscriptions}: {@code name}, {@code channel} and, for a push subscription,
 * {@code webhook} ({@code url}, optional {@code timeoutMs}, {@code parallelism} and {@code batchSize}).
 */
public record SubscriptionBody(String name, String channel, Webhook webhook) {
  static final Duration MAX_WEBHOOK_TIMEOUT = Duration.ofMinutes(5);
  static final int MAX_WEBHOOK_PARALLELISM = 1000;
  static final int MAX_WEBHOOK_BATCH_SIZE = 1000;

  /** {@code webhook}: where the router POSTs each delivery (or each batch of them). */
  public record Webhook(String url, Long timeoutMs, Integer parallelism, Integer batchSize) {
    public Webhook(String url, Long timeoutMs, Integer parallelism) {
      this(url, timeoutMs, parallelism, null);
    }
  }

  static final JsonBodies.Spec<SubscriptionBody> SPEC = new JsonBodies.Spec<>(SubscriptionBody.class,
      "{\"name\": ..., \"channel\": ...}", null, SubscriptionBody::wrongType);

  private static FieldError wrongType(String path) {
    return switch (path) {
      case "" -> new FieldError("", "invalid", "the body must be a JSON object like"
          + " {\"name\": \"billing\", \"channel\": \"orders\"}");
      case "webhook" -> new FieldError("webhook", "invalid", "webhook must be an object like"
          + " {\"url\": \"https://service-b/hooks/orders\"}");
      case "webhook.url" -> invalidUrl();
      case "webhook.timeoutMs" -> timeoutOutOfRange();
      case "webhook.parallelism" -> parallelismOutOfRange();
      case "webhook.batchSize" -> batchSizeOutOfRange();
      default -> new FieldError(path, "invalid", path + " must be a string");
    };
  }

  /** The field errors of the name and the webhook (the channel's are the service's). */
  List<FieldError> validate(List<FieldError> unknown) {
    List<FieldError> errors = new ArrayList<>(unknown);
    FieldError n = Validation.checkName("name", name);
    if (n != null) errors.add(n);
    if (webhook != null) {
      if (webhook.url() == null || webhook.url().isBlank()) {
        errors.add(new FieldError("webhook.url", "required", "webhook.url is missing: give the http(s) URL the"
            + " router POSTs each message to"));
      } else if (uri(webhook.url()) == null) {
        errors.add(invalidUrl());
      }
      Long t = webhook.timeoutMs();
      if (t != null && (t < 1 || t > MAX_WEBHOOK_TIMEOUT.toMillis())) errors.add(timeoutOutOfRange());
      Integer p = webhook.parallelism();
      if (p != null && (p < 1 || p > MAX_WEBHOOK_PARALLELISM)) errors.add(parallelismOutOfRange());
      Integer b = webhook.batchSize();
      if (b != null && (b < 1 || b > MAX_WEBHOOK_BATCH_SIZE)) errors.add(batchSizeOutOfRange());
    }
    return errors;
  }

  /** The push target (with the configured defaults), or null for a pull subscription; call after validate. */
  HttpSubscription.Webhook toWebhook(HttpSettings settings) {
    if (webhook == null) return null;
    return new HttpSubscription.Webhook(uri(webhook.url()),
        webhook.timeoutMs() == null ? settings.webhookTimeout() : Duration.ofMillis(webhook.timeoutMs()),
        webhook.parallelism() == null ? settings.webhookParallelism() : webhook.parallelism(),
        webhook.batchSize() == null ? settings.webhookBatchSize() : webhook.batchSize());
  }

  private static URI uri(String url) {
    try {
      URI u = new URI(url);
      boolean web = "http".equals(u.getScheme()) || "https".equals(u.getScheme());
      return web && u.getHost() != null ? u : null;
    } catch (Exception e) {
      return null;
    }
  }

  private static FieldError invalidUrl() {
    return new FieldError("webhook.url", "invalid-url", "webhook.url is not an absolute http or https URL with a"
        + " host: use e.g. http://service-b:8080/hooks/orders");
  }

  private static FieldError timeoutOutOfRange() {
    return new FieldError("webhook.timeoutMs", "out-of-range", "webhook.timeoutMs must be 1-"
        + MAX_WEBHOOK_TIMEOUT.toMillis() + " (milliseconds)");
  }

  private static FieldError parallelismOutOfRange() {
    return new FieldError("webhook.parallelism", "out-of-range", "webhook.parallelism must be 1-"
        + MAX_WEBHOOK_PARALLELISM + " (calls in flight at once)");
  }

  private static FieldError batchSizeOutOfRange() {
    return new FieldError("webhook.batchSize", "out-of-range", "webhook.batchSize must be 1-"
        + MAX_WEBHOOK_BATCH_SIZE + " (deliveries per call; 1 sends each as a JSON object, more send a JSON array)");
  }
}
