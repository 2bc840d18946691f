package dev.median.client.cli;

import java.util.regex.Pattern;

/** Reading numbers from text and writing them back, exactly, as the shared contract says. */
final class Numbers {

  /** A decimal number; validated before Double.parseDouble, which also takes "1d", "0x1p3", ... */
  private static final Pattern DECIMAL =
      Pattern.compile("[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?");

  /** Any run of Unicode white space separates tokens. */
  private static final Pattern WHITESPACE =
      Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);

  /** A token that is not a number; the message names it. */
  static final class BadTokenException extends Exception {
    BadTokenException(String token) {
      super('"' + token + "\" is not a number");
    }
  }

  private Numbers() {}

  /**
   * Every token of {@code text} as the correctly rounded double, in order. NaN, Infinity and
   * -Infinity are kept so that the server's validation sees them.
   */
  static double[] parseAll(String text) throws BadTokenException {
    // Text that starts with white space splits into an empty first token; skip it.
    String[] tokens = WHITESPACE.split(text);
    int first = tokens.length > 0 && tokens[0].isEmpty() ? 1 : 0;
    double[] numbers = new double[tokens.length - first];
    for (int i = first; i < tokens.length; i++) {
      numbers[i - first] = parse(tokens[i]);
    }
    return numbers;
  }

  static double parse(String token) throws BadTokenException {
    return switch (token) {
      case "NaN" -> Double.NaN;
      case "Infinity" -> Double.POSITIVE_INFINITY;
      case "-Infinity" -> Double.NEGATIVE_INFINITY;
      default -> {
        if (!DECIMAL.matcher(token).matches()) {
          throw new BadTokenException(token);
        }
        yield Double.parseDouble(token);
      }
    };
  }

  /**
   * The shortest decimal that reads back as the same double, "-0.0" included. Java writes "2.0" and
   * "1.0E-7", which every float parser reads back to the same bits.
   */
  static String format(double value) {
    return Double.toString(value);
  }
}
