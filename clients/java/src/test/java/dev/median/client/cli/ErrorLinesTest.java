package dev.median.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import dev.median.client.MedianException;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import org.junit.jupiter.api.Test;

class ErrorLinesTest {

  @Test
  void oneLineForTheStatusThenOnePerDetail() {
    com.google.rpc.Status rich =
        com.google.rpc.Status.newBuilder()
            .setCode(Code.INVALID_ARGUMENT_VALUE)
            .setMessage("numbers[0] is nan;\n remove it")
            .addDetails(
                Any.pack(
                    BadRequest.newBuilder()
                        .addFieldViolations(
                            BadRequest.FieldViolation.newBuilder()
                                .setField("numbers[0]")
                                .setDescription("nan is not a finite number"))
                        .build()))
            .addDetails(
                Any.pack(
                    QuotaFailure.newBuilder()
                        .addViolations(
                            QuotaFailure.Violation.newBuilder()
                                .setSubject("--max-sessions")
                                .setDescription("limit 3"))
                        .build()))
            .addDetails(
                Any.pack(
                    ErrorInfo.newBuilder()
                        .setReason("MAX_SESSIONS")
                        .setDomain("median.v1")
                        .build()))
            .build();
    MedianException error = MedianException.fromThrowable(StatusProto.toStatusException(rich));

    assertEquals(
        List.of(
            "error: INVALID_ARGUMENT: numbers[0] is nan; remove it",
            "detail: BadRequest numbers[0]: nan is not a finite number",
            "detail: QuotaFailure --max-sessions: limit 3",
            "detail: ErrorInfo MAX_SESSIONS median.v1"),
        MedianClientCli.errorLines(error));
  }
}
