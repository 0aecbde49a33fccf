package io.redisrouter.protocol;

/** How a channel is carried by Redis. */
public enum ChannelMode {
  /** Redis Stream with a consumer group per subscription: at-least-once, acked, retried, dead-lettered. */
  RELIABLE("reliable"),
  /** Redis PUBLISH/SUBSCRIBE fan-out: at-most-once, a subscriber that is not connected misses the message. */
  BROADCAST("broadcast");

  private final String configName;

  ChannelMode(String configName) {
    this.configName = configName;
  }

  /** The name used in configuration, e.g. {@code reliable}. */
  public String configName() {
    return configName;
  }
}
