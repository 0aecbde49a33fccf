package io.redisrouter.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.redisrouter.protocol.PublishReply;
import io.redisrouter.protocol.PublishRequest;
import io.redisrouter.router.RouterTestSupport;
import io.redisrouter.router.consume.InjectedFailure;
import io.redisrouter.testkit.LogCapture;
import io.redisrouter.testkit.MessageChecker;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTTP consumers are supervised like the core's actors: a webhook pusher, a pull gateway or the consumers actor
 * that owns them, failing the way a bug would, is restarted with backoff (logged, counted), joins its subscription
 * again, and every message published before and after is delivered. Before, each of them stopped: the webhook
 * received nothing more, and the consumers actor's failure ended every HTTP subscription of the node.
 */
class HttpConsumerSupervisionIT {

  @RegisterExtension
  static final ServiceExtension node = ServiceExtension.named("http-supervision");

  /** The actor at {@code path} (wildcards allowed: the first match). */
  private static <T> ActorRef<T> actorAt(String path) {
    org.apache.pekko.actor.ActorRef classic = Adapter.toClassic(node.service().system()).actorSelection(path)
        .resolveOne(Duration.ofSeconds(3)).toCompletableFuture().join();
    return Adapter.toTyped(classic);
  }

  /** Publishes {@code id}, counted by each checker (one per consumer of the channel). */
  private static void publish(String channel, String id, MessageChecker... checkers) throws Exception {
    for (MessageChecker c : checkers) c.sent(id);
    PublishReply r = node.service().runtime().publish(PublishRequest.of(channel, RouterTestSupport.payload(id, 32))
        .withMessageId(id)).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertInstanceOf(PublishReply.Accepted.class, r, r::toString);
    for (MessageChecker c : checkers) c.accepted(id);
  }

  /** Sends {@code target} an injected failure and waits for its restart to be logged and counted. */
  private static void failAndAwaitRestart(ActorRef<? super InjectedFailure> target, String role) throws Exception {
    long before = node.service().runtime().metrics().snapshot().failuresRecovered();
    try (LogCapture logs = LogCapture.start()) {
      target.tell(new InjectedFailure("test"));
      // the fault happened (the handler threw), then the restart
      ConsumeHttpSupport.await("the failure", () -> logs.linesContaining("injected failure: test"), l -> !l.isEmpty());
      ConsumeHttpSupport.await(role + " restart logged", () -> logs.linesContaining(role + " restarted after a"
          + " failure"), l -> !l.isEmpty());
    }
    assertTrue(node.service().runtime().metrics().snapshot().failuresRecovered() > before, "restart counted");
  }

  private static void createWebhook(String name, String channel, WebhookReceiver hook) throws Exception {
    HttpResponse<String> created = HttpTestSupport.post(node.service(), "/v1/subscriptions", "{\"name\": \"" + name
        + "\", \"channel\": \"" + channel + "\", \"webhook\": {\"url\": \"" + hook.url() + "\", \"timeoutMs\": 2000}}");
    assertEquals(201, created.statusCode(), created.body());
  }

  private static void awaitPushed(WebhookReceiver hook, MessageChecker checker, List<String> ids) throws Exception {
    ConsumeHttpSupport.await("pushed " + ids, () -> ids.stream().filter(id -> hook.okFor(id) == 0).toList(),
        List::isEmpty);
    for (String id : ids) checker.delivered(id);
  }

  /** Pulls and acks until every one of {@code ids} came. */
  private static void pullAndAck(String sub, MessageChecker checker, List<String> ids) throws Exception {
    List<String> missing = new ArrayList<>(ids);
    long until = System.nanoTime() + ConsumeHttpSupport.WAIT.toNanos();
    while (!missing.isEmpty() && System.nanoTime() < until) {
      List<JsonNode> got = ConsumeHttpSupport.pull(node.service(), sub, 50, 1000);
      for (JsonNode d : got) {
        String id = ConsumeHttpSupport.messageId(d);
        checker.delivered(id);
        missing.remove(id);
      }
      ConsumeHttpSupport.ackAll(node.service(), sub, got);
    }
    assertEquals(List.of(), missing, "not pulled");
  }

  private static List<String> publishAll(String channel, String tag, MessageChecker... checkers) throws Exception {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      ids.add(tag + "-" + i);
      publish(channel, tag + "-" + i, checkers);
    }
    return ids;
  }

  @Test
  void aWebhookPusherThatFailsIsRestartedAndPushesWhatFollows() throws Exception {
    MessageChecker checker = new MessageChecker();
    try (WebhookReceiver hook = WebhookReceiver.start(4, c -> 200)) {
      createWebhook("sup-hook", "sup.hook", hook);
      awaitPushed(hook, checker, publishAll("sup.hook", "before", checker));

      failAndAwaitRestart(actorAt("/system/http-consumers/webhook-sup-hook-*"),
          "the webhook pusher of HTTP subscription 'sup-hook'");

      awaitPushed(hook, checker, publishAll("sup.hook", "after", checker));
      ConsumeHttpSupport.awaitNothingPending(node.service(), "sup-hook");
    }
    checker.logReport("HttpConsumerSupervisionIT webhook");
    assertEquals(0, checker.report().lost(), "lost");
  }

  @Test
  void aPullGatewayThatFailsIsRestartedAndServesWhatFollows() throws Exception {
    MessageChecker checker = new MessageChecker();
    ConsumeHttpSupport.createPull(node.service(), "sup-pull", "sup.pull");
    pullAndAck("sup-pull", checker, publishAll("sup.pull", "before", checker));

    failAndAwaitRestart(actorAt("/system/http-consumers/pull-sup-pull-*"),
        "the pull gateway of HTTP subscription 'sup-pull'");

    pullAndAck("sup-pull", checker, publishAll("sup.pull", "after", checker));
    ConsumeHttpSupport.awaitNothingPending(node.service(), "sup-pull");
    checker.logReport("HttpConsumerSupervisionIT pull");
    assertEquals(0, checker.report().lost(), "lost");
  }

  @Test
  void theConsumersActorThatFailsIsRestartedAndServesEverySubscriptionAgain() throws Exception {
    MessageChecker pushed = new MessageChecker();
    MessageChecker pulled = new MessageChecker();
    try (WebhookReceiver hook = WebhookReceiver.start(4, c -> 200)) {
      createWebhook("sup-all-hook", "sup.all", hook);
      ConsumeHttpSupport.createPull(node.service(), "sup-all-pull", "sup.all");
      List<String> before = publishAll("sup.all", "before", pushed, pulled);
      awaitPushed(hook, pushed, before);
      pullAndAck("sup-all-pull", pulled, before);

      failAndAwaitRestart(actorAt("/system/http-consumers"), "the HTTP consumers of this node");

      List<String> after = publishAll("sup.all", "after", pushed, pulled);
      awaitPushed(hook, pushed, after);
      pullAndAck("sup-all-pull", pulled, after);
      ConsumeHttpSupport.awaitNothingPending(node.service(), "sup-all-hook");
      ConsumeHttpSupport.awaitNothingPending(node.service(), "sup-all-pull");
    }
    pushed.logReport("HttpConsumerSupervisionIT consumers, webhook");
    pulled.logReport("HttpConsumerSupervisionIT consumers, pull");
    assertEquals(0, pushed.report().lost(), "lost (webhook)");
    assertEquals(0, pulled.report().lost(), "lost (pull)");
  }
}
