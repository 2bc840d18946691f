package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BackoffTest {

  private static final long MS = 1_000_000;

  @Test
  void waitsGrowFromAbout100MsToAtMost2SWithJitter() {
    Backoff backoff = new Backoff();
    long ceiling = 100 * MS;
    for (int attempt = 0; attempt < 12; attempt++) {
      long wait = backoff.nextNanos();
      assertTrue(wait >= ceiling / 2 && wait <= ceiling, "attempt " + attempt + ": " + wait);
      ceiling = Math.min(2000 * MS, ceiling * 2);
    }
  }

  @Test
  void resetStartsOverAtTheShortestWait() {
    Backoff backoff = new Backoff();
    for (int i = 0; i < 8; i++) {
      backoff.nextNanos();
    }
    backoff.reset();
    assertTrue(backoff.nextNanos() <= 100 * MS);
  }
}
