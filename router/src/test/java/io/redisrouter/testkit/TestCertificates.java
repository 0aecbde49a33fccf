package io.redisrouter.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Certificates a TLS test makes for itself with the {@code openssl} command line, into a directory of its own: a CA
 * (self-signed) and a server certificate for {@code 127.0.0.1} and {@code localhost} signed by it, all PEM, valid
 * for 2 days, EC P-256 keys (fast to make). Nothing is read from or written to the machine's trust stores.
 *
 * <pre>{@code
 * TestCertificates certs = TestCertificates.create(dir, "test-ca");
 * RedisServer redis = RedisServer.builder().tls(certs).start();   // rediss://127.0.0.1:port, no plain port
 * ... tls-ca-file = certs.caCert() ...
 * }</pre>
 *
 * @param dir        where the files are
 * @param caCert     the CA's certificate (what a client trusts)
 * @param serverCert the server's certificate, signed by the CA, subject alternative names IP:127.0.0.1 and
 *                   DNS:localhost
 * @param serverKey  the server's private key (unencrypted)
 */
public record TestCertificates(Path dir, Path caCert, Path serverCert, Path serverKey) {

  /** The {@code openssl} binary: {@code OPENSSL} from the environment, else {@code /usr/bin/openssl}, else PATH. */
  static String openssl() {
    String env = System.getenv("OPENSSL");
    if (env != null && !env.isBlank()) return env;
    return Files.isExecutable(Path.of("/usr/bin/openssl")) ? "/usr/bin/openssl" : "openssl";
  }

  /** Makes a CA named {@code caName} and a server certificate signed by it in {@code dir} (created if missing). */
  public static TestCertificates create(Path dir, String caName) {
    try {
      Files.createDirectories(dir);
      Path caKey = dir.resolve("ca.key");
      Path caCert = dir.resolve("ca.crt");
      Path key = dir.resolve("server.key");
      Path csr = dir.resolve("server.csr");
      Path cert = dir.resolve("server.crt");
      Path ext = dir.resolve("server.ext");
      Files.writeString(ext, "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
          + "keyUsage = critical, digitalSignature, keyEncipherment\n"
          + "extendedKeyUsage = serverAuth\n", StandardCharsets.US_ASCII);
      run(dir, openssl(), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", caKey.toString(), "-out", caCert.toString(), "-days", "2", "-subj", "/CN=" + caName,
          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
      run(dir, openssl(), "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", key.toString(), "-out", csr.toString(), "-subj", "/CN=localhost");
      run(dir, openssl(), "x509", "-req", "-in", csr.toString(), "-CA", caCert.toString(), "-CAkey",
          caKey.toString(), "-CAcreateserial", "-out", cert.toString(), "-days", "2", "-extfile", ext.toString());
      return new TestCertificates(dir, caCert, cert, key);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot make test certificates in " + dir, e);
    }
  }

  private static void run(Path dir, String... cmd) throws IOException {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", cmd) + " did not finish within 30 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    if (p.exitValue() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed with " + p.exitValue() + ":\n" + out);
    }
  }

  /** A TLS context that trusts this CA alone (for the test harness's own connections). */
  public SSLContext clientContext() {
    try (InputStream in = Files.newInputStream(caCert)) {
      List<Certificate> cas = new ArrayList<>(CertificateFactory.getInstance("X.509").generateCertificates(in));
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      for (int i = 0; i < cas.size(); i++) store.setCertificateEntry("ca-" + i, cas.get(i));
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(store);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, tmf.getTrustManagers(), null);
      return ctx;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot build a TLS context trusting " + caCert, e);
    }
  }
}
