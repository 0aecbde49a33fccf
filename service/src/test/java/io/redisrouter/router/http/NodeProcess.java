package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A {@link ClusterNodeProcess} started by a test: a router node in a JVM of its own, reached over HTTP, signalled
 * with kill(1). Its output is read on a thread: {@code READY <port>} gives its base URL, each {@code DELIVERED <id>}
 * (an embedded subscriber's delivery) goes to {@code onDelivered} with the time it was read, and the last 50 other
 * lines are kept for failure messages.
 */
final class NodeProcess implements AutoCloseable {
  final String label;
  private final Process process;
  private volatile String baseUrl;
  private final AtomicInteger subscribed = new AtomicInteger();
  private final List<String> tail = new CopyOnWriteArrayList<>();
  private volatile boolean terminated;

  private NodeProcess(String label, Process process) {
    this.label = label;
    this.process = process;
  }

  /**
   * Starts a node of cluster {@code system} on {@code redisUri}: cluster port {@code port} (0: any), seed at
   * {@code seedPort}, an embedded subscriber for each of {@code embeddedChannels} (may be empty).
   */
  static NodeProcess start(String label, String system, String redisUri, int seedPort, int port,
      List<String> embeddedChannels, BiConsumer<String, Long> onDelivered) throws Exception {
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // C1 only: three such JVMs and the test's share 2 cores here, and C2's compile threads would starve them at start
    List<String> cmd = new java.util.ArrayList<>(List.of(javaBin, "-Xmx384m", "-XX:TieredStopAtLevel=1", "-cp",
        System.getProperty("java.class.path"), ClusterNodeProcess.class.getName(), system, redisUri,
        Integer.toString(seedPort), Integer.toString(port)));
    if (!embeddedChannels.isEmpty()) cmd.add(String.join(",", embeddedChannels));
    NodeProcess n = new NodeProcess(label, new ProcessBuilder(cmd).redirectErrorStream(true).start());
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(n.process.getInputStream(),
          StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null;) {
          if (line.startsWith("DELIVERED ")) {
            onDelivered.accept(line.substring("DELIVERED ".length()).trim(), System.nanoTime());
            continue;
          }
          if (line.startsWith("READY ")) n.baseUrl = "http://127.0.0.1:" + line.substring(6).trim();
          if (line.startsWith("SUBSCRIBED ")) n.subscribed.incrementAndGet();
          if (line.startsWith("TERMINATED")) n.terminated = true;
          n.tail.add(line);
          if (n.tail.size() > 50) n.tail.remove(0);
        }
      } catch (java.io.IOException e) {
        // the process died: its output ends
      }
    }, "node-output-" + label);
    reader.setDaemon(true);
    reader.start();
    return n;
  }

  /** "http://127.0.0.1:PORT" once it printed READY, else null. */
  String baseUrl() {
    return baseUrl;
  }

  int subscribed() {
    return subscribed.get();
  }

  boolean terminated() {
    return terminated;
  }

  List<String> tail() {
    return List.copyOf(tail);
  }

  Process process() {
    return process;
  }

  /** This node's cluster view ({@code GET /v1/cluster}). */
  JsonNode cluster() throws Exception {
    return HttpTestSupport.json(HttpTestSupport.get(baseUrl, "/v1/cluster"));
  }

  /** Sends {@code sig} (e.g. STOP, CONT) with kill(1). */
  void signal(String sig) throws Exception {
    Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid())).inheritIO().start();
    assertEquals(0, k.waitFor(), "kill -" + sig);
  }

  @Override
  public void close() throws Exception {
    if (!process.isAlive()) return;
    process.destroy(); // SIGTERM: a graceful stop
    if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly();
  }

  @Override
  public String toString() {
    return label + (baseUrl == null ? "" : " at " + baseUrl);
  }
}
