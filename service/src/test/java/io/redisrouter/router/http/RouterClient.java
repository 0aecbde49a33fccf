package io.redisrouter.router.http;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.redisrouter.router.service.RouterService;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * A typed client of the router's HTTP API for the tests: request bodies are records written by Jackson (not
 * concatenated strings), every answer is a {@link Reply} and has been checked against the OpenAPI document by
 * {@link HttpTestSupport#send}. The records are the client's own, not the server's, so a renamed field on either side
 * shows up as a failing call rather than passing silently.
 */
public final class RouterClient {
  private static final ObjectMapper JSON = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL);
  private final String baseUrl;

  public RouterClient(RouterService service) {
    this(service.baseUrl());
  }

  /** A client of the service at {@code baseUrl} ("http://host:port"), e.g. one in another process. */
  public RouterClient(String baseUrl) {
    this.baseUrl = baseUrl;
  }

  /** A message to publish; build it with {@link #json} or {@link #text} and the {@code with...} methods. */
  public record Message(Object payload, String payloadBase64, String contentType, Map<String, String> headers,
      String partitionKey, String ttl, String deadline, String idempotencyKey) {
    /** A message whose payload is {@code payload} as JSON (a map, a list, a number, a record...). */
    public static Message json(Object payload) {
      return new Message(payload, null, null, null, null, null, null, null);
    }

    /** A message with the raw bytes {@code base64}. */
    public static Message base64(String base64, String contentType) {
      return new Message(null, base64, contentType, null, null, null, null, null);
    }

    public Message withKey(String idempotencyKey) {
      return new Message(payload, payloadBase64, contentType, headers, partitionKey, ttl, deadline, idempotencyKey);
    }

    public Message withTtl(String ttl) {
      return new Message(payload, payloadBase64, contentType, headers, partitionKey, ttl, deadline, idempotencyKey);
    }

    public Message withHeaders(Map<String, String> headers) {
      return new Message(payload, payloadBase64, contentType, headers, partitionKey, ttl, deadline, idempotencyKey);
    }

    public Message withPartitionKey(String partitionKey) {
      return new Message(payload, payloadBase64, contentType, headers, partitionKey, ttl, deadline, idempotencyKey);
    }
  }

  /** A subscription definition: pull when {@code webhook} is null. */
  public record Subscription(String name, String channel, Webhook webhook) {
    public static Subscription pull(String name, String channel) {
      return new Subscription(name, channel, null);
    }

    public static Subscription webhook(String name, String channel, String url) {
      return new Subscription(name, channel, new Webhook(url, null, null));
    }
  }

  public record Webhook(String url, Integer timeoutMs, Integer parallelism) {}

  record Batch(List<Message> messages) {}

  record Pull(Integer maxMessages, Long waitMs) {}

  record Ack(Collection<String> deliveryIds) {}

  record Nack(Collection<String> deliveryIds, String error, Boolean doNotRetry) {}

  /** An answer: its status, its body as JSON (null when it is not JSON) and the raw response. */
  public record Reply(int status, JsonNode json, HttpResponse<String> raw) {
    public String body() {
      return raw.body();
    }

    /** The body's {@code field}, failing when the body has none. */
    public JsonNode get(String field) {
      if (json == null || !json.has(field)) throw new AssertionError("no '" + field + "' in " + body());
      return json.get(field);
    }

    @Override
    public String toString() {
      return status + " " + body();
    }
  }

  public Reply publish(String channel, Message m) {
    return post("/v1/channels/" + channel + "/messages", m);
  }

  public Reply publishBatch(String channel, List<Message> messages) {
    return post("/v1/channels/" + channel + "/messages/batch", new Batch(messages));
  }

  public Reply createSubscription(Subscription s) {
    return post("/v1/subscriptions", s);
  }

  public Reply subscription(String name) {
    return get("/v1/subscriptions/" + name);
  }

  public Reply deleteSubscription(String name) {
    return delete("/v1/subscriptions/" + name);
  }

  public Reply pull(String subscription, int maxMessages, long waitMs) {
    return post("/v1/subscriptions/" + subscription + "/pull", new Pull(maxMessages, waitMs));
  }

  public Reply ack(String subscription, Collection<String> deliveryIds) {
    return post("/v1/subscriptions/" + subscription + "/ack", new Ack(deliveryIds));
  }

  public Reply nack(String subscription, Collection<String> deliveryIds, String error, boolean doNotRetry) {
    return post("/v1/subscriptions/" + subscription + "/nack", new Nack(deliveryIds, error, doNotRetry));
  }

  public Reply channel(String channel) {
    return get("/v1/channels/" + channel);
  }

  /** POSTs {@code body} written as JSON to {@code path}. */
  public Reply post(String path, Object body) {
    String json;
    try {
      json = JSON.writeValueAsString(body);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("cannot write " + body + " as JSON", e);
    }
    return reply(() -> HttpTestSupport.post(baseUrl, path, json));
  }

  public Reply get(String path) {
    return reply(() -> HttpTestSupport.get(baseUrl, path));
  }

  public Reply delete(String path) {
    return reply(() -> HttpTestSupport.send(HttpTestSupport.request(baseUrl, path).DELETE().build()));
  }

  private interface Call {
    HttpResponse<String> send() throws IOException, InterruptedException;
  }

  private static Reply reply(Call call) {
    HttpResponse<String> r;
    try {
      r = call.send();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
    JsonNode json = null;
    if (r.headers().firstValue("Content-Type").orElse("").startsWith("application/json")) {
      try {
        json = JSON.readTree(r.body());
      } catch (IOException e) {
        json = null; // not JSON after all: ApiContract already failed the call if the document says it is
      }
    }
    return new Reply(r.statusCode(), json, r);
  }
}
