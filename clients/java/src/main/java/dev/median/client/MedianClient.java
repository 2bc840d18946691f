package dev.median.client;

import dev.median.v1.AddNumbersRequest;
import dev.median.v1.AddNumbersResponse;
import dev.median.v1.CreateSessionRequest;
import dev.median.v1.DeleteSessionRequest;
import dev.median.v1.GetMedianRequest;
import dev.median.v1.GetMedianResponse;
import dev.median.v1.ListSessionsRequest;
import dev.median.v1.ListSessionsResponse;
import dev.median.v1.MedianServiceGrpc;
import dev.median.v1.RunningMedianRequest;
import dev.median.v1.RunningMedianResponse;
import io.grpc.CallCredentials;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptors;
import io.grpc.Deadline;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.PrimitiveIterator;
import java.util.Spliterators;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.DoubleStream;
import java.util.stream.StreamSupport;

/**
 * A blocking client of {@code median.v1.MedianService}: sessions of numbers and their exact running
 * median.
 *
 * <pre>{@code
 * try (MedianClient client = MedianClient.forTarget("127.0.0.1:50051").build()) {
 *   String session = client.createSession();
 *   client.addNumbers(session, new double[] {3, 1, 2, 10});
 *   System.out.println(client.getMedian(session).median()); // 2.5
 *   client.deleteSession(session);
 * }
 * }</pre>
 *
 * <p>Every call that names a session also sends its id as the request metadata {@code
 * median-session-id}, so that a proxy can route all of a session's calls to one shard. Session ids
 * are chosen on the client (128 random bits, URL-safe) unless the caller gives one.
 *
 * <p>Deadlines: unary calls get {@link Builder#deadline} (default 10 s); an ingest call ({@link
 * #addNumbers}, {@link #runningMedians}) gets {@link Builder#streamDeadline} (default 10 min) for
 * all of its streams together. Ingest is exactly once: see {@link #addNumbers(String,
 * PrimitiveIterator.OfDouble, int)}. Unary calls are retried after {@code UNAVAILABLE} for up to
 * {@link Builder#retryFor}: reads change nothing, and a retried create (of an id chosen here) or
 * delete takes {@code ALREADY_EXISTS} or {@code NOT_FOUND} as its broken attempt's success.
 *
 * <p>Every failure is a {@link MedianException} carrying the status code, the message and the
 * decoded {@code google.rpc} details. The client is thread-safe; calls may run concurrently.
 */
public final class MedianClient implements AutoCloseable {

  /** The request metadata that names a call's session, for routing. */
  public static final Metadata.Key<String> SESSION_ID_HEADER =
      Metadata.Key.of("median-session-id", Metadata.ASCII_STRING_MARSHALLER);

  /** Defaults of the {@link Builder}, and of the batch and page sizes. */
  public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(10);

  public static final Duration DEFAULT_STREAM_DEADLINE = Duration.ofMinutes(10);
  public static final Duration DEFAULT_RETRY_FOR = Duration.ofSeconds(30);
  public static final int DEFAULT_BATCH_SIZE = 1000;
  public static final int DEFAULT_PAGE_SIZE = 100;

  private final Channel channel;
  private final boolean ownsChannel;
  private final Duration deadline;
  private final Duration streamDeadline;
  private final Duration retryFor;
  private final Runnable reconnectNow;
  private final MedianServiceGrpc.MedianServiceBlockingStub blockingStub;
  private final MedianServiceGrpc.MedianServiceStub asyncStub;

  private MedianClient(Builder builder, Channel channel, boolean ownsChannel) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.deadline = builder.deadline;
    this.streamDeadline = builder.streamDeadline;
    this.retryFor = builder.retryFor;
    this.reconnectNow =
        channel instanceof ManagedChannel managed ? managed::resetConnectBackoff : () -> {};
    // TransportStatuses marks a proxy's RST_STREAM INTERNAL_ERROR, which isRetryable resumes
    // after, and turns the transport's UNKNOWN for a closed connection into UNAVAILABLE.
    Channel corrected = ClientInterceptors.intercept(channel, new TransportStatuses());
    this.blockingStub =
        MedianServiceGrpc.newBlockingStub(corrected).withCallCredentials(builder.callCredentials);
    this.asyncStub =
        MedianServiceGrpc.newStub(corrected).withCallCredentials(builder.callCredentials);
  }

  /** A builder for a client that opens (and closes) its own channel to {@code target}. */
  public static Builder forTarget(String target) {
    return new Builder(Objects.requireNonNull(target, "target"), null);
  }

  /**
   * A builder for a client over {@code channel}, which stays the caller's to shut down. TLS
   * settings belong to that channel; a {@link Builder#bearerToken} is still sent on every call.
   */
  public static Builder forChannel(Channel channel) {
    return new Builder(null, Objects.requireNonNull(channel, "channel"));
  }

  /** A fresh session id: 128 random bits, URL-safe base64 without padding (22 characters). */
  public static String newSessionId() {
    return Ids.random128();
  }

  /**
   * Makes a new, empty session with a fresh id chosen here, and returns that id.
   *
   * @throws MedianException {@code RESOURCE_EXHAUSTED} when the server holds its maximum of
   *     sessions
   */
  public String createSession() {
    return createSession(newSessionId(), true);
  }

  /**
   * Makes a new, empty session named {@code sessionId} (1 to 128 characters of {@code
   * [A-Za-z0-9._-]}) and returns its id.
   *
   * @throws MedianException {@code INVALID_ARGUMENT} for a malformed id, {@code ALREADY_EXISTS}
   *     when it is taken, {@code RESOURCE_EXHAUSTED} at the server's limit of sessions
   */
  public String createSession(String sessionId) {
    return createSession(sessionId, false);
  }

  private String createSession(String sessionId, boolean chosenHere) {
    CreateSessionRequest request =
        CreateSessionRequest.newBuilder().setSessionId(sessionId).build();
    return unary(
        () -> session(blockingStub, sessionId).createSession(request).getSessionId(),
        // An earlier attempt that broke may have made it: with an id chosen here (128 random
        // bits) nobody else can have it, so the session is ours.
        chosenHere ? Status.Code.ALREADY_EXISTS : null,
        sessionId);
  }

  /** {@link #addNumbers(String, PrimitiveIterator.OfDouble, int)} of an array, 1,000 a request. */
  public AddResult addNumbers(String sessionId, double[] numbers) {
    return addNumbers(sessionId, numbers, DEFAULT_BATCH_SIZE);
  }

  /** {@link #addNumbers(String, PrimitiveIterator.OfDouble, int)} of an array. */
  public AddResult addNumbers(String sessionId, double[] numbers, int batchSize) {
    return addNumbers(sessionId, Arrays.stream(numbers).iterator(), batchSize);
  }

  /** {@link #addNumbers(String, PrimitiveIterator.OfDouble, int)}, 1,000 numbers a request. */
  public AddResult addNumbers(String sessionId, Iterable<Double> numbers) {
    return addNumbers(sessionId, numbers, DEFAULT_BATCH_SIZE);
  }

  /**
   * {@link #addNumbers(String, PrimitiveIterator.OfDouble, int)} of boxed numbers, read lazily.
   *
   * @throws NullPointerException for a null element (the requests before it stay applied)
   */
  public AddResult addNumbers(String sessionId, Iterable<Double> numbers, int batchSize) {
    return addNumbers(sessionId, unboxed(numbers), batchSize);
  }

  /** {@link #addNumbers(String, PrimitiveIterator.OfDouble, int)}, 1,000 numbers a request. */
  public AddResult addNumbers(String sessionId, DoubleStream numbers) {
    return addNumbers(sessionId, numbers, DEFAULT_BATCH_SIZE);
  }

  /** {@link #addNumbers(String, PrimitiveIterator.OfDouble, int)} of a stream, read lazily. */
  public AddResult addNumbers(String sessionId, DoubleStream numbers, int batchSize) {
    return addNumbers(sessionId, numbers.iterator(), batchSize);
  }

  /**
   * Adds {@code numbers} to the session, read lazily, {@code batchSize} numbers a request (no
   * numbers: one empty request, which checks that the session exists), on AddNumbers streams.
   *
   * <p>Exactly once: each request carries the id {@code <writer>:<seq>} (a fresh writer per call).
   * After a retryable failure ({@code UNAVAILABLE}: the server restarted, a shard is briefly down,
   * the connection broke; or the {@code INTERNAL} of a proxy's RST_STREAM INTERNAL_ERROR) the call
   * reconnects with backoff and resends, in order and with the same ids, every request the server
   * has not acknowledged; the server applies none twice. An AddNumbers stream acknowledges its
   * requests only with its final answer, so the call ends a stream after 1,000 requests and goes
   * on with the next one. It keeps resuming for {@link Builder#retryFor} after the first failure
   * since the last progress, and never past {@link Builder#streamDeadline}.
   *
   * <p>A refused request is not retried: the call throws, and the requests before it stay applied.
   * When resuming gives up, the call throws the last error ({@code UNAVAILABLE}, or {@code
   * DEADLINE_EXCEEDED} when the deadline ran out); the requests acknowledged so far are applied
   * once, the others may or may not have been applied, each at most once. Calling again with the
   * same numbers would make a new writer and could count the applied ones twice.
   *
   * @param numbers finite doubles (NaN or an infinity is refused with {@code INVALID_ARGUMENT},
   *     whose {@code BadRequest} detail names {@code numbers[<index in the request>]})
   * @param batchSize numbers per request, at least 1
   * @return what the call added and the session's count and median after it
   * @throws MedianException {@code NOT_FOUND} for an unknown session, {@code INVALID_ARGUMENT},
   *     {@code RESOURCE_EXHAUSTED} at a server limit, or the error resuming gave up on
   */
  public AddResult addNumbers(String sessionId, PrimitiveIterator.OfDouble numbers, int batchSize) {
    ResumableStream<AddNumbersRequest, AddNumbersResponse> stream =
        ingest(ADD_NUMBERS, sessionId, numbers, batchSize);
    long added = 0;
    AddNumbersResponse last = null;
    try (stream) {
      for (ResumableStream.Answer<AddNumbersResponse> answer = stream.next();
          answer != null;
          answer = stream.next()) {
        added += answer.numbers();
        last = answer.response();
      }
    }
    return new AddResult(
        last.getSessionId(),
        added,
        last.getNumberCount(),
        last.hasMedian() ? OptionalDouble.of(last.getMedian()) : OptionalDouble.empty());
  }

  /** {@link #runningMedians(String, PrimitiveIterator.OfDouble, int)} of an array. */
  public RunningMedians runningMedians(String sessionId, double[] numbers, int batchSize) {
    return runningMedians(sessionId, Arrays.stream(numbers).iterator(), batchSize);
  }

  /** {@link #runningMedians(String, PrimitiveIterator.OfDouble, int)} of boxed numbers. */
  public RunningMedians runningMedians(String sessionId, Iterable<Double> numbers, int batchSize) {
    return runningMedians(sessionId, unboxed(numbers), batchSize);
  }

  /** {@link #runningMedians(String, PrimitiveIterator.OfDouble, int)} of a stream. */
  public RunningMedians runningMedians(String sessionId, DoubleStream numbers, int batchSize) {
    return runningMedians(sessionId, numbers.iterator(), batchSize);
  }

  /**
   * Sends {@code numbers}, {@code batchSize} a request (no numbers: one empty request), on one
   * RunningMedian stream, and iterates the server's answer to each request, in order, as they
   * arrive: one {@link RunningResult} per request, exactly once each, across resumes too.
   *
   * <p>Nothing is sent before the first {@code hasNext()}. Exactly once as {@link
   * #addNumbers(String, PrimitiveIterator.OfDouble, int)}, except that each answer acknowledges its
   * own request, so at most 1,000 requests are ever held for resending. {@code hasNext()} and
   * {@code next()} throw {@link MedianException}. Close the iterator to stop early (what the server
   * applied stays applied); a try-with-resources block does it.
   */
  public RunningMedians runningMedians(
      String sessionId, PrimitiveIterator.OfDouble numbers, int batchSize) {
    return new RunningMedians(ingest(RUNNING_MEDIAN, sessionId, numbers, batchSize));
  }

  /**
   * {@link #runningMedians(String, PrimitiveIterator.OfDouble, int)} with a callback: {@code
   * observer.onNext} for every answer, then {@code onCompleted}, or {@code onError} with a {@link
   * MedianException}, all on the calling thread, which this method blocks until the end.
   */
  public void runningMedian(
      String sessionId,
      DoubleStream numbers,
      int batchSize,
      StreamObserver<RunningResult> observer) {
    try (RunningMedians answers = runningMedians(sessionId, numbers.iterator(), batchSize)) {
      while (answers.hasNext()) {
        observer.onNext(answers.next());
      }
    } catch (MedianException e) {
      observer.onError(e);
      return;
    }
    observer.onCompleted();
  }

  /**
   * The session's count and median.
   *
   * @throws MedianException {@code NOT_FOUND} for an unknown session, {@code FAILED_PRECONDITION}
   *     while it holds no numbers
   */
  public MedianResult getMedian(String sessionId) {
    GetMedianResponse response =
        unary(
            () ->
                session(blockingStub, sessionId)
                    .getMedian(GetMedianRequest.newBuilder().setSessionId(sessionId).build()),
            null,
            null);
    return new MedianResult(
        response.getSessionId(), response.getNumberCount(), response.getMedian());
  }

  /**
   * Removes the session and its numbers.
   *
   * @throws MedianException {@code NOT_FOUND} for an unknown session
   */
  public void deleteSession(String sessionId) {
    unary(
        () ->
            session(blockingStub, sessionId)
                .deleteSession(DeleteSessionRequest.newBuilder().setSessionId(sessionId).build()),
        // An earlier attempt that broke may have deleted it; either way the session is gone.
        Status.Code.NOT_FOUND,
        null);
  }

  /** Every session of the server (of the caller's tenant), ordered by id, 100 a page. */
  public Iterator<SessionSummary> listSessions() {
    return listSessions(DEFAULT_PAGE_SIZE);
  }

  /**
   * Every session of the server (of the caller's tenant), ordered by id, fetched lazily {@code
   * pageSize} at a time (1 to 1,000).
   *
   * @throws MedianException from {@code hasNext()} when fetching a page fails
   */
  public Iterator<SessionSummary> listSessions(int pageSize) {
    if (pageSize < 1) {
      throw new IllegalArgumentException("pageSize must be at least 1, not " + pageSize);
    }
    return new Iterator<>() {
      private Iterator<SessionSummary> page = java.util.Collections.emptyIterator();
      private String token = "";
      private boolean last;

      @Override
      public boolean hasNext() {
        while (!page.hasNext() && !last) {
          SessionPage next = listSessionsPage(pageSize, token);
          page = next.sessions().iterator();
          token = next.nextPageToken();
          last = token.isEmpty();
        }
        return page.hasNext();
      }

      @Override
      public SessionSummary next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return page.next();
      }
    };
  }

  /**
   * One page of sessions, ordered by id.
   *
   * @param pageSize 0 for the server's default (100), at most 1,000 (larger is treated as 1,000)
   * @param pageToken "" for the first page, else the previous page's {@link
   *     SessionPage#nextPageToken()}
   * @throws MedianException {@code INVALID_ARGUMENT} for a negative size or a token the server did
   *     not issue
   */
  public SessionPage listSessionsPage(int pageSize, String pageToken) {
    ListSessionsResponse response =
        unary(
            () ->
                blockingStub
                    .withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS)
                    .listSessions(
                        ListSessionsRequest.newBuilder()
                            .setPageSize(pageSize)
                            .setPageToken(pageToken)
                            .build()),
            null,
            null);
    return new SessionPage(
        response.getSessionsList().stream()
            .map(s -> new SessionSummary(s.getSessionId(), s.getNumberCount()))
            .toList(),
        response.getNextPageToken());
  }

  /** Shuts down the channel if the client opened it, waiting up to 5 s for calls to end. */
  @Override
  public void close() {
    if (ownsChannel && channel instanceof ManagedChannel managed) {
      managed.shutdownNow();
      try {
        managed.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private MedianServiceGrpc.MedianServiceBlockingStub session(
      MedianServiceGrpc.MedianServiceBlockingStub stub, String sessionId) {
    return withSessionHeader(stub, sessionId)
        .withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS);
  }

  private static <S extends io.grpc.stub.AbstractStub<S>> S withSessionHeader(
      S stub, String sessionId) {
    Objects.requireNonNull(sessionId, "sessionId");
    Metadata headers = new Metadata();
    headers.put(SESSION_ID_HEADER, sessionId);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  /**
   * Runs a unary call; after {@code UNAVAILABLE} runs it again with backoff for up to {@link
   * Builder#retryFor} (each attempt with its own deadline). Safe because every unary call of the
   * service is idempotent or made so: reads change nothing, and {@code doneOnRetry} is the code
   * with which a retry finds that the broken attempt had done the work (then {@code resultOnRetry}
   * is the answer).
   */
  private <T> T unary(Supplier<T> call, Status.Code doneOnRetry, T resultOnRetry) {
    Backoff backoff = new Backoff();
    long giveUp = System.nanoTime() + retryFor.toNanos();
    boolean retry = false;
    while (true) {
      try {
        return call.get();
      } catch (StatusRuntimeException e) {
        Status.Code code = e.getStatus().getCode();
        if (retry && code == doneOnRetry) {
          return resultOnRetry;
        }
        long left = giveUp - System.nanoTime();
        if (!ResumableStream.isRetryable(e.getStatus()) || left <= 0) {
          throw MedianException.fromThrowable(e);
        }
        try {
          TimeUnit.NANOSECONDS.sleep(Math.min(backoff.nextNanos(), left));
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw MedianException.fromThrowable(e);
        }
        reconnectNow.run();
        retry = true;
      }
    }
  }

  private <Q, R> ResumableStream<Q, R> ingest(
      ResumableStream.Kind<Q, R> kind,
      String sessionId,
      PrimitiveIterator.OfDouble numbers,
      int batchSize) {
    Batches batches = new Batches(Objects.requireNonNull(numbers, "numbers"), batchSize);
    return new ResumableStream<>(
        kind,
        withSessionHeader(asyncStub, sessionId),
        reconnectNow,
        sessionId,
        batches,
        retryFor,
        Deadline.after(streamDeadline.toNanos(), TimeUnit.NANOSECONDS));
  }

  private static PrimitiveIterator.OfDouble unboxed(Iterable<Double> numbers) {
    return StreamSupport.stream(Spliterators.spliteratorUnknownSize(numbers.iterator(), 0), false)
        .mapToDouble(Double::doubleValue)
        .iterator();
  }

  private static final ResumableStream.Kind<AddNumbersRequest, AddNumbersResponse> ADD_NUMBERS =
      new ResumableStream.Kind<>(
          MedianServiceGrpc.MedianServiceStub::addNumbers,
          (sessionId, requestId, numbers) -> {
            AddNumbersRequest.Builder request =
                AddNumbersRequest.newBuilder().setSessionId(sessionId).setRequestId(requestId);
            for (double number : numbers) {
              request.addNumbers(number);
            }
            return request.build();
          },
          /* answersEachRequest= */ false);

  private static final ResumableStream.Kind<RunningMedianRequest, RunningMedianResponse>
      RUNNING_MEDIAN =
          new ResumableStream.Kind<>(
              MedianServiceGrpc.MedianServiceStub::runningMedian,
              (sessionId, requestId, numbers) -> {
                RunningMedianRequest.Builder request =
                    RunningMedianRequest.newBuilder()
                        .setSessionId(sessionId)
                        .setRequestId(requestId);
                for (double number : numbers) {
                  request.addNumbers(number);
                }
                return request.build();
              },
              /* answersEachRequest= */ true);

  /**
   * The answers of a running-median call, in order; {@link #close} cancels the stream if it is
   * still open.
   */
  public static final class RunningMedians implements Iterator<RunningResult>, AutoCloseable {

    private final ResumableStream<RunningMedianRequest, RunningMedianResponse> stream;
    private RunningResult next;
    private boolean ended;

    private RunningMedians(ResumableStream<RunningMedianRequest, RunningMedianResponse> stream) {
      this.stream = stream;
    }

    /**
     * True when another answer came; blocks until it does or the call ends.
     *
     * @throws MedianException when the call failed
     */
    @Override
    public boolean hasNext() {
      if (next == null && !ended) {
        ResumableStream.Answer<RunningMedianResponse> answer = stream.next();
        if (answer == null) {
          ended = true;
        } else {
          RunningMedianResponse response = answer.response();
          next =
              new RunningResult(
                  response.getSessionId(),
                  answer.requestId(),
                  (int) answer.numbers(),
                  response.getAddedCount(),
                  response.getNumberCount(),
                  response.hasMedian()
                      ? OptionalDouble.of(response.getMedian())
                      : OptionalDouble.empty());
        }
      }
      return next != null;
    }

    @Override
    public RunningResult next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      RunningResult result = next;
      next = null;
      return result;
    }

    @Override
    public void close() {
      ended = true;
      stream.close();
    }
  }

  /**
   * Settings of a {@link MedianClient}. Plaintext unless a TLS setting is given.
   *
   * <pre>{@code
   * MedianClient client = MedianClient.forTarget("median.example.com:443")
   *     .tlsCaFile(Path.of("ca.pem"))                           // or .tlsSystemRoots()
   *     .clientCertificate(Path.of("client.pem"), Path.of("client.key")) // mutual TLS
   *     .bearerToken(System.getenv("MEDIAN_TOKEN"))
   *     .build();
   * }</pre>
   */
  public static final class Builder {
    private final String target;
    private final Channel channel;
    private boolean tls;
    private Path caFile;
    private Path certificateChain;
    private Path privateKey;
    private CallCredentials callCredentials;
    private Duration deadline = DEFAULT_DEADLINE;
    private Duration streamDeadline = DEFAULT_STREAM_DEADLINE;
    private Duration retryFor = DEFAULT_RETRY_FOR;

    private Builder(String target, Channel channel) {
      this.target = target;
      this.channel = channel;
    }

    /** TLS, trusting the CA certificates (PEM) in {@code caFile}, not the system's roots. */
    public Builder tlsCaFile(Path caFile) {
      this.caFile = Objects.requireNonNull(caFile, "caFile");
      this.tls = true;
      return this;
    }

    /** TLS, trusting the system's (the JDK's) root certificates. */
    public Builder tlsSystemRoots() {
      this.tls = true;
      return this;
    }

    /**
     * Mutual TLS: present this client certificate chain and its unencrypted private key (PEM, PKCS
     * #8). Turns TLS on; the server is trusted by {@link #tlsCaFile} or the system's roots.
     */
    public Builder clientCertificate(Path certificateChain, Path privateKey) {
      this.certificateChain = Objects.requireNonNull(certificateChain, "certificateChain");
      this.privateKey = Objects.requireNonNull(privateKey, "privateKey");
      this.tls = true;
      return this;
    }

    /**
     * Sends {@code authorization: Bearer <token>} on every call, as gRPC call credentials (over
     * plaintext too, which suits only loopback development).
     *
     * @throws IllegalArgumentException when the token is not printable ASCII without spaces
     */
    public Builder bearerToken(String token) {
      this.callCredentials = new BearerToken(token);
      return this;
    }

    /** Deadline of each unary call; default 10 s. */
    public Builder deadline(Duration deadline) {
      this.deadline = positive(deadline, "deadline");
      return this;
    }

    /** Deadline of a whole ingest call, all of its resumes included; default 10 min. */
    public Builder streamDeadline(Duration streamDeadline) {
      this.streamDeadline = positive(streamDeadline, "streamDeadline");
      return this;
    }

    /**
     * How long an ingest call keeps resuming after a retryable failure, counted from the first
     * failure since it last made progress; default 30 s, {@link Duration#ZERO} turns resuming off.
     */
    public Builder retryFor(Duration retryFor) {
      if (retryFor.isNegative()) {
        throw new IllegalArgumentException("retryFor must not be negative, not " + retryFor);
      }
      this.retryFor = retryFor;
      return this;
    }

    /**
     * The client. Opens its channel now (connecting lazily, at the first call).
     *
     * @throws UncheckedIOException when a certificate or key file cannot be read
     * @throws IllegalStateException for TLS settings on a client of a given channel
     */
    public MedianClient build() {
      if (channel != null) {
        if (tls) {
          throw new IllegalStateException(
              "TLS settings belong to the channel given to forChannel; set them there");
        }
        return new MedianClient(this, channel, false);
      }
      ChannelCredentials credentials = InsecureChannelCredentials.create();
      if (tls) {
        TlsChannelCredentials.Builder tlsCredentials = TlsChannelCredentials.newBuilder();
        try {
          if (caFile != null) {
            tlsCredentials.trustManager(caFile.toFile());
          }
          if (certificateChain != null) {
            tlsCredentials.keyManager(certificateChain.toFile(), privateKey.toFile());
          }
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read a TLS file: " + e.getMessage(), e);
        }
        credentials = tlsCredentials.build();
      }
      return new MedianClient(this, Grpc.newChannelBuilder(target, credentials).build(), true);
    }

    private static Duration positive(Duration value, String name) {
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException(name + " must be positive, not " + value);
      }
      return value;
    }
  }
}
