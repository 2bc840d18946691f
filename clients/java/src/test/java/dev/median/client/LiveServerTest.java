package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.median.v1.AddNumbersRequest;
import dev.median.v1.RunningMedianRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.DoubleStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The library's calls against a real server over plaintext loopback. */
class LiveServerTest {

  private static TestServer server;
  private static MedianClient client;

  @BeforeAll
  static void startServer() throws Exception {
    server = TestServer.start();
    client = MedianClient.forTarget(server.target()).build();
  }

  @AfterAll
  static void stopServer() throws Exception {
    client.close();
    server.close();
  }

  @Test
  void createAddGetDeleteFromEachKindOfSource() {
    String fromArray = client.createSession();
    AddResult added = client.addNumbers(fromArray, new double[] {3, 1, 2, 10});
    assertEquals(new AddResult(fromArray, 4, 4, java.util.OptionalDouble.of(2.5)), added);
    assertEquals(new MedianResult(fromArray, 4, 2.5), client.getMedian(fromArray));

    String fromIterable = client.createSession();
    client.addNumbers(fromIterable, List.of(5.0, -1.0, 7.0), 2);
    assertEquals(new MedianResult(fromIterable, 3, 5.0), client.getMedian(fromIterable));

    String fromStream = client.createSession();
    client.addNumbers(fromStream, DoubleStream.iterate(1, x -> x + 1).limit(2501), 1000);
    assertEquals(new MedianResult(fromStream, 2501, 1251.0), client.getMedian(fromStream));

    for (String session : List.of(fromArray, fromIterable, fromStream)) {
      client.deleteSession(session);
      MedianException gone = assertThrows(MedianException.class, () -> client.getMedian(session));
      assertEquals(Status.Code.NOT_FOUND, gone.getCode());
    }
  }

  @Test
  void createSessionUsesTheCallersIdAndRefusesATakenOne() {
    String id = "java-test-" + MedianClient.newSessionId();
    assertEquals(id, client.createSession(id));
    MedianException taken = assertThrows(MedianException.class, () -> client.createSession(id));
    assertEquals(Status.Code.ALREADY_EXISTS, taken.getCode());
    client.deleteSession(id);
  }

  @Test
  void newSessionIdsAre128RandomBitsUrlSafe() {
    Set<String> ids = new HashSet<>();
    for (int i = 0; i < 100; i++) {
      String id = MedianClient.newSessionId();
      assertTrue(id.matches("[A-Za-z0-9_-]{22}"), id);
      ids.add(id);
    }
    assertEquals(100, ids.size());
  }

  @Test
  void anEmptySessionHasCountZeroAndNoMedian() {
    String session = client.createSession();
    AddResult added = client.addNumbers(session, new double[0]);
    assertEquals(0, added.numberCount());
    assertTrue(added.median().isEmpty());
    MedianException empty = assertThrows(MedianException.class, () -> client.getMedian(session));
    assertEquals(Status.Code.FAILED_PRECONDITION, empty.getCode());
  }

  @Test
  void runningMediansAnswerEachRequestInOrder() {
    String session = client.createSession();
    List<RunningResult> answers = new ArrayList<>();
    try (MedianClient.RunningMedians running =
        client.runningMedians(session, new double[] {3, 1, 2, 10, 4}, 2)) {
      running.forEachRemaining(answers::add);
    }
    assertEquals(List.of(2L, 4L, 5L), answers.stream().map(RunningResult::numberCount).toList());
    assertEquals(2.0, answers.get(0).median().getAsDouble());
    assertEquals(2.5, answers.get(1).median().getAsDouble());
    assertEquals(3.0, answers.get(2).median().getAsDouble());
    assertEquals(List.of(2, 2, 1), answers.stream().map(RunningResult::requestSize).toList());
    assertEquals(List.of(2L, 2L, 1L), answers.stream().map(RunningResult::addedCount).toList());
  }

  @Test
  void runningMedianCallbackSeesEveryAnswerThenTheEnd() {
    String session = client.createSession();
    List<Long> counts = new ArrayList<>();
    List<String> ends = new ArrayList<>();
    client.runningMedian(
        session,
        DoubleStream.of(1, 2, 3),
        1,
        new StreamObserver<>() {
          @Override
          public void onNext(RunningResult answer) {
            counts.add(answer.numberCount());
          }

          @Override
          public void onError(Throwable error) {
            ends.add("error " + error);
          }

          @Override
          public void onCompleted() {
            ends.add("completed");
          }
        });
    assertEquals(List.of(1L, 2L, 3L), counts);
    assertEquals(List.of("completed"), ends);

    List<String> failures = new ArrayList<>();
    client.runningMedian(
        "never-made-" + MedianClient.newSessionId(),
        DoubleStream.of(1),
        1,
        new StreamObserver<>() {
          @Override
          public void onNext(RunningResult answer) {
            failures.add("answer");
          }

          @Override
          public void onError(Throwable error) {
            failures.add(((MedianException) error).getCode().name());
          }

          @Override
          public void onCompleted() {
            failures.add("completed");
          }
        });
    assertEquals(List.of("NOT_FOUND"), failures);
  }

  @Test
  void listSessionsPagesThroughEverySession() {
    Set<String> made = new HashSet<>();
    for (int i = 0; i < 7; i++) {
      String session = client.createSession();
      client.addNumbers(session, new double[] {i});
      made.add(session);
    }
    SessionPage first = client.listSessionsPage(3, "");
    assertEquals(3, first.sessions().size());
    assertFalse(first.nextPageToken().isEmpty());

    List<SessionSummary> all = new ArrayList<>();
    client.listSessions(3).forEachRemaining(all::add);
    Set<String> listed = new HashSet<>();
    for (SessionSummary summary : all) {
      listed.add(summary.sessionId());
      if (made.contains(summary.sessionId())) {
        assertEquals(1, summary.numberCount());
      }
    }
    assertTrue(listed.containsAll(made));
    assertEquals(all.size(), listed.size(), "no session listed twice");
    List<String> ids = all.stream().map(SessionSummary::sessionId).toList();
    List<String> sorted = new ArrayList<>(ids);
    Collections.sort(sorted);
    assertEquals(sorted, ids, "ordered by id");

    MedianException badToken =
        assertThrows(MedianException.class, () -> client.listSessionsPage(3, "not-a-token"));
    assertEquals(Status.Code.INVALID_ARGUMENT, badToken.getCode());
  }

  /**
   * Every call that names a session carries it in median-session-id, and each ingest call is one
   * writer whose request ids are {@code <writer>:1}, {@code <writer>:2}, ...
   */
  @Test
  void everyCallCarriesTheRoutingHeaderAndIngestNumbersItsRequests() throws Exception {
    List<String> calls = Collections.synchronizedList(new ArrayList<>());
    List<String> requestIds = Collections.synchronizedList(new ArrayList<>());
    ClientInterceptor recorder =
        new ClientInterceptor() {
          @Override
          public <Q, R> ClientCall<Q, R> interceptCall(
              MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
            return new ForwardingClientCall.SimpleForwardingClientCall<>(
                next.newCall(method, options)) {
              @Override
              public void start(Listener<R> listener, Metadata headers) {
                calls.add(
                    method.getBareMethodName() + " " + headers.get(MedianClient.SESSION_ID_HEADER));
                super.start(listener, headers);
              }

              @Override
              public void sendMessage(Q message) {
                if (message instanceof AddNumbersRequest add) {
                  requestIds.add(add.getRequestId());
                } else if (message instanceof RunningMedianRequest running) {
                  requestIds.add(running.getRequestId());
                }
                super.sendMessage(message);
              }
            };
          }
        };
    ManagedChannel channel =
        Grpc.newChannelBuilder(server.target(), InsecureChannelCredentials.create()).build();
    try (MedianClient recorded =
        MedianClient.forChannel(ClientInterceptors.intercept(channel, recorder)).build()) {
      String session = recorded.createSession();
      recorded.addNumbers(session, new double[] {1, 2, 3, 4, 5}, 2);
      try (MedianClient.RunningMedians running =
          recorded.runningMedians(session, new double[] {6, 7}, 1)) {
        running.forEachRemaining(answer -> {});
      }
      recorded.getMedian(session);
      recorded.deleteSession(session);

      assertEquals(
          List.of(
              "CreateSession " + session,
              "AddNumbers " + session,
              "RunningMedian " + session,
              "GetMedian " + session,
              "DeleteSession " + session),
          calls);
      assertEquals(5, requestIds.size());
      String addWriter = requestIds.get(0).split(":")[0];
      String runningWriter = requestIds.get(3).split(":")[0];
      assertTrue(addWriter.matches("[A-Za-z0-9_-]{22}"), addWriter);
      assertNotEquals(addWriter, runningWriter);
      assertEquals(
          List.of(
              addWriter + ":1",
              addWriter + ":2",
              addWriter + ":3",
              runningWriter + ":1",
              runningWriter + ":2"),
          requestIds);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void closingARunningMedianEarlyKeepsWhatWasApplied() {
    String session = client.createSession();
    Iterator<RunningResult> answers;
    try (MedianClient.RunningMedians running =
        client.runningMedians(session, DoubleStream.iterate(0, x -> x + 1).limit(10), 1)) {
      answers = running;
      assertEquals(1, running.next().numberCount());
    }
    assertFalse(answers.hasNext());
    assertTrue(client.getMedian(session).numberCount() >= 1);
  }
}
