package io.redisrouter.router.consume;

/**
 * Makes an HTTP consumer actor fail the way a bug would (an exception thrown by a message handler), to show that its
 * supervision restarts it and nothing is lost. Only the supervision tests send it; nothing in the router does.
 */
public record InjectedFailure(String why)
    implements
      HttpConsumers.Command,
      PullGateway.Command,
      WebhookPusher.Command {

  /** What the handler throws. */
  IllegalStateException fail() {
    return new IllegalStateException("injected failure: " + why);
  }
}
