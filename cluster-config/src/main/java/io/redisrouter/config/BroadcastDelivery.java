package io.redisrouter.config;

/** What a {@link io.redisrouter.protocol.ChannelMode#BROADCAST broadcast} channel does when nobody listens. */
public enum BroadcastDelivery {
  /** Publish once; a message nobody is subscribed to is lost. */
  AT_MOST_ONCE("at-most-once"),
  /** Publish again, within the channel's retry policy, until at least one subscriber receives it. */
  UNTIL_RECEIVED("until-received");

  private final String configName;

  BroadcastDelivery(String configName) {
    this.configName = configName;
  }

  /** The name used in configuration, e.g. {@code at-most-once}. */
  public String configName() {
    return configName;
  }
}
