package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.PrimitiveIterator;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exactly-once ingest across a server that is SIGKILLed mid-stream and restarted on its --data-dir
 * and port: nothing acknowledged is lost, nothing is counted twice.
 */
class ResumeTest {

  @TempDir Path directory;
  private TestServer server;
  private CompletableFuture<TestServer> restarted = CompletableFuture.completedFuture(null);

  @BeforeEach
  void startServer() throws Exception {
    server =
        TestServer.start("--data-dir", Files.createDirectory(directory.resolve("data")).toString());
  }

  @AfterEach
  void stopServer() throws Exception {
    TestServer last = restarted.get(120, TimeUnit.SECONDS);
    (last != null ? last : server).close();
  }

  /** SIGKILLs the server now and starts it again on its folder and port in the background. */
  private void crashAndRestart() {
    try {
      TestServer current = restarted.get(120, TimeUnit.SECONDS);
      (current != null ? current : server).kill();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    restarted =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                Thread.sleep(300); // the client sees the server down for a moment
                return server.restart();
              } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
  }

  /** Random doubles, one of which the server is crashed before each of {@code crashAt}. */
  private final class CrashingNumbers implements PrimitiveIterator.OfDouble {
    private final double[] numbers;
    private final int[] crashAt;
    private int next;

    CrashingNumbers(double[] numbers, int... crashAt) {
      this.numbers = numbers;
      this.crashAt = crashAt;
    }

    @Override
    public boolean hasNext() {
      return next < numbers.length;
    }

    @Override
    public double nextDouble() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      if (Arrays.stream(crashAt).anyMatch(index -> index == next)) {
        crashAndRestart();
      }
      return numbers[next++];
    }
  }

  private static double[] randomNumbers(int count, long seed) {
    return new SplittableRandom(seed).doubles(count, -1e6, 1e6).toArray();
  }

  /** The median by sorting: the middle one, or the mean of the two middle ones. */
  private static double median(double[] numbers) {
    double[] sorted = numbers.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  private MedianClient client() {
    return MedianClient.forTarget(server.target()).build();
  }

  @Test
  void addNumbersSurvivesTwoCrashesExactlyOnce() {
    // 1,200 requests of 50: more than one AddNumbers stream, and a crash in each of the first two.
    double[] numbers = randomNumbers(60_000, 1);
    try (MedianClient client = client()) {
      String session = client.createSession();
      AddResult added =
          client.addNumbers(session, new CrashingNumbers(numbers, 30_000, 55_000), 50);
      assertEquals(60_000, added.addedCount());
      assertEquals(60_000, added.numberCount());
      assertEquals(median(numbers), added.median().getAsDouble());
      assertEquals(new MedianResult(session, 60_000, median(numbers)), client.getMedian(session));
    }
  }

  @Test
  void runningMediansSurviveTwoCrashesWithOneAnswerPerRequest() {
    double[] numbers = randomNumbers(20_000, 2);
    List<RunningResult> answers = new ArrayList<>();
    try (MedianClient client = client()) {
      String session = client.createSession();
      try (MedianClient.RunningMedians running =
          client.runningMedians(session, new CrashingNumbers(numbers, 5_000, 14_000), 100)) {
        running.forEachRemaining(answers::add);
      }
      assertEquals(200, answers.size(), "one answer per request");
      String writer = answers.get(0).requestId().split(":")[0];
      for (int i = 0; i < answers.size(); i++) {
        assertEquals(writer + ":" + (i + 1), answers.get(i).requestId(), "in order, once each");
        if (i > 0) {
          assertTrue(answers.get(i).numberCount() >= answers.get(i - 1).numberCount());
        }
      }
      RunningResult last = answers.get(answers.size() - 1);
      assertEquals(20_000, last.numberCount());
      assertEquals(median(numbers), last.median().getAsDouble());
      assertEquals(new MedianResult(session, 20_000, median(numbers)), client.getMedian(session));
    }
  }

  @Test
  void withRetryForZeroABrokenStreamFailsWithUnavailable() {
    double[] numbers = randomNumbers(5_000, 3);
    try (MedianClient client =
        MedianClient.forTarget(server.target()).retryFor(Duration.ZERO).build()) {
      String session = client.createSession();
      MedianException broken =
          assertThrows(
              MedianException.class,
              () -> client.addNumbers(session, new CrashingNumbers(numbers, 2_000), 100));
      assertEquals(Status.Code.UNAVAILABLE, broken.getCode());
    }
  }

  @Test
  void whenRetryForRunsOutTheLastUnavailableIsThrown() throws Exception {
    try (MedianClient client =
        MedianClient.forTarget(server.target()).retryFor(Duration.ofSeconds(1)).build()) {
      String session = client.createSession();
      server.kill();
      MedianException gaveUp =
          assertThrows(
              MedianException.class, () -> client.addNumbers(session, new double[] {1, 2, 3}));
      assertEquals(Status.Code.UNAVAILABLE, gaveUp.getCode());
      assertTrue(gaveUp.getDescription().contains("gave up resuming"), gaveUp.getDescription());
    }
    restarted = CompletableFuture.completedFuture(server.restart());
  }

  @Test
  void whenTheDeadlineRunsOutWhileResumingItIsDeadlineExceeded() throws Exception {
    try (MedianClient client =
        MedianClient.forTarget(server.target())
            .streamDeadline(Duration.ofSeconds(2))
            .retryFor(Duration.ofMinutes(5))
            .build()) {
      String session = client.createSession();
      server.kill();
      MedianException late =
          assertThrows(
              MedianException.class, () -> client.addNumbers(session, new double[] {1, 2, 3}));
      assertEquals(Status.Code.DEADLINE_EXCEEDED, late.getCode());
    }
    restarted = CompletableFuture.completedFuture(server.restart());
  }

  @Test
  void unaryCallsWaitForTheRestartedServer() {
    try (MedianClient client = client()) {
      String session = client.createSession();
      client.addNumbers(session, new double[] {5, 1, 3});
      crashAndRestart();
      assertEquals(new MedianResult(session, 3, 3.0), client.getMedian(session));
      crashAndRestart();
      String another = client.createSession();
      crashAndRestart();
      client.deleteSession(another);
      MedianException gone = assertThrows(MedianException.class, () -> client.getMedian(another));
      assertEquals(Status.Code.NOT_FOUND, gone.getCode());
    }
  }

  @Test
  void aRefusalIsNotRetried() {
    try (MedianClient client = client()) {
      String session = client.createSession();
      MedianException refused =
          assertThrows(
              MedianException.class,
              () -> client.addNumbers(session, new double[] {1, 2, Double.NaN, 4}, 2));
      assertEquals(Status.Code.INVALID_ARGUMENT, refused.getCode());
      assertEquals(new MedianResult(session, 2, 1.5), client.getMedian(session));
    }
  }
}
