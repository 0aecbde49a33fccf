package io.redisrouter.router.redis;

import io.lettuce.core.RedisCredentials;
import io.lettuce.core.RedisCredentialsProvider;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SslOptions;
import io.lettuce.core.SslVerifyMode;
import io.lettuce.core.StaticCredentialsProvider;
import io.redisrouter.config.RedisInstanceSettings;

/**
 * How an instance's settings become what Lettuce connects with: the URI (credentials, TLS and its peer check,
 * timeout, client name, no library name) and the TLS options (trusted CA certificates, handshake timeout). Pure; tested in
 * RedisUriTest.
 */
final class RedisUris {
  private RedisUris() {}

  /**
   * The Lettuce URI of an instance: its {@code uri}; the {@code username} and {@code password} for AUTH (each, when
   * not set, the URI's); TLS when {@code tls} is on or the URI is {@code rediss://}, checked as
   * {@code tls-verify-peer} says; the command timeout and the client name.
   */
  static RedisURI redisUri(RedisInstanceSettings settings, String clientName) {
    RedisURI uri = RedisURI.create(settings.uri());
    String user = settings.username() != null
        ? settings.username()
        : RedisInstanceSettings.uriUsername(settings.uri());
    char[] password = settings.password() != null && !settings.password().isEmpty()
        ? settings.password().toCharArray()
        : null;
    if (password != null) {
      uri.setCredentialsProvider(new StaticCredentialsProvider(user, password));
    } else if (settings.username() != null) {
      // the password is the uri's (the settings made sure there is one): Lettuce's reading of it, with our user
      RedisCredentialsProvider fromUri = uri.getCredentialsProvider();
      String username = settings.username();
      uri.setCredentialsProvider(() -> fromUri.resolveCredentials()
          .map(c -> RedisCredentials.just(username, c.getPassword())));
    }
    if (settings.tls()) {
      uri.setSsl(true);
      uri.setVerifyPeer(switch (settings.tlsVerifyPeer()) {
        case FULL -> SslVerifyMode.FULL;
        case CA -> SslVerifyMode.CA;
        case NONE -> SslVerifyMode.NONE;
      });
    }
    uri.setTimeout(settings.commandTimeout());
    uri.setClientName(clientName);
    // no CLIENT SETINFO lib-name / lib-ver after the handshake: it would need a right of its own (+client|setinfo,
    // which Redis before 7.2 refuses to grant: 6.2 and 7.2+ log a denial per connect), and the client name says who
    // the connection is
    uri.setLibraryName("");
    uri.setLibraryVersion("");
    return uri;
  }

  /**
   * The TLS options of an instance: the JDK's TLS, the CA certificates of {@code tls-ca-file} as the only ones
   * trusted (else the JVM's trust store), and a handshake bounded by the connect timeout.
   */
  static SslOptions sslOptions(RedisInstanceSettings settings) {
    SslOptions.Builder b = SslOptions.builder().jdkSslProvider().handshakeTimeout(settings.connectTimeout());
    if (settings.tlsCaFile() != null) b.trustManager(settings.tlsCaFile().toFile());
    return b.build();
  }

  /** How the instance is reached, for the connect log line: the user and, over TLS, how the server is checked. */
  static String access(RedisInstanceSettings settings) {
    String user = settings.username() != null
        ? settings.username()
        : RedisInstanceSettings.uriUsername(settings.uri());
    String auth = user != null
        ? "as user '" + user + "'"
        : settings.password() != null || RedisInstanceSettings.uriHasPassword(settings.uri())
            ? "as user 'default' (password)"
            : "without authentication";
    if (!settings.tls()) return auth + ", plain TCP (no TLS)";
    return auth + ", TLS (server certificate check: " + settings.tlsVerifyPeer().configName() + ", trusting "
        + (settings.tlsCaFile() == null ? "the JVM's trust store" : settings.tlsCaFile()) + ")";
  }
}
