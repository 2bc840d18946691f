package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The google.rpc details the real server sends, as the library decodes them. */
class ErrorDetailsTest {

  private static final String TOKEN = "error-details-test-token-0123456789";

  @TempDir static Path directory;
  private static TestServer server;

  @BeforeAll
  static void startServer() throws Exception {
    Path tokens = Files.writeString(directory.resolve("tokens"), TOKEN + " tenant-a\n");
    server = TestServer.start("--max-session-numbers", "5", "--auth-tokens", tokens.toString());
  }

  @AfterAll
  static void stopServer() throws Exception {
    server.close();
  }

  private static MedianClient client() {
    return MedianClient.forTarget(server.target()).bearerToken(TOKEN).build();
  }

  @Test
  void aNaNInTheFirstRequestIsABadRequestNamingItsIndex() {
    try (MedianClient client = client()) {
      String session = client.createSession();
      MedianException refused =
          assertThrows(
              MedianException.class,
              () -> client.addNumbers(session, new double[] {1, Double.NaN}, 10));
      assertEquals(Status.Code.INVALID_ARGUMENT, refused.getCode());
      BadRequest.FieldViolation violation = refused.getFieldViolations().get(0);
      assertEquals("numbers[1]", violation.getField());
      assertTrue(violation.getDescription().contains("nan"), violation.getDescription());
      MedianException empty = assertThrows(MedianException.class, () -> client.getMedian(session));
      assertEquals(
          Status.Code.FAILED_PRECONDITION, empty.getCode(), "the request was refused whole");
    }
  }

  @Test
  void aNaNAfterTwoAnsweredRequestsEndsTheRunningMediansAfterTheirAnswers() {
    try (MedianClient client = client()) {
      String session = client.createSession();
      List<Long> counts = new ArrayList<>();
      MedianException refused =
          assertThrows(
              MedianException.class,
              () -> {
                try (MedianClient.RunningMedians running =
                    client.runningMedians(
                        session, new double[] {4, 2, Double.POSITIVE_INFINITY, 7}, 1)) {
                  running.forEachRemaining(answer -> counts.add(answer.numberCount()));
                }
              });
      assertEquals(List.of(1L, 2L), counts);
      assertEquals(Status.Code.INVALID_ARGUMENT, refused.getCode());
      assertEquals("numbers[0]", refused.getFieldViolations().get(0).getField());
      assertEquals(2, client.getMedian(session).numberCount(), "nothing after it was sent on");
    }
  }

  @Test
  void aLimitIsAQuotaFailureAndErrorInfoNamingTheFlag() {
    try (MedianClient client = client()) {
      String session = client.createSession();
      MedianException refused =
          assertThrows(
              MedianException.class,
              () -> client.addNumbers(session, new double[] {1, 2, 3, 4, 5, 6}));
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, refused.getCode());
      assertEquals("--max-session-numbers", refused.getQuotaViolations().get(0).getSubject());
      assertEquals("MAX_SESSION_NUMBERS", refused.getErrorInfo().orElseThrow().getReason());
      assertEquals("median.v1", refused.getErrorInfo().orElseThrow().getDomain());
    }
  }

  @Test
  void aMissingOrWrongTokenIsUnauthenticatedWithErrorInfo() {
    try (MedianClient anonymous = MedianClient.forTarget(server.target()).build()) {
      MedianException missing = assertThrows(MedianException.class, anonymous::createSession);
      assertEquals(Status.Code.UNAUTHENTICATED, missing.getCode());
      assertEquals("TOKEN_MISSING", missing.getErrorInfo().orElseThrow().getReason());
    }
    try (MedianClient wrong =
        MedianClient.forTarget(server.target()).bearerToken("not-the-token-0123456789").build()) {
      MedianException unknown =
          assertThrows(MedianException.class, () -> wrong.addNumbers("any", new double[] {1}));
      assertEquals(Status.Code.UNAUTHENTICATED, unknown.getCode());
      assertEquals("TOKEN_UNKNOWN", unknown.getErrorInfo().orElseThrow().getReason());
    }
  }

  @Test
  void aTokenThatCannotBeAHeaderIsRefusedBeforeAnyCall() {
    IllegalArgumentException refused =
        assertThrows(
            IllegalArgumentException.class,
            () -> MedianClient.forTarget(server.target()).bearerToken("two words"));
    assertTrue(!refused.getMessage().contains("two words"), "the message never shows the token");
  }
}
