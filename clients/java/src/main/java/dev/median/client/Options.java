package dev.median.client;

import java.math.BigInteger;

/** The command line of the client, parsed; the same flags as every other language's client. */
record Options(String target, String sessionId, int batchSize, boolean running, boolean delete) {

  static final int DEFAULT_BATCH_SIZE = 1000;

  static final String USAGE =
      "usage: run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]";

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

  static Options parse(String[] args) throws UsageException, HelpRequested {
    String target = null;
    String sessionId = null;
    int batchSize = DEFAULT_BATCH_SIZE;
    boolean running = false;
    boolean delete = false;
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      switch (flag) {
        case "--target" -> target = valueOf(args, ++i, flag);
        case "--session" -> sessionId = valueOf(args, ++i, flag);
        case "--batch" -> batchSize = positiveInt(valueOf(args, ++i, flag));
        case "--running" -> running = true;
        case "--delete" -> delete = true;
        case "-h", "--help" -> throw new HelpRequested();
        default -> throw new UsageException(
            flag.startsWith("-") ? "unknown flag " + flag : "unexpected argument " + flag);
      }
    }
    if (target == null || target.isEmpty()) {
      throw new UsageException("--target HOST:PORT is required");
    }
    return new Options(target, sessionId, batchSize, running, delete);
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
}
