package io.redisrouter.bench;

import io.nats.client.Connection;
import io.nats.client.ErrorListener;
import io.nats.client.ConsumeOptions;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.MessageConsumer;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.DeliverPolicy;
import io.nats.client.api.RetentionPolicy;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;

import java.io.IOException;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;

import static java.util.Objects.requireNonNull;

/**
 * NATS JetStream in its reliable mode, a broker users would pick instead of the router: a fresh work-queue stream
 * per run (one replica, memory or file storage) on a subject of its own; {@code publishAsync} per message, complete
 * when the stream's publish ack arrives (a failed or timed-out ack fails it and the driver publishes it again); one
 * durable pull consumer with {@link AckPolicy#Explicit} on its own connection, consumed with the client's
 * {@code consume} (pull batches of 256 kept topped up), {@code ack()} of each message after it was counted. The stream
 * is deleted at close.
 */
final class NatsJetStream implements Scenario {
  /** Messages a pull request asks for (the client asks again when a quarter of them is left). */
  static final int BATCH = 256;
  static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);

  enum Storage {
    MEMORY(StorageType.Memory), FILE(StorageType.File);

    final StorageType type;

    Storage(StorageType type) {
      this.type = type;
    }
  }

  private final PeerAddress address;
  private final Storage storage;
  private Connection producer;
  private Connection consumer;
  private JetStream js;
  private MessageConsumer messages;
  private String stream;
  private String subject;

  NatsJetStream(PeerAddress address, Storage storage) {
    this.address = requireNonNull(address, "address");
    this.storage = requireNonNull(storage, "storage");
  }

  static Options.Builder options(PeerAddress address, String name) {
    return new Options.Builder().server("nats://" + address).connectionName(name).connectionTimeout(CONNECT_TIMEOUT)
        .maxReconnects(0);
  }

  /**
   * Null when NATS at {@code address} answers with JetStream enabled (a connection and a JetStream API call), else
   * why the rows are skipped.
   */
  static String unavailable(PeerAddress address) {
    // what the connect failed on, said here instead of logged by the client
    AtomicReference<Exception> failure = new AtomicReference<>();
    ErrorListener quiet = new ErrorListener() {
      @Override
      public void exceptionOccurred(Connection conn, Exception exp) {
        failure.compareAndSet(null, exp);
      }
    };
    try (Connection c = Nats.connect(options(address, "bench-probe").errorListener(quiet).build())) {
      if (!c.getServerInfo().isJetStreamAvailable()) {
        return "NATS at " + address + " answered but JetStream is not enabled (start nats-server with -js)";
      }
      c.jetStreamManagement().getAccountStatistics();
      return null;
    } catch (JetStreamApiException e) {
      return "NATS at " + address + " answered but its JetStream API refused: " + PeerAddress.cause(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "NATS at " + address + ": interrupted while connecting";
    } catch (IOException | RuntimeException e) {
      return "NATS at " + address + " did not answer (" + PeerAddress.cause(failure.get() != null ? failure.get() : e)
          + ")";
    }
  }

  @Override
  public void start(BenchRedis redis, Tracker tracker, String key) throws Exception {
    String id = (key + "_" + storage + "_" + UUID.randomUUID().toString().substring(0, 8)).replaceAll("[^A-Za-z0-9_]",
        "_");
    stream = "BENCH_" + id;
    subject = "bench." + id;
    producer = Nats.connect(options(address, "bench-publisher").build());
    JetStreamManagement jsm = producer.jetStreamManagement();
    jsm.addStream(StreamConfiguration.builder().name(stream).subjects(subject).storageType(storage.type)
        .retentionPolicy(RetentionPolicy.WorkQueue).replicas(1).build());
    jsm.addOrUpdateConsumer(stream, ConsumerConfiguration.builder().durable("c1").filterSubject(subject)
        .ackPolicy(AckPolicy.Explicit).deliverPolicy(DeliverPolicy.All).build());
    js = producer.jetStream();
    consumer = Nats.connect(options(address, "bench-consumer").build());
    messages = consumer.getConsumerContext(stream, "c1").consume(ConsumeOptions.builder().batchSize(BATCH).build(),
        m -> {
          tracker.delivered(m.getData());
          m.ack();
        });
  }

  @Override
  public CompletionStage<?> publish(byte[] payload) {
    return js.publishAsync(subject, payload);
  }

  @Override
  public void close() throws Exception {
    try {
      if (messages != null) messages.stop();
      if (consumer != null) consumer.close();
    } finally {
      if (producer != null) {
        try {
          if (stream != null) producer.jetStreamManagement().deleteStream(stream);
        } finally {
          producer.close();
        }
      }
    }
  }
}
