package io.redisrouter.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy on a free loopback port in front of one server, for tests that need one client's link to stall while
 * others go on: {@link #pause()} stops forwarding bytes in both directions on every connection (open or opened
 * later) without closing anything, like a stopped process or a partition; {@link #resume()} forwards what was held
 * back; {@link #close()} drops it (a link cut while paused never delivers what it held). Test code only: it uses
 * two blocking threads per connection.
 */
public final class TcpProxy implements AutoCloseable {
  private final ServerSocket server;
  private final String targetHost;
  private final int targetPort;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final Object gate = new Object();
  private volatile boolean paused;
  private volatile boolean dropping;
  private final AtomicLong dropped = new AtomicLong();
  private volatile boolean closed;
  private final AtomicLong accepted = new AtomicLong();

  public TcpProxy(String targetHost, int targetPort) throws IOException {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "tcp-proxy-accept-" + server.getLocalPort());
    t.setDaemon(true);
    t.start();
  }

  /** A proxy in front of {@code redis}. */
  public static TcpProxy to(RedisServer redis) throws IOException {
    return new TcpProxy(redis.host(), redis.port());
  }

  public int port() {
    return server.getLocalPort();
  }

  /** The {@code redis://} URI of the proxy. */
  public String uri() {
    return "redis://127.0.0.1:" + port();
  }

  /** Connections accepted so far. */
  public long accepted() {
    return accepted.get();
  }

  public boolean isPaused() {
    return paused;
  }

  public void pause() {
    paused = true;
  }

  /**
   * A network blackhole: from now on every byte is read and dropped, in both directions, on every connection (open
   * or opened later); nothing is closed and no RST is sent, so a client learns of it only from its own timeouts.
   * {@link #heal()} forwards again (what was dropped stays lost, as on a real network).
   */
  public void blackhole() {
    dropping = true;
  }

  /** Ends a {@link #blackhole()}. */
  public void heal() {
    dropping = false;
  }

  /** Bytes dropped by {@link #blackhole()} so far. */
  public long droppedBytes() {
    return dropped.get();
  }

  public void resume() {
    synchronized (gate) {
      paused = false;
      gate.notifyAll();
    }
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        Socket client = server.accept();
        accepted.incrementAndGet();
        Socket upstream = new Socket();
        upstream.connect(new InetSocketAddress(targetHost, targetPort), 5000);
        client.setTcpNoDelay(true);
        upstream.setTcpNoDelay(true);
        sockets.add(client);
        sockets.add(upstream);
        pump(client, upstream, "up");
        pump(upstream, client, "down");
      } catch (IOException e) {
        if (closed) return;
      }
    }
  }

  private void pump(Socket from, Socket to, String direction) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[16 * 1024];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        while (true) {
          waitWhilePaused();
          int n = in.read(buf);
          if (n < 0) break;
          waitWhilePaused(); // bytes read just before a pause are held back too
          if (closed) break; // a closed proxy drops what it held back, like a cut link
          if (dropping) {
            dropped.addAndGet(n);
            continue;
          }
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException | InterruptedException e) {
        // the other side closed
      } finally {
        closeQuietly(from);
        closeQuietly(to);
      }
    }, "tcp-proxy-" + direction + "-" + from.getPort());
    t.setDaemon(true);
    t.start();
  }

  private void waitWhilePaused() throws InterruptedException {
    synchronized (gate) {
      while (paused && !closed) gate.wait(100);
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing
    }
  }

  @Override
  public void close() {
    closed = true;
    resume();
    try {
      server.close();
    } catch (IOException ignored) {
      // closing
    }
    sockets.forEach(TcpProxy::closeQuietly);
  }
}
