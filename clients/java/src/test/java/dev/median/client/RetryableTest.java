package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/**
 * Which failures the library resumes after: UNAVAILABLE, a proxy's stream reset and the transport's
 * UNKNOWN for a closed connection; no refusal.
 */
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
    Status reset = Status.INTERNAL.withDescription(TransportStatuses.NETTY_RST_STREAM_INTERNAL);
    assertTrue(ResumableStream.isRetryable(TransportStatuses.correct(reset, false)));
  }

  @Test
  void anInternalTheServerSentIsNotRetried() {
    Status server = Status.INTERNAL.withDescription("unexpected error in the shard");
    assertFalse(ResumableStream.isRetryable(TransportStatuses.correct(server, true)));
    assertFalse(ResumableStream.isRetryable(TransportStatuses.correct(server, false)));
    // Even in the transport's words: it came in trailers, so the server sent it.
    Status sameWords = Status.INTERNAL.withDescription(TransportStatuses.NETTY_RST_STREAM_INTERNAL);
    assertFalse(ResumableStream.isRetryable(TransportStatuses.correct(sameWords, true)));
    // Another reset code is not the proxy's INTERNAL_ERROR.
    Status protocolError =
        Status.INTERNAL.withDescription(
            "RST_STREAM closed stream. HTTP/2 error code: PROTOCOL_ERROR");
    assertFalse(ResumableStream.isRetryable(TransportStatuses.correct(protocolError, false)));
  }

  @Test
  void theTransportsUnknownForAClosedConnectionIsUnavailableAndRetried() {
    // As grpc-java 1.83.1 sometimes reports a server killed under the call (grpc/grpc-java#10120).
    Status closed =
        Status.UNKNOWN
            .withDescription("channel closed")
            .withCause(new ClosedChannelException());
    Status corrected = TransportStatuses.correct(closed, false);
    assertEquals(Status.Code.UNAVAILABLE, corrected.getCode());
    assertInstanceOf(ClosedChannelException.class, corrected.getCause());
    assertTrue(ResumableStream.isRetryable(corrected));
  }

  @Test
  void anUnknownTheServerSentIsNotRetried() {
    Status server = Status.UNKNOWN.withDescription("channel closed");
    assertEquals(server, TransportStatuses.correct(server, false));
    assertFalse(ResumableStream.isRetryable(TransportStatuses.correct(server, false)));
    // With the cause but in trailers: the server sent it.
    Status inTrailers = server.withCause(new ClosedChannelException());
    assertEquals(Status.Code.UNKNOWN, TransportStatuses.correct(inTrailers, true).getCode());
  }

  @Test
  void aFailedTlsHandshakeIsNotRetried() {
    Status handshake =
        Status.UNAVAILABLE.withCause(
            new IOException("handshake", new SSLHandshakeException("untrusted certificate")));
    assertFalse(ResumableStream.isRetryable(handshake));
  }
}
