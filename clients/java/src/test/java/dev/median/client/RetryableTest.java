package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.IOException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** Which failures the library resumes after (contract: UNAVAILABLE only, never a refusal). */
class RetryableTest {

  @Test
  void unavailableIsRetriedWhateverBrokeTheConnection() {
    assertTrue(ResumableStream.isRetryable(Status.UNAVAILABLE));
    assertTrue(
        ResumableStream.isRetryable(
            Status.UNAVAILABLE
                .withDescription("io exception")
                .withCause(new IOException("reset"))));
  }

  @Test
  void refusalsAndTheDeadlineAreNotRetried() {
    for (Status.Code code :
        new Status.Code[] {
          Status.Code.INVALID_ARGUMENT,
          Status.Code.NOT_FOUND,
          Status.Code.RESOURCE_EXHAUSTED,
          Status.Code.UNAUTHENTICATED,
          Status.Code.PERMISSION_DENIED,
          Status.Code.FAILED_PRECONDITION,
          Status.Code.ALREADY_EXISTS,
          Status.Code.DEADLINE_EXCEEDED,
          Status.Code.INTERNAL,
          Status.Code.CANCELLED
        }) {
      assertFalse(ResumableStream.isRetryable(Status.fromCode(code)), code.name());
    }
  }

  @Test
  void aFailedTlsHandshakeIsNotRetried() {
    Status handshake =
        Status.UNAVAILABLE.withCause(
            new IOException("handshake", new SSLHandshakeException("untrusted certificate")));
    assertFalse(ResumableStream.isRetryable(handshake));
  }
}
