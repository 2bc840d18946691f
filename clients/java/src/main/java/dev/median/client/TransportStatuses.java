package dev.median.client;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientStreamTracer;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Corrects two statuses that grpc-java's transport makes up, not the server, so that {@link
 * ResumableStream#isRetryable} resumes after them and callers see what happened. A server's own
 * status always arrives in trailers; a {@link ClientStreamTracer} sees whether trailers arrived,
 * and only a status that came without them is touched:
 *
 * <ul>
 *   <li>A stream the peer reset with HTTP/2 {@code RST_STREAM INTERNAL_ERROR} (RFC 9113, section
 *       6.4): a proxy such as Envoy resets a client's stream that way when the shard behind it dies
 *       after answers have started. grpc-java's Netty transport reports it as {@code INTERNAL} with
 *       the description {@value #NETTY_RST_STREAM_INTERNAL}; it gets a {@link Reset} cause, which
 *       tells it from an {@code INTERNAL} the server sent.
 *   <li>A connection that closed under the call (a server killed, a connection reset): grpc-java
 *       sometimes reports it as {@code UNKNOWN: channel closed} with a {@link
 *       ClosedChannelException} cause, instead of {@code UNAVAILABLE} (grpc/grpc-java#10120, open
 *       at 1.83.1); it becomes {@code UNAVAILABLE}, with the same cause.
 * </ul>
 *
 * Written here because grpc-java keeps no public mark of where a status came from.
 */
final class TransportStatuses implements ClientInterceptor {

  /**
   * What {@code NettyClientHandler.onRstStreamRead} (grpc-netty 1.83.1) says for error code
   * INTERNAL_ERROR (0x2).
   */
  static final String NETTY_RST_STREAM_INTERNAL =
      "RST_STREAM closed stream. HTTP/2 error code: INTERNAL_ERROR";

  /** The cause on a status that a stream reset made, not the server. */
  static final class Reset extends Exception {
    private static final long serialVersionUID = 1L;

    Reset() {
      super("the stream was reset (HTTP/2 RST_STREAM INTERNAL_ERROR) before the server's status");
    }
  }

  /**
   * When no trailers (so no status from the server) arrived: the transport's RST_STREAM
   * INTERNAL_ERROR with a {@link Reset} cause, and its {@code UNKNOWN} for a closed connection as
   * {@code UNAVAILABLE}; otherwise {@code status} unchanged.
   */
  static Status correct(Status status, boolean trailersReceived) {
    if (trailersReceived) {
      return status;
    }
    if (status.getCode() == Status.Code.INTERNAL
        && NETTY_RST_STREAM_INTERNAL.equals(status.getDescription())
        && status.getCause() == null) {
      return status.withCause(new Reset());
    }
    if (status.getCode() == Status.Code.UNKNOWN && causedBy(status, ClosedChannelException.class)) {
      return Status.UNAVAILABLE
          .withDescription(
              "the connection closed under the call (the transport said: "
                  + status.getDescription()
                  + ")")
          .withCause(status.getCause());
    }
    return status;
  }

  /** True when the cause of {@code status}, or any cause down its chain, is a {@code type}. */
  static boolean causedBy(Status status, Class<? extends Throwable> type) {
    for (Throwable cause = status.getCause(); cause != null; cause = cause.getCause()) {
      if (type.isInstance(cause)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public <Q, R> ClientCall<Q, R> interceptCall(
      MethodDescriptor<Q, R> method, CallOptions callOptions, Channel next) {
    AtomicBoolean trailersReceived = new AtomicBoolean();
    ClientStreamTracer.Factory tracers =
        new ClientStreamTracer.Factory() {
          @Override
          public ClientStreamTracer newClientStreamTracer(
              ClientStreamTracer.StreamInfo info, Metadata headers) {
            return new ClientStreamTracer() {
              @Override
              public void inboundTrailers(Metadata trailers) {
                trailersReceived.set(true);
              }
            };
          }
        };
    ClientCall<Q, R> call = next.newCall(method, callOptions.withStreamTracerFactory(tracers));
    return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
      @Override
      public void start(Listener<R> listener, Metadata headers) {
        super.start(
            new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
              @Override
              public void onClose(Status status, Metadata trailers) {
                super.onClose(correct(status, trailersReceived.get()), trailers);
              }
            },
            headers);
      }
    };
  }
}
