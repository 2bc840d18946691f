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
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Marks the {@code INTERNAL} status that grpc-java's transport makes up when the peer resets a
 * stream with HTTP/2 {@code RST_STREAM INTERNAL_ERROR} (RFC 9113, section 6.4), so that {@link
 * ResumableStream#isRetryable} can tell it from an {@code INTERNAL} the server sent.
 *
 * <p>A proxy such as Envoy resets a client's stream that way when the shard behind it dies after
 * answers have started. grpc-java's Netty transport reports it as {@code INTERNAL} with the
 * description {@value #NETTY_RST_STREAM_INTERNAL} and no trailers; a server's own status always
 * arrives in trailers. A {@link ClientStreamTracer} sees whether trailers arrived, and a status
 * that came without them and has that description gets a {@link Reset} cause. Written here because
 * grpc-java keeps no public mark of where a status came from.
 */
final class StreamResets implements ClientInterceptor {

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
   * {@code status} with a {@link Reset} cause if it is the transport's RST_STREAM INTERNAL_ERROR
   * and no trailers (so no status from the server) arrived; otherwise {@code status} unchanged.
   */
  static Status mark(Status status, boolean trailersReceived) {
    if (!trailersReceived
        && status.getCode() == Status.Code.INTERNAL
        && NETTY_RST_STREAM_INTERNAL.equals(status.getDescription())
        && status.getCause() == null) {
      return status.withCause(new Reset());
    }
    return status;
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
                super.onClose(mark(status, trailersReceived.get()), trailers);
              }
            },
            headers);
      }
    };
  }
}
