package dev.median.client;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff with "equal jitter" between resume attempts: with c = min(2 s, 100 ms * 2^n),
 * the n-th wait is uniform in [c/2, c] ("Exponential Backoff And Jitter", AWS Architecture Blog,
 * 2015), so writers that lost one server do not all come back at once. Written here because
 * grpc-java's own policy is internal API, and its built-in retries cannot resend the unacknowledged
 * part of a stream.
 */
final class Backoff {

  static final Duration INITIAL = Duration.ofMillis(100);
  static final Duration MAX = Duration.ofSeconds(2);

  private int attempt;

  /** The next wait, in nanoseconds. */
  long nextNanos() {
    long ceiling = Math.min(MAX.toNanos(), INITIAL.toNanos() << Math.min(attempt, 20));
    attempt++;
    return ThreadLocalRandom.current().nextLong(ceiling / 2, ceiling + 1);
  }

  /** After progress, the next failure waits briefly again. */
  void reset() {
    attempt = 0;
  }
}
