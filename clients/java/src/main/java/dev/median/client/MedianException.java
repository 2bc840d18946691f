package dev.median.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A call to the median service failed: the gRPC status code, the server's message and the {@code
 * google.rpc} details it sent in the {@code grpc-status-details-bin} trailer, decoded.
 *
 * <p>Unchecked, like grpc-java's own {@link io.grpc.StatusRuntimeException}, which is kept as the
 * cause. {@link #getMessage()} is {@code CODE_NAME: message}, for example {@code NOT_FOUND: session
 * "x" does not exist}.
 *
 * <p>The details follow Google's error model (https://cloud.google.com/apis/design/errors): {@link
 * BadRequest} field violations for invalid input ({@code INVALID_ARGUMENT}, with fields such as
 * {@code numbers[3]}), {@link QuotaFailure} for a server limit ({@code RESOURCE_EXHAUSTED}; the
 * subject names the server flag), {@link ErrorInfo} with a machine readable reason (limits, and
 * {@code UNAUTHENTICATED}).
 */
public final class MedianException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String description;
  private final transient List<BadRequest.FieldViolation> fieldViolations;
  private final transient List<QuotaFailure.Violation> quotaViolations;
  private final transient List<ErrorInfo> errorInfos;

  private MedianException(
      Status.Code code,
      String description,
      List<BadRequest.FieldViolation> fieldViolations,
      List<QuotaFailure.Violation> quotaViolations,
      List<ErrorInfo> errorInfos,
      Throwable cause) {
    super(code.name() + ": " + description, cause);
    this.code = code;
    this.description = description;
    this.fieldViolations = List.copyOf(fieldViolations);
    this.quotaViolations = List.copyOf(quotaViolations);
    this.errorInfos = List.copyOf(errorInfos);
  }

  /**
   * The error of a failed gRPC call: its status, and the details read with {@link
   * StatusProto#fromThrowable} (none when the trailer is absent). Details of other types, or that
   * do not parse as the type they claim, are left out; the code and message remain.
   */
  public static MedianException fromThrowable(Throwable failure) {
    if (failure instanceof MedianException median) {
      return median;
    }
    Status status = Status.fromThrowable(failure);
    com.google.rpc.Status rich = StatusProto.fromThrowable(failure);
    List<BadRequest.FieldViolation> fields = new ArrayList<>();
    List<QuotaFailure.Violation> quotas = new ArrayList<>();
    List<ErrorInfo> infos = new ArrayList<>();
    for (Any detail : rich == null ? List.<Any>of() : rich.getDetailsList()) {
      try {
        if (detail.is(BadRequest.class)) {
          fields.addAll(detail.unpack(BadRequest.class).getFieldViolationsList());
        } else if (detail.is(QuotaFailure.class)) {
          quotas.addAll(detail.unpack(QuotaFailure.class).getViolationsList());
        } else if (detail.is(ErrorInfo.class)) {
          infos.add(detail.unpack(ErrorInfo.class));
        }
      } catch (InvalidProtocolBufferException e) {
        // Dropped, as documented above.
      }
    }
    return new MedianException(status.getCode(), describe(status), fields, quotas, infos, failure);
  }

  /** An error the library itself reports with {@code status} (no details). */
  static MedianException of(Status status) {
    return new MedianException(
        status.getCode(), describe(status), List.of(), List.of(), List.of(), status.asException());
  }

  /** This error with {@code note} appended to its message; the code and details are kept. */
  MedianException withNote(String note) {
    return new MedianException(
        code,
        description + " (" + note + ")",
        fieldViolations,
        quotaViolations,
        errorInfos,
        getCause());
  }

  private static String describe(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }

  /** The gRPC status code, for example {@link Status.Code#NOT_FOUND}. */
  public Status.Code getCode() {
    return code;
  }

  /** The server's message (or the library's, for errors it reports itself); may be empty. */
  public String getDescription() {
    return description;
  }

  /** The field violations of every {@link BadRequest} detail, in order; empty when none. */
  public List<BadRequest.FieldViolation> getFieldViolations() {
    return fieldViolations;
  }

  /** The violations of every {@link QuotaFailure} detail, in order; empty when none. */
  public List<QuotaFailure.Violation> getQuotaViolations() {
    return quotaViolations;
  }

  /** Every {@link ErrorInfo} detail, in order; empty when none. */
  public List<ErrorInfo> getErrorInfos() {
    return errorInfos;
  }

  /** The first {@link ErrorInfo} detail, if any: its reason and domain name the error. */
  public Optional<ErrorInfo> getErrorInfo() {
    return errorInfos.stream().findFirst();
  }
}
