package io.redisrouter.bench;

import com.rabbitmq.client.AuthenticationFailureException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.MessageProperties;
import com.rabbitmq.client.ShutdownSignalException;

import java.io.IOException;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.TimeoutException;

import static java.util.Objects.requireNonNull;

/**
 * RabbitMQ in its reliable mode, a broker users would pick instead of the router: a fresh durable queue per run
 * ({@code x-queue-type} classic or quorum) on the default exchange; persistent messages (delivery mode 2) published
 * on a channel in confirm mode, each publish complete when the broker confirms it (a nack, or the channel closing,
 * fails it and the driver publishes it again); one consumer on its own connection with {@code basicQos(256)} and a
 * manual {@code basicAck} of each delivery after it was counted. The queue is deleted at close. No automatic
 * connection recovery: a failure shows as lost messages, not hidden.
 */
final class RabbitMqQueue implements Scenario {
  /** Deliveries the consumer holds unacknowledged at most. */
  static final int PREFETCH = 256;
  static final int CONNECT_TIMEOUT_MILLIS = 2_000;

  enum Type {
    CLASSIC("classic"), QUORUM("quorum");

    final String argument;

    Type(String argument) {
      this.argument = argument;
    }
  }

  private final PeerAddress address;
  private final Type type;
  /** Publishes not confirmed yet, by publish sequence number. */
  private final ConcurrentNavigableMap<Long, CompletableFuture<Void>> unconfirmed = new ConcurrentSkipListMap<>();
  private Connection publishing;
  private Connection consuming;
  private Channel publish;
  private String queue;

  RabbitMqQueue(PeerAddress address, Type type) {
    this.address = requireNonNull(address, "address");
    this.type = requireNonNull(type, "type");
  }

  static ConnectionFactory factory(PeerAddress address) {
    ConnectionFactory f = new ConnectionFactory(); // guest/guest on vhost "/", the client's defaults
    f.setHost(address.host());
    f.setPort(address.port());
    f.setConnectionTimeout(CONNECT_TIMEOUT_MILLIS);
    f.setHandshakeTimeout(CONNECT_TIMEOUT_MILLIS);
    f.setAutomaticRecoveryEnabled(false);
    return f;
  }

  /** Null when RabbitMQ at {@code address} answers (a connection and a login), else why the rows are skipped. */
  static String unavailable(PeerAddress address) {
    try (Connection c = factory(address).newConnection("bench-probe")) {
      return c.isOpen() ? null : "RabbitMQ at " + address + " closed the connection at once";
    } catch (AuthenticationFailureException e) {
      return "RabbitMQ at " + address + " refused the login guest/guest (" + PeerAddress.cause(e) + ")";
    } catch (IOException | TimeoutException | RuntimeException e) {
      return "RabbitMQ at " + address + " did not answer (" + PeerAddress.cause(e) + ")";
    }
  }

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) throws Exception {
    queue = key + "-" + type.argument + "-" + UUID.randomUUID().toString().substring(0, 8);
    ConnectionFactory f = factory(address);
    publishing = f.newConnection("bench-publisher");
    publish = publishing.createChannel();
    publish.queueDeclare(queue, true, false, false, Map.of("x-queue-type", type.argument));
    publish.confirmSelect();
    publish.addConfirmListener((seq, multiple) -> settle(seq, multiple, null),
        (seq, multiple) -> settle(seq, multiple, new IOException("RabbitMQ nacked publish " + seq + " on " + queue)));
    publish.addShutdownListener(this::failUnconfirmed);
    consuming = f.newConnection("bench-consumer");
    Channel consume = consuming.createChannel();
    consume.basicQos(PREFETCH);
    consume.basicConsume(queue, false, (tag, delivery) -> {
      tracker.delivered(delivery.getBody());
      consume.basicAck(delivery.getEnvelope().getDeliveryTag(), false);
    }, tag -> {});
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    CompletableFuture<Void> confirmed = new CompletableFuture<>();
    // the producer and the driver's republish thread both publish: a channel takes one publish at a time, and the
    // sequence number must be the one of this publish
    synchronized (this) {
      long seq = publish.getNextPublishSeqNo();
      unconfirmed.put(seq, confirmed);
      try {
        publish.basicPublish("", queue, MessageProperties.PERSISTENT_BASIC, payload);
      } catch (IOException | RuntimeException e) {
        unconfirmed.remove(seq);
        confirmed.completeExceptionally(e);
      }
    }
    return confirmed;
  }

  /** A confirm ({@code nack} null) or a nack of {@code seq}, or of every publish up to it when {@code multiple}. */
  private void settle(long seq, boolean multiple, Exception nack) {
    if (multiple) {
      Map.Entry<Long, CompletableFuture<Void>> e;
      while ((e = unconfirmed.firstEntry()) != null && e.getKey() <= seq) {
        if (unconfirmed.remove(e.getKey(), e.getValue())) complete(e.getValue(), nack);
      }
    } else {
      CompletableFuture<Void> f = unconfirmed.remove(seq);
      if (f != null) complete(f, nack);
    }
  }

  private static void complete(CompletableFuture<Void> f, Exception nack) {
    if (nack == null) {
      f.complete(null);
    } else {
      f.completeExceptionally(nack);
    }
  }

  /** The publish channel closed: what it did not confirm will never be, so the driver publishes it again. */
  private void failUnconfirmed(ShutdownSignalException cause) {
    Map.Entry<Long, CompletableFuture<Void>> e;
    while ((e = unconfirmed.pollFirstEntry()) != null) e.getValue().completeExceptionally(cause);
  }

  @Override
  public void close() throws Exception {
    try {
      if (consuming != null) consuming.abort(CONNECT_TIMEOUT_MILLIS); // its unacked deliveries go back, then away
    } finally {
      if (publishing != null) {
        try {
          if (publish != null && publish.isOpen()) publish.queueDelete(queue);
        } finally {
          publishing.abort(CONNECT_TIMEOUT_MILLIS);
        }
      }
    }
  }
}
