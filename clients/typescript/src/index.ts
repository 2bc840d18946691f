/**
 * median-client: a client library of the running-median gRPC service `median.v1.MedianService`,
 * on @grpc/grpc-js. See README.md for the exactly-once promise of `addNumbers` and
 * `runningMedian`.
 */
export {
  type AddOptions,
  type AddResult,
  type CallOptions,
  DEFAULT_BATCH_SIZE,
  DEFAULT_PAGE_SIZE,
  DEFAULT_STREAM_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  type IngestOptions,
  MAX_UNACKNOWLEDGED,
  MedianClient,
  type MedianClientOptions,
  type MedianResult,
  newId,
  type RunningResult,
  SESSION_ID_HEADER,
  type SessionPage,
  type SessionSummary,
} from "./client";
export { type AnyIterable, inBatches } from "./batching";
export {
  decodeStatusDetails,
  type ErrorDetails,
  isServiceError,
  MedianError,
  STATUS_DETAILS_TRAILER,
} from "./errors";
export { DEFAULT_RETRY_FOR_MS, isRetryable } from "./resume";
export { checkToken, type TlsOptions } from "./security";
export { status } from "@grpc/grpc-js";
export type {
  BadRequest_FieldViolation as FieldViolation,
  ErrorInfo,
  QuotaFailure_Violation as QuotaViolation,
} from "./gen/google/rpc/error_details";
