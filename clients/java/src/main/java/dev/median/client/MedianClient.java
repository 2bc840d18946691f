package dev.median.client;

import dev.median.v1.AddNumbersRequest;
import dev.median.v1.AddNumbersResponse;
import dev.median.v1.CreateSessionRequest;
import dev.median.v1.DeleteSessionRequest;
import dev.median.v1.GetMedianRequest;
import dev.median.v1.GetMedianResponse;
import dev.median.v1.MedianServiceGrpc;
import dev.median.v1.RunningMedianRequest;
import dev.median.v1.RunningMedianResponse;
import io.grpc.Channel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/**
 * The calls of median.v1.MedianService for one session. Every call carries the
 * {@code median-session-id} header, so that a proxy can route all of a session's calls alike.
 */
final class MedianClient {

  static final Metadata.Key<String> SESSION_ID_HEADER =
      Metadata.Key.of("median-session-id", Metadata.ASCII_STRING_MARSHALLER);

  private static final long UNARY_DEADLINE_SECONDS = 10;
  private static final long STREAM_DEADLINE_SECONDS = 600;

  private final String sessionId;
  private final MedianServiceGrpc.MedianServiceBlockingStub blockingStub;
  private final MedianServiceGrpc.MedianServiceStub asyncStub;

  /** Calls go over {@code channel}, which the caller owns and shuts down. */
  MedianClient(Channel channel, String sessionId) {
    this.sessionId = sessionId;
    Metadata headers = new Metadata();
    headers.put(SESSION_ID_HEADER, sessionId);
    blockingStub =
        MedianServiceGrpc.newBlockingStub(channel)
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    asyncStub =
        MedianServiceGrpc.newStub(channel)
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  void createSession() {
    blockingStub
        .withDeadlineAfter(UNARY_DEADLINE_SECONDS, TimeUnit.SECONDS)
        .createSession(CreateSessionRequest.newBuilder().setSessionId(sessionId).build());
  }

  GetMedianResponse getMedian() {
    return blockingStub
        .withDeadlineAfter(UNARY_DEADLINE_SECONDS, TimeUnit.SECONDS)
        .getMedian(GetMedianRequest.newBuilder().setSessionId(sessionId).build());
  }

  void deleteSession() {
    blockingStub
        .withDeadlineAfter(UNARY_DEADLINE_SECONDS, TimeUnit.SECONDS)
        .deleteSession(DeleteSessionRequest.newBuilder().setSessionId(sessionId).build());
  }

  /**
   * Streams {@code numbers} in requests of at most {@code batchSize} (one empty request when
   * there are none), half-closes, and answers the server's one summary.
   */
  AddNumbersResponse addNumbers(double[] numbers, int batchSize) throws InterruptedException {
    AtomicReference<AddNumbersResponse> summary = new AtomicReference<>();
    stream(
        MedianServiceGrpc.MedianServiceStub::addNumbers,
        (start, end) -> {
          AddNumbersRequest.Builder request =
              AddNumbersRequest.newBuilder().setSessionId(sessionId);
          for (int i = start; i < end; i++) {
            request.addNumbers(numbers[i]);
          }
          return request.build();
        },
        numbers.length,
        batchSize,
        summary::set);
    if (summary.get() == null) {
      throw Status.INTERNAL
          .withDescription("the server ended AddNumbers without an answer")
          .asRuntimeException();
    }
    return summary.get();
  }

  /**
   * Streams {@code numbers} like {@link #addNumbers} on one RunningMedian call and hands every
   * answer, in order and as it arrives, to {@code onResponse}.
   */
  void runningMedian(double[] numbers, int batchSize, Consumer<RunningMedianResponse> onResponse)
      throws InterruptedException {
    stream(
        MedianServiceGrpc.MedianServiceStub::runningMedian,
        (start, end) -> {
          RunningMedianRequest.Builder request =
              RunningMedianRequest.newBuilder().setSessionId(sessionId);
          for (int i = start; i < end; i++) {
            request.addNumbers(numbers[i]);
          }
          return request.build();
        },
        numbers.length,
        batchSize,
        onResponse);
  }

  /** The request that carries the numbers at indexes {@code start} (inclusive) to {@code end}. */
  @FunctionalInterface
  private interface Batch<Q> {
    Q of(int start, int end);
  }

  /**
   * One client-streaming call, shared by AddNumbers and RunningMedian: opens it with {@code call}
   * under the stream deadline, sends the requests of {@code batch} for {@code count} numbers, at
   * most {@code batchSize} each (one empty request when there are none), half-closes, hands every
   * answer to {@code onResponse}, and waits for the end; a failed call is thrown.
   */
  private <Q, R> void stream(
      BiFunction<MedianServiceGrpc.MedianServiceStub, StreamObserver<R>, StreamObserver<Q>> call,
      Batch<Q> batch,
      int count,
      int batchSize,
      Consumer<R> onResponse)
      throws InterruptedException {
    CountDownLatch finishLatch = new CountDownLatch(1);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    StreamObserver<R> responseObserver =
        new StreamObserver<>() {
          @Override
          public void onNext(R response) {
            onResponse.accept(response);
          }

          @Override
          public void onError(Throwable t) {
            failure.set(t);
            finishLatch.countDown();
          }

          @Override
          public void onCompleted() {
            finishLatch.countDown();
          }
        };

    StreamObserver<Q> requestObserver =
        call.apply(
            asyncStub.withDeadlineAfter(STREAM_DEADLINE_SECONDS, TimeUnit.SECONDS),
            responseObserver);
    try {
      int start = 0;
      do {
        int end = Math.min(count, start + batchSize);
        requestObserver.onNext(batch.of(start, end));
        if (finishLatch.getCount() == 0) {
          // The server ended the call before we finished sending; the error says why.
          break;
        }
        start = end;
      } while (start < count);
    } catch (RuntimeException e) {
      requestObserver.onError(e);
      throw e;
    }
    requestObserver.onCompleted();

    finishLatch.await();
    throwIfFailed(failure.get());
  }

  private static void throwIfFailed(Throwable failure) {
    if (failure != null) {
      throw Status.fromThrowable(failure).asRuntimeException(Status.trailersFromThrowable(failure));
    }
  }
}
