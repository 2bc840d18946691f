package dev.median.client.cli;

import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import dev.median.client.AddResult;
import dev.median.client.MedianClient;
import dev.median.client.MedianException;
import dev.median.client.MedianResult;
import dev.median.client.RunningResult;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * The median command-line client, a small program on the {@link MedianClient} library: reads
 * numbers from standard input, streams them into a session and prints the count and median.
 *
 * <pre>
 * run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]
 *     [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--retry-for SECONDS]
 * </pre>
 *
 * <p>Exit status: 0 on success; 1 for a gRPC error (a line {@code error: CODE: message} on standard
 * error, then one {@code detail: ...} line per {@code google.rpc} detail); 2 for a bad command
 * line, an input token that is not a number, or a TLS file that cannot be read (nothing is sent).
 */
public final class MedianClientCli {

  private static final int EXIT_RPC_ERROR = 1;
  private static final int EXIT_USAGE = 2;

  private static final PrintStream out = System.out;
  private static final PrintStream err = System.err;

  private MedianClientCli() {}

  public static void main(String[] args) {
    silenceLogging();
    int status = run(args);
    out.flush();
    System.exit(status);
  }

  private static int run(String[] args) {
    Options options;
    try {
      options = Options.parse(args, System.getenv(Options.TOKEN_VARIABLE));
    } catch (Options.HelpRequested help) {
      out.println(Options.USAGE);
      return 0;
    } catch (Options.UsageException e) {
      err.println("error: " + e.getMessage());
      err.println(Options.USAGE);
      return EXIT_USAGE;
    }

    double[] numbers;
    try {
      numbers = Numbers.parseAll(new String(System.in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (Numbers.BadTokenException e) {
      err.println("error: " + e.getMessage());
      return EXIT_USAGE;
    } catch (IOException e) {
      err.println("error: cannot read standard input: " + e.getMessage());
      return EXIT_USAGE;
    }

    MedianClient client;
    try {
      client = connect(options);
    } catch (UncheckedIOException | IllegalArgumentException e) {
      err.println("error: " + e.getMessage());
      return EXIT_USAGE;
    }
    try (client) {
      ingest(options, numbers, client);
      return 0;
    } catch (MedianException e) {
      printError(e);
      return EXIT_RPC_ERROR;
    } finally {
      out.flush();
    }
  }

  private static MedianClient connect(Options options) {
    MedianClient.Builder builder =
        MedianClient.forTarget(options.target()).retryFor(options.retryFor());
    if (options.tlsCa() != null) {
      builder.tlsCaFile(options.tlsCa());
    } else if (options.tls()) {
      builder.tlsSystemRoots();
    }
    if (options.tlsCert() != null) {
      builder.clientCertificate(options.tlsCert(), options.tlsKey());
    }
    if (options.token() != null) {
      builder.bearerToken(options.token());
    }
    return builder.build();
  }

  private static void ingest(Options options, double[] numbers, MedianClient client) {
    String sessionId = options.sessionId();
    if (sessionId == null) {
      sessionId = client.createSession();
      out.println("session=" + sessionId);
      out.flush();
    }

    if (options.running()) {
      try (MedianClient.RunningMedians answers =
          client.runningMedians(sessionId, numbers, options.batchSize())) {
        while (answers.hasNext()) {
          RunningResult answer = answers.next();
          out.println(
              answer.median().isPresent()
                  ? "count="
                      + answer.numberCount()
                      + " median="
                      + Numbers.format(answer.median().getAsDouble())
                  : "count=" + answer.numberCount());
        }
      }
    } else {
      AddResult added = client.addNumbers(sessionId, numbers, options.batchSize());
      if (added.numberCount() == 0) {
        out.println("count=0");
      } else {
        MedianResult median = client.getMedian(sessionId);
        out.println("count=" + median.numberCount() + " median=" + Numbers.format(median.median()));
      }
    }

    if (options.delete()) {
      client.deleteSession(sessionId);
    }
  }

  private static void printError(MedianException e) {
    out.flush();
    errorLines(e).forEach(err::println);
  }

  /**
   * The contract's error lines: {@code error: CODE: message}, then one line per google.rpc detail
   * ({@code detail: BadRequest <field>: <description>}, {@code detail: QuotaFailure <subject>:
   * <description>}, {@code detail: ErrorInfo <reason> <domain>}).
   */
  static List<String> errorLines(MedianException e) {
    List<String> lines = new ArrayList<>();
    lines.add("error: " + e.getCode().name() + ": " + oneLine(e.getDescription()));
    for (BadRequest.FieldViolation v : e.getFieldViolations()) {
      lines.add("detail: BadRequest " + v.getField() + ": " + oneLine(v.getDescription()));
    }
    for (QuotaFailure.Violation v : e.getQuotaViolations()) {
      lines.add("detail: QuotaFailure " + v.getSubject() + ": " + oneLine(v.getDescription()));
    }
    for (ErrorInfo info : e.getErrorInfos()) {
      lines.add("detail: ErrorInfo " + info.getReason() + " " + info.getDomain());
    }
    return lines;
  }

  private static String oneLine(String text) {
    return text == null ? "" : text.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
  }

  /** gRPC and Netty log through java.util.logging; the contract wants a quiet standard error. */
  private static void silenceLogging() {
    LogManager.getLogManager().reset();
    Logger.getLogger("").setLevel(Level.OFF);
  }
}
