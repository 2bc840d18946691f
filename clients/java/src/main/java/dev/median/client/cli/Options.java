package dev.median.client.cli;

import dev.median.client.MedianClient;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Path;
import java.time.Duration;

/** The command line of the client, parsed; the same flags as every other language's client. */
record Options(
    String target,
    String sessionId,
    int batchSize,
    boolean running,
    boolean delete,
    String token,
    Path tlsCa,
    Path tlsCert,
    Path tlsKey,
    Duration retryFor) {

  static final int DEFAULT_BATCH_SIZE = MedianClient.DEFAULT_BATCH_SIZE;
  static final Duration DEFAULT_RETRY_FOR = MedianClient.DEFAULT_RETRY_FOR;
  static final String TOKEN_VARIABLE = "MEDIAN_TOKEN";

  static final String USAGE =
      "usage: run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]\n"
          + "           [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]\n"
          + "           [--retry-for SECONDS]\n"
          + "  --token defaults to the MEDIAN_TOKEN environment variable; --retry-for to 30\n"
          + "  (0 turns resuming off); any --tls-* flag makes the connection TLS.";

  /** A command line that cannot be run; the message says why. */
  static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  /** Thrown for --help: the caller prints the usage and exits 0. */
  static final class HelpRequested extends Exception {
    HelpRequested() {
      super(USAGE);
    }
  }

  /** True when any TLS flag was given: the connection is TLS. */
  boolean tls() {
    return tlsCa != null || tlsCert != null;
  }

  /**
   * Parses {@code args}; {@code environmentToken} is the value of {@code MEDIAN_TOKEN} (null when
   * unset), used when there is no {@code --token}.
   */
  static Options parse(String[] args, String environmentToken)
      throws UsageException, HelpRequested {
    String target = null;
    String sessionId = null;
    int batchSize = DEFAULT_BATCH_SIZE;
    boolean running = false;
    boolean delete = false;
    String token = null;
    Path tlsCa = null;
    Path tlsCert = null;
    Path tlsKey = null;
    Duration retryFor = DEFAULT_RETRY_FOR;
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      switch (flag) {
        case "--target" -> target = valueOf(args, ++i, flag);
        case "--session" -> sessionId = valueOf(args, ++i, flag);
        case "--batch" -> batchSize = positiveInt(valueOf(args, ++i, flag));
        case "--running" -> running = true;
        case "--delete" -> delete = true;
        case "--token" -> token = valueOf(args, ++i, flag);
        case "--tls-ca" -> tlsCa = Path.of(valueOf(args, ++i, flag));
        case "--tls-cert" -> tlsCert = Path.of(valueOf(args, ++i, flag));
        case "--tls-key" -> tlsKey = Path.of(valueOf(args, ++i, flag));
        case "--retry-for" -> retryFor = seconds(valueOf(args, ++i, flag));
        case "-h", "--help" -> throw new HelpRequested();
        default ->
            throw new UsageException(
                flag.startsWith("-") ? "unknown flag " + flag : "unexpected argument " + flag);
      }
    }
    if (target == null || target.isEmpty()) {
      throw new UsageException("--target HOST:PORT is required");
    }
    if ((tlsCert == null) != (tlsKey == null)) {
      throw new UsageException(
          "--tls-cert and --tls-key go together: the client certificate and its private key");
    }
    if (token == null && environmentToken != null && !environmentToken.isEmpty()) {
      token = environmentToken;
    }
    return new Options(
        target, sessionId, batchSize, running, delete, token, tlsCa, tlsCert, tlsKey, retryFor);
  }

  private static String valueOf(String[] args, int index, String flag) throws UsageException {
    if (index >= args.length) {
      throw new UsageException(flag + " needs a value");
    }
    return args[index];
  }

  /** A positive decimal integer; sizes beyond an int are as good as "everything in one batch". */
  private static int positiveInt(String text) throws UsageException {
    if (!text.matches("[0-9]+") || new BigInteger(text).signum() == 0) {
      throw new UsageException("--batch must be a positive integer, not \"" + text + "\"");
    }
    BigInteger value = new BigInteger(text);
    return value.bitLength() < 32 ? value.intValue() : Integer.MAX_VALUE;
  }

  /** Seconds, zero or more, decimals allowed ("0.5"), at most a day. */
  private static Duration seconds(String text) throws UsageException {
    if (!text.matches("[0-9]+(\\.[0-9]+)?")
        || new BigDecimal(text).compareTo(BigDecimal.valueOf(86_400)) > 0) {
      throw new UsageException(
          "--retry-for must be a number of seconds from 0 to 86400, not \"" + text + "\"");
    }
    return Duration.ofNanos(new BigDecimal(text).movePointRight(9).longValue());
  }
}
