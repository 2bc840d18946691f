package dev.median.client;

import dev.median.v1.MedianServiceGrpc;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import javax.net.ssl.SSLException;

/**
 * One ingest call (AddNumbers or RunningMedian) that survives broken streams, exactly once.
 *
 * <p>The call is one <em>writer</em>: a fresh id of 128 random bits, and request ids {@code
 * <writer>:<seq>} with {@code seq} from 1, +1 per request in the order sent. Requests are kept
 * until acknowledged: a RunningMedian answer acknowledges its request (answers come in order); an
 * AddNumbers stream acknowledges all of its requests with its one final answer, so the call
 * half-closes a stream after {@link #MAX_UNACKNOWLEDGED} requests and opens the next one, which
 * bounds memory. After a retryable failure ({@code UNAVAILABLE}, which is what grpc-java reports
 * for a reset connection or a server that went away, or a proxy's RST_STREAM INTERNAL_ERROR) the
 * call waits ({@link Backoff}), opens a new stream of the same kind for the same session, and
 * resends every unacknowledged request, in order, with the same ids; the server answers a request
 * it had already applied without applying it again. Anything else, a refusal above all, ends the
 * call with that error.
 *
 * <p>Resuming stops {@code retryFor} after the first failure since the call last made progress (an
 * answer, or a new request sent), and never goes past the call's deadline. Then the last error is
 * thrown: {@code UNAVAILABLE}, or {@code DEADLINE_EXCEEDED} from gRPC.
 *
 * <p>Every gRPC callback only queues an event; the calling thread does all the work, so the state
 * below needs no locks. Sends wait for the stream to be ready (gRPC flow control).
 */
final class ResumableStream<Q, R> implements AutoCloseable {

  /** Requests held for resending, at most: a stream's worth for AddNumbers, in flight for both. */
  static final int MAX_UNACKNOWLEDGED = 1000;

  /**
   * How to open one kind of stream and make its requests.
   *
   * @param answersEachRequest true for RunningMedian (one answer per request), false for AddNumbers
   *     (one per stream)
   */
  record Kind<Q, R>(
      BiFunction<MedianServiceGrpc.MedianServiceStub, StreamObserver<R>, StreamObserver<Q>> open,
      RequestMaker<Q> request,
      boolean answersEachRequest) {}

  /** Makes the request of one batch. */
  interface RequestMaker<Q> {
    Q make(String sessionId, String requestId, double[] numbers);
  }

  /**
   * An acknowledgement: the server's answer, the id of the last request it acknowledged and how
   * many numbers the acknowledged requests carried.
   */
  record Answer<R>(R response, String requestId, long numbers) {}

  private record Pending(String requestId, double[] numbers) {}

  private enum Signal {
    READY,
    COMPLETED
  }

  private record Failure(Throwable error) {}

  private record Response<R>(R response) {}

  private final Kind<Q, R> kind;
  private final MedianServiceGrpc.MedianServiceStub stub;
  private final Runnable reconnectNow;
  private final String sessionId;
  private final Iterator<double[]> batches;
  private final Duration retryFor;
  private final Deadline deadline;
  private final String writer = Ids.random128();
  private final ArrayDeque<Pending> unacknowledged = new ArrayDeque<>();
  private final Backoff backoff = new Backoff();

  private long seq;
  private Attempt attempt;
  private boolean finished;
  private long outageStartNanos;
  private boolean inOutage;

  /**
   * @param stub the stub to open streams on, with the session's routing header attached
   * @param reconnectNow asks the channel to reconnect at once rather than after its own backoff
   * @param retryFor how long to keep resuming after a failure; zero turns resuming off
   * @param deadline the whole call's deadline, resumes included
   */
  ResumableStream(
      Kind<Q, R> kind,
      MedianServiceGrpc.MedianServiceStub stub,
      Runnable reconnectNow,
      String sessionId,
      Iterator<double[]> batches,
      Duration retryFor,
      Deadline deadline) {
    this.kind = kind;
    this.stub = stub;
    this.reconnectNow = reconnectNow;
    this.sessionId = sessionId;
    this.batches = batches;
    this.retryFor = retryFor;
    this.deadline = deadline;
  }

  /**
   * Blocks until the next acknowledgement and answers it; null once the call has ended.
   *
   * @throws MedianException for a refusal, or when resuming gave up
   */
  Answer<R> next() {
    try {
      return nextOrNull();
    } catch (RuntimeException e) {
      if (!(e instanceof MedianException)) {
        close(); // the numbers' source failed: end the stream in flight, then report it
      }
      throw e;
    }
  }

  private Answer<R> nextOrNull() {
    while (!finished) {
      if (attempt == null) {
        attempt = new Attempt();
      }
      sendWhatCanBeSent(attempt);
      Object event = take(attempt);
      if (event == Signal.READY) {
        continue;
      }
      if (event instanceof Failure failure) {
        recover(failure.error());
      } else if (event == Signal.COMPLETED) {
        Answer<R> answer = completed();
        if (answer != null) {
          return answer;
        }
      } else {
        @SuppressWarnings("unchecked")
        R response = ((Response<R>) event).response();
        Answer<R> answer = answered(response);
        if (answer != null) {
          return answer;
        }
      }
    }
    return null;
  }

  /** Cancels the stream in flight, if any; what the server had applied stays applied. */
  @Override
  public void close() {
    finished = true;
    if (attempt != null) {
      attempt.requests.cancel("the caller closed the call", null);
      attempt = null;
    }
  }

  private void sendWhatCanBeSent(Attempt current) {
    while (!current.halfClosed && current.requests.isReady()) {
      Pending resend = current.toResend.pollFirst();
      if (resend != null) {
        send(current, resend);
        continue;
      }
      if (unacknowledged.size() >= MAX_UNACKNOWLEDGED) {
        if (!kind.answersEachRequest()) {
          halfClose(current); // this stream's answer acknowledges them; the next stream goes on
        }
        return; // RunningMedian: wait for answers
      }
      if (!batches.hasNext()) {
        halfClose(current);
        return;
      }
      Pending request = new Pending(writer + ":" + ++seq, batches.next());
      unacknowledged.addLast(request);
      send(current, request);
      madeProgress();
    }
  }

  private void send(Attempt current, Pending request) {
    current.requests.onNext(kind.request().make(sessionId, request.requestId(), request.numbers()));
  }

  private static void halfClose(ResumableStream<?, ?>.Attempt current) {
    current.requests.onCompleted();
    current.halfClosed = true;
  }

  private Answer<R> answered(R response) {
    if (!kind.answersEachRequest()) {
      attempt.finalAnswer = response;
      return null;
    }
    Pending request = unacknowledged.pollFirst();
    if (request == null || !attempt.toResend.isEmpty() && attempt.toResend.peekFirst() == request) {
      throw protocolError("the server answered a request that was not sent");
    }
    madeProgress();
    return new Answer<>(response, request.requestId(), request.numbers().length);
  }

  private Answer<R> completed() {
    Attempt ended = attempt;
    attempt = null;
    if (kind.answersEachRequest()) {
      if (!unacknowledged.isEmpty()) {
        throw protocolError(
            "the server ended the stream with " + unacknowledged.size() + " requests unanswered");
      }
      finished = true;
      return null;
    }
    if (ended.finalAnswer == null) {
      throw protocolError("the server ended AddNumbers without an answer");
    }
    long numbers = 0;
    for (Pending request : unacknowledged) {
      numbers += request.numbers().length;
    }
    String last = unacknowledged.isEmpty() ? "" : unacknowledged.peekLast().requestId();
    unacknowledged.clear();
    madeProgress();
    finished = !batches.hasNext();
    return new Answer<>(ended.finalAnswer, last, numbers);
  }

  private void recover(Throwable error) {
    attempt = null;
    MedianException failure = MedianException.fromThrowable(error);
    if (!isRetryable(Status.fromThrowable(error)) || retryFor.isZero()) {
      finished = true;
      throw failure;
    }
    long now = System.nanoTime();
    if (!inOutage) {
      inOutage = true;
      outageStartNanos = now;
    }
    long retryLeft = outageStartNanos + retryFor.toNanos() - now;
    long deadlineLeft = deadline.timeRemaining(TimeUnit.NANOSECONDS);
    String unanswered = unacknowledged.size() + " requests unacknowledged";
    if (retryLeft <= 0) {
      finished = true;
      throw failure.withNote(
          "gave up resuming after " + retryFor.toMillis() / 1000.0 + " s; " + unanswered);
    }
    if (deadlineLeft <= 0) {
      finished = true;
      throw failure.withNote("the call's deadline passed while resuming; " + unanswered);
    }
    // Waking at the deadline, the next attempt fails with gRPC's own DEADLINE_EXCEEDED.
    long left = Math.min(retryLeft, deadlineLeft);
    sleepNanos(Math.min(backoff.nextNanos(), left));
    reconnectNow.run();
  }

  /**
   * UNAVAILABLE: the server is down, draining, or the connection broke under the stream; but not a
   * failed TLS handshake (a certificate the client does not trust), which waiting cannot fix. Also
   * the INTERNAL that the transport makes for a stream a proxy reset with RST_STREAM INTERNAL_ERROR
   * (Envoy, when the shard behind it dies mid-stream), which {@link TransportStatuses} marks; never
   * an INTERNAL the server sent.
   */
  static boolean isRetryable(Status status) {
    return switch (status.getCode()) {
      case UNAVAILABLE -> !TransportStatuses.causedBy(status, SSLException.class);
      case INTERNAL -> status.getCause() instanceof TransportStatuses.Reset;
      default -> false;
    };
  }

  private void madeProgress() {
    inOutage = false;
    backoff.reset();
  }

  private Object take(Attempt current) {
    try {
      return current.events.take();
    } catch (InterruptedException e) {
      close();
      Thread.currentThread().interrupt();
      throw MedianException.of(Status.CANCELLED.withDescription("interrupted while streaming"));
    }
  }

  private void sleepNanos(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      finished = true;
      Thread.currentThread().interrupt();
      throw MedianException.of(Status.CANCELLED.withDescription("interrupted while resuming"));
    }
  }

  private MedianException protocolError(String message) {
    close();
    return MedianException.of(Status.INTERNAL.withDescription(message));
  }

  /** One stream: its events in arrival order, and what was sent on it. */
  private final class Attempt implements ClientResponseObserver<Q, R> {
    final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    final ArrayDeque<Pending> toResend = new ArrayDeque<>(unacknowledged);
    final ClientCallStreamObserver<Q> requests;
    boolean halfClosed;
    R finalAnswer;

    Attempt() {
      requests = (ClientCallStreamObserver<Q>) kind.open().apply(stub.withDeadline(deadline), this);
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Q> requestStream) {
      requestStream.setOnReadyHandler(() -> events.add(Signal.READY));
    }

    @Override
    public void onNext(R response) {
      events.add(new Response<>(response));
    }

    @Override
    public void onError(Throwable error) {
      events.add(new Failure(error));
    }

    @Override
    public void onCompleted() {
      events.add(Signal.COMPLETED);
    }
  }
}
