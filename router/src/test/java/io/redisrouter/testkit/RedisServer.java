package io.redisrouter.testkit;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A private {@code redis-server} process for one test: its own free port, its own temp directory, no RDB
 * snapshots, optional AOF. Tests can {@link #kill9()}, {@link #pause()} / {@link #resume()} and
 * {@link #restart()} it without touching any shared Redis.
 *
 * <p>Binary: {@code redis-server} found on {@code PATH}; when there is none, or when the system property or
 * environment variable {@code REDIS_TESTKIT_BINARY=embedded} (or {@link Builder#embeddedBinary(boolean)})
 * asks for it, the binary shipped inside the {@code com.github.codemonstur:embedded-redis} jar, extracted
 * once per JVM. {@code REDIS_TESTKIT_BINARY=/some/path/redis-server} selects an explicit binary.
 *
 * <p>{@link #call(String...)} talks RESP2 over a plain blocking socket owned by the harness (lazily opened,
 * named {@value #HARNESS_CLIENT_NAME}, reopened after a kill or restart); {@link #clientCount(String)} and
 * {@link #clientCountExcludingSelf()} never count harness connections. With {@link Builder#tls(TestCertificates)}
 * the server has no plain port at all ({@code --port 0}), only a TLS port, and the harness speaks TLS to it
 * (trusting the test CA alone); with {@link Builder#harnessUser(String, String)} the harness authenticates as that
 * ACL user (for a server whose {@code default} user is off).
 */
public final class RedisServer implements AutoCloseable {

  public static final String BINARY_PROPERTY = "REDIS_TESTKIT_BINARY";
  /** CLIENT SETNAME of every harness connection; these are excluded from client counts. */
  public static final String HARNESS_CLIENT_NAME = "redis-testkit-harness";
  public static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_CALL_TIMEOUT = Duration.ofSeconds(10);

  private static final Logger log = LoggerFactory.getLogger(RedisServer.class);
  private static final Set<RedisServer> LIVE = ConcurrentHashMap.newKeySet();
  private static volatile Path extractedEmbedded;

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      for (RedisServer s : LIVE) {
        try {
          s.destroyProcess();
          deleteRecursively(s.dir);
        } catch (Throwable ignored) {
          // best effort
        }
      }
    }, "redis-testkit-shutdown"));
  }

  private final Path binary;
  private final boolean embedded;
  private final List<String> serverArgs;
  private final Duration startupTimeout;
  private final Path dir;
  private final Path logFile;
  private volatile int port;
  private volatile Process process;
  private volatile boolean closed;
  private final Object connLock = new Object();
  private volatile Conn conn; // the harness connection; calls are serialized by connLock
  private final String requirePass; // from arg("--requirepass", pw): the harness connections AUTH with it
  private final String harnessUser; // with requirePass: AUTH harnessUser password (an ACL user)
  private final TestCertificates tls; // null: plain TCP

  private RedisServer(Builder b) throws IOException {
    if (b.embedded != null) {
      this.embedded = b.embedded;
    } else {
      this.embedded = forcedEmbedded() || (explicitBinary() == null && findOnPath() == null);
    }
    this.binary = embedded ? embeddedBinary() : explicitOrPathBinary();
    this.serverArgs = List.copyOf(b.configArgs());
    int rp = serverArgs.indexOf("--requirepass");
    this.requirePass = b.harnessPassword != null
        ? b.harnessPassword
        : rp >= 0 && rp + 1 < serverArgs.size() ? serverArgs.get(rp + 1) : null;
    this.harnessUser = b.harnessUser;
    this.tls = b.tls;
    this.startupTimeout = b.startupTimeout;
    this.dir = Files.createTempDirectory("redis-testkit-");
    this.logFile = dir.resolve("redis.log");
  }

  // ------------------------------------------------------------------------------------------ factories

  /** Starts a plain server (no persistence) with the default binary. */
  public static RedisServer start() {
    return builder().start();
  }

  public static Builder builder() {
    return new Builder();
  }

  public static final class Builder {
    private String appendFsync;
    private String maxMemory;
    private String maxMemoryPolicy;
    private Boolean embedded;
    private Duration startupTimeout = STARTUP_TIMEOUT;
    private final List<String> extra = new ArrayList<>();
    private String harnessUser;
    private String harnessPassword;
    private TestCertificates tls;

    private Builder() {}

    /**
     * TLS only: no plain port ({@code --port 0}), the free port is the {@code --tls-port}, with the server
     * certificate and key of {@code certs}, its CA as {@code --tls-ca-cert-file} and {@code --tls-auth-clients no}
     * (clients need no certificate of their own). {@link #uri()} is then {@code rediss://127.0.0.1:PORT}.
     */
    public Builder tls(TestCertificates certs) {
      this.tls = Objects.requireNonNull(certs, "certs");
      return this;
    }

    /**
     * The harness's connections authenticate as the ACL user {@code user} ({@code AUTH user password}), e.g. an
     * admin user made with {@code arg("--user", user, "on", ">" + password, "~*", "&*", "+@all")}, so that the
     * test may turn the {@code default} user off.
     */
    public Builder harnessUser(String user, String password) {
      this.harnessUser = Objects.requireNonNull(user, "user");
      this.harnessPassword = Objects.requireNonNull(password, "password");
      return this;
    }

    /** Enables AOF ({@code appendonly yes}) with {@code appendfsync} = always | everysec | no. */
    public Builder appendOnly(String fsync) {
      this.appendFsync = Objects.requireNonNull(fsync, "fsync");
      return this;
    }

    /** {@code maxmemory}, e.g. "10mb". */
    public Builder maxMemory(String maxMemory) {
      this.maxMemory = maxMemory;
      return this;
    }

    /** {@code maxmemory-policy}, e.g. "noeviction", "allkeys-lru". */
    public Builder maxMemoryPolicy(String policy) {
      this.maxMemoryPolicy = policy;
      return this;
    }

    public Builder maxMemory(String maxMemory, String policy) {
      return maxMemory(maxMemory).maxMemoryPolicy(policy);
    }

    /** Extra command-line arguments passed verbatim, e.g. {@code arg("--maxclients", "50")}. */
    public Builder arg(String... args) {
      extra.addAll(List.of(args));
      return this;
    }

    /**
     * A replica of the server at {@code host:port} ({@code --replicaof}); {@link RedisServer#awaitReplicaLinkUp}
     * waits until it has synchronized.
     */
    public Builder replicaOf(String host, int port) {
      return arg("--replicaof", host, Integer.toString(port));
    }

    /** true: always use the binary from the embedded-redis jar; false: never (PATH / explicit only). */
    public Builder embeddedBinary(boolean embedded) {
      this.embedded = embedded;
      return this;
    }

    public Builder startupTimeout(Duration timeout) {
      this.startupTimeout = Objects.requireNonNull(timeout);
      return this;
    }

    private List<String> configArgs() {
      List<String> a = new ArrayList<>();
      if (appendFsync != null) {
        a.addAll(List.of("--appendonly", "yes", "--appendfsync", appendFsync));
      }
      if (maxMemory != null) {
        a.addAll(List.of("--maxmemory", maxMemory));
      }
      if (maxMemoryPolicy != null) {
        a.addAll(List.of("--maxmemory-policy", maxMemoryPolicy));
      }
      a.addAll(extra);
      return a;
    }

    public RedisServer start() {
      RedisServer server;
      try {
        server = new RedisServer(this);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot prepare redis-server", e);
      }
      LIVE.add(server);
      try {
        server.firstStart();
      } catch (RuntimeException | Error e) {
        server.close();
        throw e;
      }
      return server;
    }
  }

  // ------------------------------------------------------------------------------------------ accessors

  public int port() {
    return port;
  }

  public String host() {
    return "127.0.0.1";
  }

  /** {@code redis://127.0.0.1:PORT}, or {@code rediss://127.0.0.1:PORT} with {@link Builder#tls}. */
  public String uri() {
    return (tls == null ? "redis://" : "rediss://") + "127.0.0.1:" + port;
  }

  /** Whether the server speaks TLS only ({@link Builder#tls}). */
  public boolean isTls() {
    return tls != null;
  }

  public Path dir() {
    return dir;
  }

  public Path logFile() {
    return logFile;
  }

  public Path binary() {
    return binary;
  }

  public boolean usesEmbeddedBinary() {
    return embedded;
  }

  /** OS pid of the current process, or -1 when not running. */
  public long pid() {
    Process p = process;
    return p == null ? -1 : p.pid();
  }

  public boolean isAlive() {
    Process p = process;
    return p != null && p.isAlive();
  }

  /** {@code redis_version} from INFO server. */
  public String version() {
    return infoField("server", "redis_version");
  }

  /** One field of {@code INFO section}, or null. */
  public String infoField(String section, String field) {
    String info = command("INFO", section);
    for (String line : info.split("\r?\n")) {
      if (line.startsWith(field + ":")) {
        return line.substring(field.length() + 1).trim();
      }
    }
    return null;
  }

  /**
   * Waits (at most {@code max}) until this replica's link to its primary is up ({@code master_link_status:up} in
   * {@code INFO replication}: the initial synchronization is done and the replication stream flows).
   *
   * @throws IllegalStateException naming the replication state when it is not up in time
   */
  public void awaitReplicaLinkUp(Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    String status = null;
    while (System.nanoTime() < deadline) {
      status = infoField("replication", "master_link_status");
      if ("up".equals(status)) return;
      sleepQuietly(20);
    }
    throw new IllegalStateException("replica on port " + port + " has master_link_status=" + status + " after " + max
        + ": " + command("INFO", "replication"));
  }

  // ------------------------------------------------------------------------------------------ lifecycle

  private void firstStart() {
    // A port picked with ServerSocket(0) may be grabbed by someone else before redis binds it: retry.
    RuntimeException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      port = freePort();
      try {
        launch();
        awaitReady();
        log.debug("redis-server {} started on port {} in {}", binary, port, dir);
        return;
      } catch (RuntimeException e) {
        last = e;
        boolean portClash = logTail(20).contains("Address already in use");
        destroyProcess();
        if (!portClash) {
          throw e;
        }
      }
    }
    throw last;
  }

  /** SIGKILL: no shutdown, no final fsync; the process is gone when this returns. */
  public synchronized void kill9() {
    closeConn();
    Process p = process;
    if (p == null) {
      return;
    }
    // Process.destroyForcibly() on Unix sends SIGKILL (exit value 128+9 = 137), also to a stopped process.
    p.destroyForcibly();
    waitForExit(p);
  }

  /** SIGSTOP: the process keeps its sockets but answers nothing until {@link #resume()}. */
  public void pause() {
    signal("STOP");
  }

  /** SIGCONT after {@link #pause()}. */
  public void resume() {
    signal("CONT");
  }

  /**
   * Starts the server again (killing it first with SIGKILL when it is still running) on the same port, in
   * the same dir and with the same arguments, so an AOF is reloaded; returns once it answers PING and has
   * finished loading.
   */
  public synchronized void restart() {
    if (closed) {
      throw new IllegalStateException("closed");
    }
    if (isAlive()) {
      kill9();
    }
    closeConn();
    long deadline = System.nanoTime() + startupTimeout.toNanos();
    while (true) {
      launch();
      try {
        awaitReady();
        return;
      } catch (RuntimeException e) {
        boolean portClash = logTail(20).contains("Address already in use");
        destroyProcess();
        if (!portClash || System.nanoTime() > deadline) {
          throw e;
        }
        sleepQuietly(100);
      }
    }
  }

  /** Kills the process (SIGKILL) and deletes its directory. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    closeConn();
    destroyProcess();
    LIVE.remove(this);
    deleteRecursively(dir);
  }

  private synchronized void launch() {
    List<String> cmd = new ArrayList<>();
    cmd.add(binary.toString());
    if (tls == null) {
      cmd.addAll(List.of("--port", Integer.toString(port)));
    } else {
      cmd.addAll(List.of("--port", "0", "--tls-port", Integer.toString(port),
          "--tls-cert-file", tls.serverCert().toString(),
          "--tls-key-file", tls.serverKey().toString(),
          "--tls-ca-cert-file", tls.caCert().toString(),
          "--tls-auth-clients", "no"));
    }
    cmd.addAll(List.of(
        "--bind", "127.0.0.1",
        "--protected-mode", "no",
        "--save", "",
        "--daemonize", "no",
        "--dir", dir.toString(),
        "--logfile", ""));
    cmd.addAll(serverArgs);
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    IOException last = null;
    for (int i = 0; i < 20; i++) {
      try {
        process = pb.start();
        return;
      } catch (IOException e) {
        // ETXTBSY right after extracting the embedded binary while another thread forks: retry.
        last = e;
        if (!String.valueOf(e.getMessage()).contains("busy")) {
          break;
        }
        sleepQuietly(50);
      }
    }
    throw new UncheckedIOException("cannot start " + cmd, last);
  }

  private void awaitReady() {
    long deadline = System.nanoTime() + startupTimeout.toNanos();
    Throwable lastError = null;
    while (System.nanoTime() < deadline) {
      Process p = process;
      if (p == null || !p.isAlive()) {
        throw new IllegalStateException("redis-server exited"
            + (p == null ? "" : " with " + p.exitValue()) + " while starting on port " + port
            + "; log tail:\n" + logTail(30));
      }
      try {
        Object pong = callOnce(Duration.ofSeconds(1), "PING");
        if ("PONG".equals(pong)) {
          String loading = null;
          String info = (String) callOnce(Duration.ofSeconds(1), "INFO", "persistence");
          for (String line : info.split("\r?\n")) {
            if (line.startsWith("loading:")) {
              loading = line.substring("loading:".length()).trim();
            }
          }
          if (!"1".equals(loading)) {
            return;
          }
        }
      } catch (RedisError | IOException | UncheckedIOException e) {
        lastError = e; // connection refused, LOADING, ...
      }
      sleepQuietly(20);
    }
    throw new IllegalStateException("redis-server did not become ready on port " + port + " within "
        + startupTimeout + " (last error: " + lastError + "); log tail:\n" + logTail(30));
  }

  private void signal(String sig) {
    long pid = pid();
    if (pid < 0 || !isAlive()) {
      throw new IllegalStateException("redis-server is not running");
    }
    try {
      Process k = new ProcessBuilder(killCommand(), "-" + sig, Long.toString(pid))
          .redirectErrorStream(true)
          .start();
      String out = new String(k.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!k.waitFor(10, TimeUnit.SECONDS) || k.exitValue() != 0) {
        throw new IllegalStateException("kill -" + sig + " " + pid + " failed: " + out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** /bin/kill or /usr/bin/kill when present (PATH may be minimal in CI), else kill from PATH. */
  private static String killCommand() {
    for (String candidate : List.of("/bin/kill", "/usr/bin/kill")) {
      if (Files.isExecutable(Paths.get(candidate))) {
        return candidate;
      }
    }
    return "kill";
  }

  private void destroyProcess() {
    Process p = process;
    if (p != null && p.isAlive()) {
      p.destroyForcibly();
      waitForExit(p);
    }
  }

  private static void waitForExit(Process p) {
    try {
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        throw new IllegalStateException("redis-server pid " + p.pid() + " did not die after SIGKILL");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** The exit value of the last process (137 after {@link #kill9()}), or null while it runs. */
  public Integer lastExitValue() {
    Process p = process;
    return p == null || p.isAlive() ? null : p.exitValue();
  }

  /** The last {@code lines} lines of the server's stdout/stderr log. */
  public String logTail(int lines) {
    try {
      if (!Files.exists(logFile)) {
        return "(no log)";
      }
      List<String> all = Files.readAllLines(logFile, StandardCharsets.UTF_8);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException | RuntimeException e) {
      return "(cannot read log: " + e + ")";
    }
  }

  // ------------------------------------------------------------------------------------------ commands

  /**
   * Runs one command on the harness connection and returns the reply: simple string / bulk string as
   * {@link String} (nil as null), integer as {@link Long}, array as {@code List<Object>} (nil array as
   * null), a nested error as {@link RespError}. A top-level error reply throws {@link RedisError}. An I/O
   * failure drops the connection; the next call reconnects (no automatic retry).
   */
  public Object call(String... args) {
    return call(false, args);
  }

  /**
   * {@link #call(String...)} with bulk strings as {@code byte[]} instead of UTF-8 strings: for values stored in a
   * binary form (the router's envelopes).
   */
  public Object callBinary(String... args) {
    return call(true, args);
  }

  private Object call(boolean binary, String... args) {
    synchronized (connLock) {
      Conn c = conn;
      try {
        if (c == null) {
          c = openHarnessConn(DEFAULT_CALL_TIMEOUT);
          conn = c;
        }
        return unwrap(c.call(binary, args));
      } catch (IOException e) {
        closeConn();
        throw new UncheckedIOException(
            "redis " + String.join(" ", args) + " on port " + port + ": " + e, e);
      }
    }
  }

  /**
   * Calls per command since the server started, from {@code INFO commandstats} (subcommands as
   * {@code xinfo|groups}); what the server counts, whoever sent it.
   */
  public java.util.Map<String, Long> commandCalls() {
    java.util.Map<String, Long> calls = new java.util.TreeMap<>();
    for (String line : command("INFO", "commandstats").split("\r?\n")) {
      if (!line.startsWith("cmdstat_")) continue;
      int at = line.indexOf("calls=") + 6;
      calls.put(line.substring(8, line.indexOf(':')), Long.parseLong(line.substring(at, line.indexOf(',', at))));
    }
    return calls;
  }

  /**
   * The calls between two {@link #commandCalls()} readings, without the harness's own {@code INFO} and
   * {@code CLIENT} calls.
   */
  public static java.util.Map<String, Long> callsBetween(java.util.Map<String, Long> before,
      java.util.Map<String, Long> after) {
    java.util.Map<String, Long> d = new java.util.TreeMap<>();
    after.forEach((k, v) -> {
      long n = v - before.getOrDefault(k, 0L);
      if (n > 0 && !k.equals("info") && !k.equals("client")) d.put(k, n);
    });
    return d;
  }

  /** {@link #call(String...)} rendered as a String (integers as decimal, arrays via toString). */
  public String command(String... args) {
    Object r = call(args);
    return r == null ? null : r.toString();
  }

  public long callLong(String... args) {
    Object r = call(args);
    if (r instanceof Long l) {
      return l;
    }
    throw new IllegalStateException("expected integer reply to " + List.of(args) + " but got " + r);
  }

  @SuppressWarnings("unchecked")
  public List<Object> callList(String... args) {
    Object r = call(args);
    if (r == null) {
      return null;
    }
    if (r instanceof List<?> l) {
      return (List<Object>) l;
    }
    throw new IllegalStateException("expected array reply to " + List.of(args) + " but got " + r);
  }

  /**
   * Runs one command on a fresh, short-lived connection with the given read timeout (throws
   * {@link SocketTimeoutException} when the server does not answer in time, e.g. while paused).
   */
  public Object callOnce(Duration timeout, String... args) throws IOException {
    try (Conn c = new Conn(port, timeout, harnessUser, requirePass, tls)) {
      return unwrap(c.call(args));
    }
  }

  /** true when PING is answered with PONG within the timeout on a fresh connection. */
  public boolean ping(Duration timeout) {
    try {
      return "PONG".equals(callOnce(timeout, "PING"));
    } catch (IOException | RedisError e) {
      return false;
    }
  }

  /** CLIENT LIST parsed into one map of field → value per client, harness connections excluded. */
  public List<Map<String, String>> clients() {
    String list;
    long selfId;
    synchronized (connLock) { // same connection for both commands
      selfId = callLong("CLIENT", "ID");
      list = command("CLIENT", "LIST");
    }
    List<Map<String, String>> out = new ArrayList<>();
    for (String line : list.split("\r?\n")) {
      if (line.isBlank()) {
        continue;
      }
      Map<String, String> fields = new LinkedHashMap<>();
      for (String kv : line.trim().split(" ")) {
        int eq = kv.indexOf('=');
        if (eq > 0) {
          fields.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
      }
      if (Long.toString(selfId).equals(fields.get("id"))
          || HARNESS_CLIENT_NAME.equals(fields.get("name"))) {
        continue;
      }
      out.add(Collections.unmodifiableMap(fields));
    }
    return out;
  }

  /** Number of clients (harness excluded) whose CLIENT SETNAME starts with {@code namePrefix}. */
  public int clientCount(String namePrefix) {
    int n = 0;
    for (Map<String, String> c : clients()) {
      if (c.getOrDefault("name", "").startsWith(namePrefix)) {
        n++;
      }
    }
    return n;
  }

  /** Number of connected clients other than the harness's own connections. */
  public int clientCountExcludingSelf() {
    return clients().size();
  }

  private Conn openHarnessConn(Duration timeout) throws IOException {
    Conn c = new Conn(port, timeout, harnessUser, requirePass, tls);
    try {
      c.call("CLIENT", "SETNAME", HARNESS_CLIENT_NAME);
      return c;
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /** Closes the harness connection (also unblocking a call in flight); the next call reconnects. */
  private void closeConn() {
    Conn c = conn;
    conn = null;
    if (c != null) {
      c.close();
    }
  }

  private static Object unwrap(Object reply) {
    if (reply instanceof RespError e) {
      throw new RedisError(e.message());
    }
    return reply;
  }

  /** An error reply nested inside an array (e.g. in EXEC results). */
  public record RespError(String message) {
    @Override
    public String toString() {
      return "-" + message;
    }
  }

  /** A top-level error reply, e.g. {@code ERR unknown command}, {@code LOADING ...}, {@code NOGROUP ...}. */
  public static final class RedisError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public RedisError(String message) {
      super(message);
    }

    /** First word of the message: ERR, WRONGTYPE, NOGROUP, BUSYGROUP, LOADING, ... */
    public String code() {
      String m = getMessage();
      int sp = m.indexOf(' ');
      return sp < 0 ? m : m.substring(0, sp);
    }
  }

  /** Minimal blocking RESP2 client over a plain socket. */
  private static final class Conn implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    Conn(int port, Duration timeout, String user, String password, TestCertificates tls) throws IOException {
      Socket plain = new Socket();
      Socket s = plain;
      try {
        plain.setTcpNoDelay(true);
        plain.connect(new InetSocketAddress("127.0.0.1", port), (int) Math.min(timeout.toMillis(), 5000));
        plain.setSoTimeout((int) timeout.toMillis());
        if (tls != null) {
          javax.net.ssl.SSLSocket ssl = (javax.net.ssl.SSLSocket) tls.clientContext().getSocketFactory()
              .createSocket(plain, "127.0.0.1", port, true);
          javax.net.ssl.SSLParameters params = ssl.getSSLParameters();
          params.setEndpointIdentificationAlgorithm("HTTPS");
          ssl.setSSLParameters(params);
          s = ssl;
          ssl.startHandshake();
        }
        socket = s;
        in = new BufferedInputStream(socket.getInputStream());
        out = new BufferedOutputStream(socket.getOutputStream());
        if (password != null) {
          Object r = user == null ? call("AUTH", password) : call("AUTH", user, password);
          if (!"OK".equals(r)) {
            throw new IOException("AUTH failed: " + r);
          }
        }
      } catch (IOException e) {
        s.close();
        plain.close();
        throw e;
      }
    }

    Object call(String... args) throws IOException {
      return call(false, args);
    }

    /** With {@code binary}, bulk strings come back as {@code byte[]} (stored binary values stay intact). */
    Object call(boolean binary, String... args) throws IOException {
      ByteArrayOutputStream buf = new ByteArrayOutputStream();
      buf.writeBytes(("*" + args.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
      for (String a : args) {
        byte[] b = a.getBytes(StandardCharsets.UTF_8);
        buf.writeBytes(("$" + b.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
        buf.writeBytes(b);
        buf.writeBytes(new byte[]{'\r', '\n'});
      }
      buf.writeTo(out);
      out.flush();
      return read(binary);
    }

    private Object read(boolean binary) throws IOException {
      int type = in.read();
      if (type < 0) {
        throw new EOFException("connection closed by server");
      }
      String line = readLine();
      switch (type) {
        case '+' :
          return line;
        case '-' :
          return new RespError(line);
        case ':' :
          return Long.parseLong(line);
        case '$' : {
          int len = Integer.parseInt(line);
          if (len < 0) {
            return null;
          }
          byte[] b = in.readNBytes(len);
          if (b.length < len) {
            throw new EOFException("truncated bulk string");
          }
          readLine(); // trailing CRLF
          return binary ? b : new String(b, StandardCharsets.UTF_8);
        }
        case '*' : {
          int n = Integer.parseInt(line);
          if (n < 0) {
            return null;
          }
          List<Object> items = new ArrayList<>(n);
          for (int i = 0; i < n; i++) {
            items.add(read(binary));
          }
          return items;
        }
        default :
          throw new IOException("unexpected RESP type '" + (char) type + "' " + line);
      }
    }

    private String readLine() throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream(64);
      while (true) {
        int c = in.read();
        if (c < 0) {
          throw new EOFException("connection closed by server");
        }
        if (c == '\r') {
          int lf = in.read();
          if (lf != '\n') {
            throw new IOException("malformed RESP line");
          }
          return b.toString(StandardCharsets.UTF_8);
        }
        b.write(c);
      }
    }

    @Override
    public void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }

  // ------------------------------------------------------------------------------------------ binaries

  private static boolean forcedEmbedded() {
    return "embedded".equalsIgnoreCase(binarySetting());
  }

  private static String binarySetting() {
    String v = System.getProperty(BINARY_PROPERTY);
    if (v == null || v.isBlank()) {
      v = System.getenv(BINARY_PROPERTY);
    }
    return v == null || v.isBlank() ? null : v.trim();
  }

  /** {@code REDIS_TESTKIT_BINARY=/path/to/redis-server}, or null. */
  private static Path explicitBinary() {
    String setting = binarySetting();
    if (setting == null || "embedded".equalsIgnoreCase(setting)) {
      return null;
    }
    Path p = Paths.get(setting);
    if (!Files.isExecutable(p)) {
      throw new IllegalStateException(BINARY_PROPERTY + "=" + setting + " is not an executable file");
    }
    return p;
  }

  private static Path explicitOrPathBinary() {
    Path explicit = explicitBinary();
    if (explicit != null) {
      return explicit;
    }
    Path p = findOnPath();
    if (p == null) {
      throw new IllegalStateException("redis-server not found on PATH");
    }
    return p;
  }

  /** The first executable {@code redis-server} in a PATH entry, or null. */
  static Path findOnPath() {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String entry : path.split(File.pathSeparator)) {
      if (entry.isBlank()) {
        continue;
      }
      try {
        Path candidate = Paths.get(entry, "redis-server");
        if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
          return candidate;
        }
      } catch (RuntimeException ignored) {
        // malformed PATH entry
      }
    }
    return null;
  }

  /** Classpath resource name of the embedded-redis binary for this OS/arch. */
  static String embeddedResourceName() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    boolean arm = arch.equals("aarch64") || arch.equals("arm64");
    boolean x64 = arch.equals("amd64") || arch.equals("x86_64");
    if (os.contains("linux")) {
      if (x64) {
        return "/redis-server-6.2.6-v5-linux-amd64";
      }
      if (arm) {
        return "/redis-server-6.2.7-linux-arm64";
      }
    } else if (os.contains("mac") || os.contains("darwin")) {
      if (x64) {
        return "/redis-server-6.2.6-v5-darwin-amd64";
      }
      if (arm) {
        return "/redis-server-6.2.6-v5-darwin-arm64";
      }
    }
    throw new IllegalStateException("no embedded redis-server for os.name=" + os + " os.arch=" + arch);
  }

  /** Extracts the embedded binary once per JVM to a temp file and makes it executable. */
  static synchronized Path embeddedBinary() {
    if (extractedEmbedded != null && Files.isExecutable(extractedEmbedded)) {
      return extractedEmbedded;
    }
    String resource = embeddedResourceName();
    try (InputStream in = RedisServer.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("classpath resource " + resource
            + " not found (is com.github.codemonstur:embedded-redis on the classpath?)");
      }
      Path tmp = Files.createTempFile("redis-testkit-server-", ".bin");
      tmp.toFile().deleteOnExit();
      Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
      if (!tmp.toFile().setExecutable(true, true)) {
        throw new IllegalStateException("cannot chmod +x " + tmp);
      }
      extractedEmbedded = tmp;
      return tmp;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot extract " + resource, e);
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void sleepQuietly(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static void deleteRecursively(Path root) {
    if (root == null || !Files.exists(root)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // best effort
        }
      });
    } catch (IOException | UncheckedIOException ignored) {
      // best effort
    }
  }

  @Override
  public String toString() {
    return "RedisServer[" + uri() + (embedded ? ", embedded" : "") + ", pid=" + pid() + ", dir=" + dir + "]";
  }
}
