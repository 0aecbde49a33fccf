package io.redisrouter.bench;

import static java.util.Objects.requireNonNull;

/**
 * Where a peer broker of the benchmark listens ({@code host:port}), set by a system property or the broker on this
 * host by default.
 */
record PeerAddress(String host, int port) {

  PeerAddress {
    requireNonNull(host, "host");
    if (host.isBlank() || port < 1 || port > 65_535) {
      throw new IllegalArgumentException("peer address '" + host + ":" + port + "' is invalid: use host:port");
    }
  }

  /** The address in system property {@code property}, or {@code fallback} ({@code host:port}) when it is unset. */
  static PeerAddress fromProperty(String property, String fallback) {
    String value = System.getProperty(property, fallback).trim();
    int colon = value.lastIndexOf(':');
    try {
      if (colon <= 0) throw new NumberFormatException("no port");
      return new PeerAddress(value.substring(0, colon), Integer.parseInt(value.substring(colon + 1)));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("-D" + property + "=" + value + " is invalid: use host:port, e.g. -D"
          + property + "=" + fallback, e);
    }
  }

  /** The most specific message in {@code e}'s causes (what a refused or timed-out connect says). */
  static String cause(Throwable e) {
    String message = e.getClass().getSimpleName();
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t.getMessage() != null && !t.getMessage().isBlank()) message = t.getMessage();
    }
    return message;
  }

  @Override
  public String toString() {
    return host + ":" + port;
  }
}
