package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.IOException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** Which failures the library resumes after: UNAVAILABLE and a proxy's stream reset, no refusal. */
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
  void aStreamResetByTheTransportIsRetried() {
    // As grpc-java's Netty transport reports an HTTP/2 RST_STREAM INTERNAL_ERROR (Envoy's reset
    // when the shard behind it dies mid-stream): no trailers came, so no status from the server.
    Status reset =
        Status.INTERNAL.withDescription(
            "RST_STREAM closed stream. HTTP/2 error code: INTERNAL_ERROR");
    assertTrue(ResumableStream.isRetryable(StreamResets.mark(reset, false)));
  }

  @Test
  void anInternalTheServerSentIsNotRetried() {
    Status server = Status.INTERNAL.withDescription("unexpected error in the shard");
    assertFalse(ResumableStream.isRetryable(StreamResets.mark(server, true)));
    assertFalse(ResumableStream.isRetryable(StreamResets.mark(server, false)));
    // Even in the transport's words: it came in trailers, so the server sent it.
    Status sameWords =
        Status.INTERNAL.withDescription(
            "RST_STREAM closed stream. HTTP/2 error code: INTERNAL_ERROR");
    assertFalse(ResumableStream.isRetryable(StreamResets.mark(sameWords, true)));
    // Another reset code is not the proxy's INTERNAL_ERROR.
    Status protocolError =
        Status.INTERNAL.withDescription(
            "RST_STREAM closed stream. HTTP/2 error code: PROTOCOL_ERROR");
    assertFalse(ResumableStream.isRetryable(StreamResets.mark(protocolError, false)));
  }

  @Test
  void aFailedTlsHandshakeIsNotRetried() {
    Status handshake =
        Status.UNAVAILABLE.withCause(
            new IOException("handshake", new SSLHandshakeException("untrusted certificate")));
    assertFalse(ResumableStream.isRetryable(handshake));
  }
}
