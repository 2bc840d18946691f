package dev.median.client;

import dev.median.v1.AddNumbersResponse;
import dev.median.v1.GetMedianResponse;
import dev.median.v1.RunningMedianResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * The median command-line client: reads numbers from standard input, streams them into a
 * session and prints the count and median.
 *
 * <pre>run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]</pre>
 *
 * <p>Exit status: 0 on success, 1 for a gRPC error (one line on standard error), 2 for a bad
 * command line or a token that is not a number (nothing is sent).
 */
public final class MedianClientCli {

  private static final int EXIT_RPC_ERROR = 1;
  private static final int EXIT_USAGE = 2;

  private static final PrintStream out = System.out;
  private static final PrintStream err = System.err;

  private MedianClientCli() {}

  public static void main(String[] args) throws InterruptedException {
    silenceLogging();

    Options options;
    try {
      options = Options.parse(args);
    } catch (Options.HelpRequested help) {
      out.println(Options.USAGE);
      return;
    } catch (Options.UsageException e) {
      err.println("error: " + e.getMessage());
      err.println(Options.USAGE);
      System.exit(EXIT_USAGE);
      return;
    }

    double[] numbers;
    try {
      numbers = Numbers.parseAll(new String(System.in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (Numbers.BadTokenException e) {
      err.println("error: " + e.getMessage());
      System.exit(EXIT_USAGE);
      return;
    } catch (IOException e) {
      err.println("error: cannot read standard input: " + e.getMessage());
      System.exit(EXIT_USAGE);
      return;
    }

    // Plaintext to the given address; the server listens on loopback without TLS.
    ManagedChannel channel =
        Grpc.newChannelBuilder(options.target(), InsecureChannelCredentials.create()).build();
    int exitCode = 0;
    try {
      run(options, numbers, channel);
    } catch (RuntimeException e) {
      Status status = Status.fromThrowable(e);
      err.println("error: " + status.getCode().name() + ": " + oneLine(status.getDescription()));
      exitCode = EXIT_RPC_ERROR;
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    out.flush();
    System.exit(exitCode);
  }

  private static void run(Options options, double[] numbers, ManagedChannel channel)
      throws InterruptedException {
    String sessionId = options.sessionId();
    boolean createSession = sessionId == null;
    if (createSession) {
      sessionId = newSessionId();
    }
    MedianClient client = new MedianClient(channel, sessionId);
    if (createSession) {
      client.createSession();
      out.println("session=" + sessionId);
      out.flush();
    }

    if (options.running()) {
      client.runningMedian(numbers, options.batchSize(), MedianClientCli::printRunning);
    } else {
      AddNumbersResponse added = client.addNumbers(numbers, options.batchSize());
      if (added.getNumberCount() == 0) {
        out.println("count=0");
      } else {
        GetMedianResponse median = client.getMedian();
        out.println(
            "count=" + median.getNumberCount() + " median=" + Numbers.format(median.getMedian()));
      }
    }

    if (options.delete()) {
      client.deleteSession();
    }
  }

  private static void printRunning(RunningMedianResponse response) {
    if (response.hasMedian()) {
      out.println(
          "count=" + response.getNumberCount() + " median=" + Numbers.format(response.getMedian()));
    } else {
      out.println("count=" + response.getNumberCount());
    }
  }

  /** 128 bits from a cryptographically secure source, URL-safe base64 without padding. */
  private static String newSessionId() {
    byte[] bytes = new byte[16];
    new SecureRandom().nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }

  private static String oneLine(String description) {
    return description == null ? "" : description.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
  }

  /** gRPC and Netty log through java.util.logging; the contract wants a quiet standard error. */
  private static void silenceLogging() {
    LogManager.getLogManager().reset();
    Logger.getLogger("").setLevel(Level.OFF);
  }
}
