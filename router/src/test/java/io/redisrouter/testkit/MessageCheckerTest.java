package io.redisrouter.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MessageCheckerTest {

  @Test
  void emptyReport() {
    MessageChecker checker = new MessageChecker();
    MessageChecker.Report r = checker.report();
    assertEquals(0, r.attempted());
    assertEquals(0, r.lost());
    assertEquals("attempted=0 accepted=0 refused=0 | consumer: delivered=0 acked=0 dead-lettered=0 lost=0"
        + " duplicated=0 unexpected=0 order-violations=0", r.toString());
  }

  @Test
  void countsLostDuplicatedUnexpectedAndDeadLettered() {
    MessageChecker checker = new MessageChecker();
    for (String id : new String[]{"a", "b", "c", "d", "e"}) {
      checker.attempted(id);
    }
    checker.accepted("a");
    checker.accepted("b");
    checker.accepted("c");
    checker.accepted("d");
    // e: attempted, refused, never accepted -> not lost (the publisher was told it was not taken)
    checker.refused("e", "unavailable");

    checker.delivered("a");
    checker.delivered("a");
    checker.delivered("a"); // 2 duplicates
    checker.delivered("b");
    checker.deadLettered("c", "expired"); // accounted for
    // d: accepted, neither delivered nor dead-lettered -> lost
    checker.delivered("x"); // never attempted -> unexpected
    checker.delivered("x"); // and a duplicate of it

    MessageChecker.Report r = checker.report();
    assertEquals(5, r.attempted());
    assertEquals(4, r.accepted());
    assertEquals(1, r.refused());
    assertEquals(Map.of("unavailable", 1L), r.refusedByReason());
    assertEquals(3, r.delivered());
    assertEquals(1, r.lost());
    assertEquals(3, r.duplicated());
    assertEquals(1, r.unexpected());
    assertEquals(1, r.deadLettered());
    assertEquals(Set.of("d"), checker.lostIds());
    assertEquals(Set.of("a", "x"), checker.duplicatedIds());
    assertEquals(Set.of("x"), checker.unexpectedIds());
    assertEquals(3, checker.deliveryCount("a"));
    assertEquals(0, checker.deliveryCount("d"));
    assertEquals("attempted=5 accepted=4 refused=1{unavailable=1} | consumer: delivered=3 acked=0"
        + " dead-lettered=1{expired=1} lost=1 duplicated=3 unexpected=1 order-violations=0", r.toString());
    AssertionError failed = assertThrows(AssertionError.class, () -> checker.assertPasses("t", 10));
    assertTrue(failed.getMessage().contains("consumer lost 1 (first: [d])"), failed.getMessage());
    assertTrue(failed.getMessage().contains("consumer got 1 never sent"), failed.getMessage());
  }

  @Test
  void aRefusalFollowedByAnAcceptedRetryIsNotRefusedButItsRefusalIsCounted() {
    MessageChecker checker = new MessageChecker();
    checker.attempted("m");
    checker.refused("m", "overloaded");
    checker.refused("m", "unavailable");
    checker.accepted("m");
    checker.refused("late", "redis-full");
    MessageChecker.Report r = checker.report();
    assertEquals(1, r.refused(), "only 'late' ended refused");
    assertEquals(Map.of("overloaded", 1L, "unavailable", 1L, "redis-full", 1L), r.refusedByReason());
  }

  @Test
  void eachConsumerMustSeeEveryAcceptedMessage() {
    MessageChecker checker = new MessageChecker();
    MessageChecker.Consumer pull = checker.consumer("pull");
    MessageChecker.Consumer hook = checker.consumer("webhook");
    for (int i = 0; i < 3; i++) {
      String id = MessageChecker.id("p", i);
      checker.attempted(id);
      checker.accepted(id);
      pull.delivered(id);
      pull.acked(id);
    }
    hook.delivered(MessageChecker.id("p", 0));
    hook.delivered(MessageChecker.id("p", 0));
    hook.deadLettered(MessageChecker.id("p", 1), "rejected");
    MessageChecker.Report r = checker.report();
    assertEquals(0, r.consumer("pull").lost());
    assertEquals(3, r.consumer("pull").acked());
    assertEquals(1, r.consumer("webhook").lost(), "p-000002 never reached the webhook");
    assertEquals(Set.of("p-000002"), checker.lostIds());
    assertEquals(1, r.consumer("webhook").duplicated());
    assertEquals(Map.of("rejected", 1L), r.consumer("webhook").deadLetteredByReason());
    AssertionError failed = assertThrows(AssertionError.class, () -> checker.assertPasses("t", 5));
    assertTrue(failed.getMessage().contains("webhook lost 1"), failed.getMessage());
    assertTrue(!failed.getMessage().contains("pull lost"), failed.getMessage());
  }

  @Test
  void firstDeliveriesOutOfTheirKeysOrderAreViolationsRedeliveriesAreNot() {
    MessageChecker checker = new MessageChecker();
    for (int seq = 1; seq <= 4; seq++) {
      checker.attempted("k1-" + seq, "k1", seq);
      checker.accepted("k1-" + seq);
      checker.attempted("k2-" + seq, "k2", seq);
      checker.accepted("k2-" + seq);
    }
    MessageChecker.Consumer c = checker.consumer("ordered");
    // k1 in order, with a redelivery of 2 after 3 (a retry: not a first delivery, not a violation)
    c.delivered("k1-1");
    c.delivered("k1-2");
    c.delivered("k1-3");
    c.delivered("k1-2");
    c.delivered("k1-4");
    // k2: 2 before 1, and 4 before 3 -> two violations; interleaving with k1 is fine
    c.delivered("k2-2");
    c.delivered("k2-1");
    c.delivered("k2-4");
    c.delivered("k2-3");
    MessageChecker.Report r = checker.report();
    assertEquals(2, r.orderViolations());
    assertEquals(0, r.lost());
    AssertionError failed = assertThrows(AssertionError.class, () -> checker.assertPasses("t", 10));
    assertTrue(failed.getMessage().contains("ordered had 2 order violations"), failed.getMessage());
  }

  @Test
  void assertPassesBoundsTheDuplicates() {
    MessageChecker checker = new MessageChecker();
    checker.attempted("a");
    checker.accepted("a");
    checker.delivered("a");
    checker.delivered("a");
    checker.delivered("a");
    assertEquals(2, checker.assertPasses("t", 2).duplicated());
    AssertionError failed = assertThrows(AssertionError.class, () -> checker.assertPasses("t", 1));
    assertTrue(failed.getMessage().contains("2 duplicates, more than 1"), failed.getMessage());
  }

  @Test
  void deliveredButNotAcceptedIsFine() {
    MessageChecker checker = new MessageChecker();
    checker.attempted("m"); // e.g. the reply was lost in a crash, but the message made it
    checker.delivered("m");
    MessageChecker.Report r = checker.report();
    assertEquals(0, r.lost());
    assertEquals(0, r.unexpected());
    assertEquals(1, r.delivered());
  }

  @Test
  void threadSafe() throws InterruptedException {
    MessageChecker checker = new MessageChecker();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    int perThread = 2_000;
    for (int t = 0; t < 8; t++) {
      int thread = t;
      pool.execute(() -> {
        for (int i = 0; i < perThread; i++) {
          String id = thread + "-" + i;
          checker.attempted(id);
          checker.accepted(id);
          checker.delivered(id);
          checker.delivered(thread % 2 + "-" + i); // concurrent duplicates across threads
        }
      });
    }
    pool.shutdown();
    assertEquals(true, pool.awaitTermination(30, TimeUnit.SECONDS));
    MessageChecker.Report r = checker.report();
    assertEquals(8 * perThread, r.attempted());
    assertEquals(8 * perThread, r.accepted());
    assertEquals(8 * perThread, r.delivered());
    assertEquals(0, r.lost());
    assertEquals(8 * perThread, r.duplicated());
    assertEquals(0, r.unexpected());
  }
}
