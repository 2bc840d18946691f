/**
 * The one error type of the library, `MedianError`: a failed call's gRPC status code, the
 * server's message, and the `google.rpc` details the server put in the standard
 * `grpc-status-details-bin` trailer (the richer error model of https://google.aip.dev/193).
 */
import * as grpc from "@grpc/grpc-js";

import type { Any } from "./gen/google/protobuf/any";
import {
  BadRequest,
  type BadRequest_FieldViolation,
  ErrorInfo,
  QuotaFailure,
  type QuotaFailure_Violation,
} from "./gen/google/rpc/error_details";
import { Status } from "./gen/google/rpc/status";

/** The trailer that carries a serialized `google.rpc.Status`. */
export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** The `google.rpc` details of a `MedianError`, decoded; each list is empty when absent. */
export interface ErrorDetails {
  /** Every `BadRequest.field_violations` entry: which field of the request was wrong, and why. */
  readonly fieldViolations: readonly BadRequest_FieldViolation[];
  /** Every `QuotaFailure.violations` entry: which limit (`subject`) the call would pass. */
  readonly quotaViolations: readonly QuotaFailure_Violation[];
  /** Every `ErrorInfo`: a machine-readable `reason` in a `domain`, with `metadata`. */
  readonly errorInfos: readonly ErrorInfo[];
  /** Details of any other type, still packed as `google.protobuf.Any`. */
  readonly other: readonly Any[];
}

const NO_DETAILS: ErrorDetails = {
  fieldViolations: [],
  quotaViolations: [],
  errorInfos: [],
  other: [],
};

/**
 * A call to the median service failed.
 *
 * `code` is the gRPC status code (`grpc.status.NOT_FOUND`, ...), `codeName` its name
 * (`"NOT_FOUND"`), `details` the server's message, and `fieldViolations`, `quotaViolations` and
 * `errorInfos` the decoded `google.rpc` details. `message` is `CODE_NAME: details`.
 */
export class MedianError extends Error implements ErrorDetails {
  override readonly name = "MedianError";
  readonly codeName: string;
  readonly fieldViolations: readonly BadRequest_FieldViolation[];
  readonly quotaViolations: readonly QuotaFailure_Violation[];
  readonly errorInfos: readonly ErrorInfo[];
  readonly other: readonly Any[];
  /** How many times the call was sent (more than 1 when it was resumed after a failure). */
  attempts = 1;

  constructor(
    readonly code: grpc.status,
    readonly details: string,
    errorDetails: ErrorDetails = NO_DETAILS,
    /** The trailing metadata of the failed call (empty when the error never reached a server). */
    readonly metadata: grpc.Metadata = new grpc.Metadata(),
    options?: ErrorOptions,
  ) {
    const codeName = grpc.status[code] ?? `STATUS_${code}`;
    super(`${codeName}: ${details}`, options);
    this.codeName = codeName;
    this.fieldViolations = errorDetails.fieldViolations;
    this.quotaViolations = errorDetails.quotaViolations;
    this.errorInfos = errorDetails.errorInfos;
    this.other = errorDetails.other;
  }

  /**
   * The `MedianError` of a failed grpc-js call, with the details of its
   * `grpc-status-details-bin` trailer decoded. A trailer that does not decode as a
   * `google.rpc.Status` is left out of the details (the code and message still stand).
   */
  static fromServiceError(error: grpc.ServiceError): MedianError {
    return new MedianError(
      error.code,
      error.details,
      decodeStatusDetails(error.metadata),
      error.metadata,
      { cause: error },
    );
  }
}

/** Whether `error` is a grpc-js call error (a status code, a message and trailing metadata). */
export function isServiceError(error: unknown): error is grpc.ServiceError {
  return (
    error instanceof Error &&
    "code" in error &&
    typeof error.code === "number" &&
    "details" in error &&
    typeof error.details === "string" &&
    "metadata" in error &&
    error.metadata instanceof grpc.Metadata
  );
}

/** `error` as a `MedianError` when it is a gRPC failure; any other error unchanged. */
export function toMedianError(error: unknown): unknown {
  return isServiceError(error) ? MedianError.fromServiceError(error) : error;
}

/** The decoded details of the `google.rpc.Status` in `trailers`, if there is one. */
export function decodeStatusDetails(trailers: grpc.Metadata | undefined): ErrorDetails {
  const [value] = trailers?.get(STATUS_DETAILS_TRAILER) ?? [];
  if (!(value instanceof Buffer)) {
    return NO_DETAILS;
  }
  let status: Status;
  try {
    status = Status.decode(value);
  } catch {
    return NO_DETAILS;
  }
  const fieldViolations: BadRequest_FieldViolation[] = [];
  const quotaViolations: QuotaFailure_Violation[] = [];
  const errorInfos: ErrorInfo[] = [];
  const other: Any[] = [];
  for (const detail of status.details) {
    try {
      switch (detail.typeUrl) {
        case `${TYPE_URL_PREFIX}google.rpc.BadRequest`:
          fieldViolations.push(...BadRequest.decode(detail.value).fieldViolations);
          break;
        case `${TYPE_URL_PREFIX}google.rpc.QuotaFailure`:
          quotaViolations.push(...QuotaFailure.decode(detail.value).violations);
          break;
        case `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`:
          errorInfos.push(ErrorInfo.decode(detail.value));
          break;
        default:
          other.push(detail);
      }
    } catch {
      other.push(detail);
    }
  }
  return { fieldViolations, quotaViolations, errorInfos, other };
}
