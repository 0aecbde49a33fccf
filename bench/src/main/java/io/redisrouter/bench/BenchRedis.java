package io.redisrouter.bench;

import io.redisrouter.testkit.RedisServer;

/** The redis-server every scenario of a pass runs against, and the connection count it reports. */
final class BenchRedis implements AutoCloseable {
  final RedisServer server;
  final String aof;

  BenchRedis(String aof) {
    RedisServer.Builder b = RedisServer.builder();
    if (aof != null) b.appendOnly(aof);
    this.server = b.start();
    this.aof = aof;
  }

  String uri() {
    return server.uri();
  }

  String host() {
    return server.host();
  }

  int port() {
    return server.port();
  }

  /** Client connections on the server now, other than the harness's own. */
  int connections() {
    return server.clientCountExcludingSelf();
  }

  void flushAll() {
    server.call("FLUSHALL");
  }

  @Override
  public void close() {
    server.close();
  }
}
