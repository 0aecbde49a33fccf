package io.redisrouter.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MessageCheckerTest {

  @Test
  void emptyReport() {
    MessageChecker checker = new MessageChecker();
    assertEquals(new MessageChecker.Report(0, 0, 0, 0, 0, 0, 0), checker.report());
    assertEquals("sent=0 acked=0 delivered=0 lost=0 duplicated=0 unexpected=0 deadLettered=0",
        checker.report().toString());
  }

  @Test
  void countsLostDuplicatedUnexpectedAndDeadLettered() {
    MessageChecker checker = new MessageChecker();
    for (String id : new String[]{"a", "b", "c", "d", "e"}) {
      checker.sent(id);
    }
    checker.acked("a");
    checker.acked("b");
    checker.acked("c");
    checker.acked("d");
    // e: sent, never acked, never delivered -> not lost (publisher was not told it was accepted)

    checker.delivered("a");
    checker.delivered("a");
    checker.delivered("a"); // 2 duplicates
    checker.delivered("b");
    checker.deadLettered("c"); // accounted for
    // d: acked, neither delivered nor dead-lettered -> lost
    checker.delivered("x"); // never sent -> unexpected
    checker.delivered("x"); // and a duplicate of it

    MessageChecker.Report r = checker.report();
    assertEquals(5, r.sent());
    assertEquals(4, r.acked());
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
    assertEquals("sent=5 acked=4 delivered=3 lost=1 duplicated=3 unexpected=1 deadLettered=1", r.toString());
    checker.logReport("countsLostDuplicatedUnexpectedAndDeadLettered");
  }

  @Test
  void deliveredButNotAckedIsFine() {
    MessageChecker checker = new MessageChecker();
    checker.sent("m"); // e.g. ack lost in a crash, but the message made it
    checker.delivered("m");
    assertEquals(new MessageChecker.Report(1, 0, 1, 0, 0, 0, 0), checker.report());
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
          checker.sent(id);
          checker.acked(id);
          checker.delivered(id);
          checker.delivered(thread % 2 + "-" + i); // concurrent duplicates across threads
        }
      });
    }
    pool.shutdown();
    assertEquals(true, pool.awaitTermination(30, TimeUnit.SECONDS));
    MessageChecker.Report r = checker.report();
    assertEquals(8 * perThread, r.sent());
    assertEquals(8 * perThread, r.acked());
    assertEquals(8 * perThread, r.delivered());
    assertEquals(0, r.lost());
    assertEquals(8 * perThread, r.duplicated());
    assertEquals(0, r.unexpected());
  }
}
