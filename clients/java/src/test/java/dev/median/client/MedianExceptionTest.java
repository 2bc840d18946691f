package dev.median.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.StringValue;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import org.junit.jupiter.api.Test;

/** Decoding of grpc-status-details-bin, on errors made here as the server makes them. */
class MedianExceptionTest {

  @Test
  void carriesCodeMessageAndEveryKnownDetail() {
    com.google.rpc.Status rich =
        com.google.rpc.Status.newBuilder()
            .setCode(Code.RESOURCE_EXHAUSTED_VALUE)
            .setMessage("the session holds 5 numbers at most")
            .addDetails(
                Any.pack(
                    QuotaFailure.newBuilder()
                        .addViolations(
                            QuotaFailure.Violation.newBuilder()
                                .setSubject("--max-session-numbers")
                                .setDescription("limit 5"))
                        .build()))
            .addDetails(
                Any.pack(
                    ErrorInfo.newBuilder()
                        .setReason("MAX_SESSION_NUMBERS")
                        .setDomain("median.v1")
                        .build()))
            .addDetails(Any.pack(StringValue.of("a detail of a type the library skips")))
            .addDetails(
                Any.pack(
                    BadRequest.newBuilder()
                        .addFieldViolations(
                            BadRequest.FieldViolation.newBuilder()
                                .setField("numbers[2]")
                                .setDescription("nan is not a finite number"))
                        .build()))
            .build();
    StatusRuntimeException thrown = StatusProto.toStatusRuntimeException(rich);

    MedianException error = MedianException.fromThrowable(thrown);

    assertEquals(Status.Code.RESOURCE_EXHAUSTED, error.getCode());
    assertEquals("the session holds 5 numbers at most", error.getDescription());
    assertEquals("RESOURCE_EXHAUSTED: the session holds 5 numbers at most", error.getMessage());
    assertEquals("--max-session-numbers", error.getQuotaViolations().get(0).getSubject());
    assertEquals("limit 5", error.getQuotaViolations().get(0).getDescription());
    assertEquals("MAX_SESSION_NUMBERS", error.getErrorInfo().orElseThrow().getReason());
    assertEquals("median.v1", error.getErrorInfo().orElseThrow().getDomain());
    assertEquals("numbers[2]", error.getFieldViolations().get(0).getField());
    assertSame(thrown, error.getCause());
  }

  @Test
  void anErrorWithoutTheTrailerHasNoDetails() {
    MedianException error =
        MedianException.fromThrowable(
            Status.NOT_FOUND.withDescription("session \"x\" does not exist").asRuntimeException());

    assertEquals(Status.Code.NOT_FOUND, error.getCode());
    assertEquals("NOT_FOUND: session \"x\" does not exist", error.getMessage());
    assertTrue(error.getFieldViolations().isEmpty());
    assertTrue(error.getQuotaViolations().isEmpty());
    assertTrue(error.getErrorInfos().isEmpty());
  }

  @Test
  void aNoteKeepsCodeAndDetails() {
    com.google.rpc.Status rich =
        com.google.rpc.Status.newBuilder()
            .setCode(Code.UNAVAILABLE_VALUE)
            .setMessage("draining")
            .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("DRAINING").build()))
            .build();
    MedianException noted =
        MedianException.fromThrowable(StatusProto.toStatusRuntimeException(rich))
            .withNote("gave up resuming");

    assertEquals(Status.Code.UNAVAILABLE, noted.getCode());
    assertEquals("draining (gave up resuming)", noted.getDescription());
    assertEquals("DRAINING", noted.getErrorInfo().orElseThrow().getReason());
  }
}
