package dev.median.consumer;

import dev.median.client.MedianClient;
import dev.median.client.MedianException;
import dev.median.client.MedianResult;
import io.grpc.Status;

/**
 * One create-add-get-delete against the plaintext server at {@code args[0]} (HOST:PORT), then a
 * read of the deleted session, which must fail with NOT_FOUND. Prints {@code count=4 median=2.5}
 * and {@code deleted: NOT_FOUND}; exits 1 with the error on stderr otherwise.
 */
public final class Main {

  private Main() {}

  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: run HOST:PORT");
      System.exit(2);
    }
    try (MedianClient client = MedianClient.forTarget(args[0]).build()) {
      String session = client.createSession();
      client.addNumbers(session, new double[] {3, 1, 2, 10});
      MedianResult median = client.getMedian(session);
      System.out.println("count=" + median.numberCount() + " median=" + median.median());
      client.deleteSession(session);
      try {
        client.getMedian(session);
        System.err.println("error: the deleted session still answers");
        System.exit(1);
      } catch (MedianException e) {
        if (e.getCode() != Status.Code.NOT_FOUND) {
          throw e;
        }
        System.out.println("deleted: " + e.getCode());
      }
    } catch (MedianException e) {
      System.err.println("error: " + e.getMessage());
      System.exit(1);
    }
  }
}
