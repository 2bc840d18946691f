/**
 * `MedianClient`: a promise-based client of `median.v1.MedianService` on @grpc/grpc-js.
 */
import { randomBytes } from "node:crypto";

import * as grpc from "@grpc/grpc-js";

import {
  type AnyIterable,
  asAsyncIterable,
  checkBatchSize,
  inBatches,
  Source,
  SourceFailure,
} from "./batching";
import { MedianError, toMedianError } from "./errors";
import {
  type AddNumbersRequest,
  type AddNumbersResponse,
  type CreateSessionResponse,
  type GetMedianResponse,
  type ListSessionsResponse,
  MedianServiceClient,
  type RunningMedianRequest,
  type RunningMedianResponse,
} from "./gen/median/v1/median";
import { DEFAULT_RETRY_FOR_MS, Resumption } from "./resume";
import { security, type TlsOptions } from "./security";

/** The request metadata that names a call's session, so that a proxy can route on it. */
export const SESSION_ID_HEADER = "median-session-id";
/** Default deadline of each attempt of a unary call, from the attempt's start (milliseconds). */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default deadline of an ingest call (`addNumbers`, `runningMedian`), resumes included (ms). */
export const DEFAULT_STREAM_TIMEOUT_MS = 600_000;
/** Default numbers per request of `addNumbers`. */
export const DEFAULT_BATCH_SIZE = 1_000;
/** Default sessions per page of `listSessions`. */
export const DEFAULT_PAGE_SIZE = 100;
/**
 * Requests of one ingest call that may be unacknowledged at once. `addNumbers` half-closes its
 * stream after this many requests, reads the answer, and goes on in a new stream; `runningMedian`
 * waits for answers before it sends more. It bounds the memory kept for resending and the work
 * resent after a failure, and stays below the 1,024 request ids a session is sure to remember.
 */
export const MAX_UNACKNOWLEDGED = 256;

/**
 * A new id: 128 bits from a cryptographically secure source, URL-safe base64 without padding
 * (22 characters of `[A-Za-z0-9_-]`). Used for sessions and for the writer part of request ids.
 */
export function newId(): string {
  return randomBytes(16).toString("base64url");
}

/** How a `MedianClient` connects, authenticates and times its calls. */
export interface MedianClientOptions {
  /** Connect over TLS; `{}` trusts the system's roots. Default: plaintext. */
  readonly tls?: TlsOptions;
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /**
   * Deadline of each attempt of a unary call (ms), unless the call gives its own `deadline`;
   * default 10 s. A resend after a retryable failure gets a new one.
   */
  readonly timeoutMs?: number;
  /** Default deadline of ingest calls, resumes included (ms); default 600 s. */
  readonly streamTimeoutMs?: number;
  /**
   * How long a call may spend reconnecting after failures (ms): a unary call since its first
   * failure, an ingest call since its last acknowledged request; default 30 s; 0 turns resuming
   * off.
   */
  readonly retryForMs?: number;
  /** Extra grpc-js channel options (they win over the client's). */
  readonly channelOptions?: grpc.ChannelOptions;
  /** grpc-js client interceptors (tracing, logging), run on every call. */
  readonly interceptors?: grpc.Interceptor[];
}

/** Options of one call. */
export interface CallOptions {
  /** Cancels the call; the promise rejects (or the iterator throws) with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * The call's deadline, resumes included: a `Date`, or milliseconds since the epoch. Default:
   * `timeoutMs` for each attempt of a unary call (resumes are bounded by `retryForMs` alone),
   * `streamTimeoutMs` for an ingest call.
   */
  readonly deadline?: Date | number;
}

/** Options of an ingest call. */
export interface IngestOptions extends CallOptions {
  /** This call's retry budget (ms); default the client's `retryForMs`; 0: never resume. */
  readonly retryForMs?: number;
}

/** Options of `addNumbers`. */
export interface AddOptions extends IngestOptions {
  /** Numbers per request (at least 1); default 1,000. */
  readonly batchSize?: number;
}

/** The session after `addNumbers`. */
export interface AddResult {
  readonly sessionId: string;
  /** Numbers this call added. */
  readonly addedCount: bigint;
  /** Numbers in the session. */
  readonly numberCount: bigint;
  /** The session's median; undefined exactly when `numberCount` is 0. */
  readonly median: number | undefined;
}

/** The session right after one `runningMedian` request was applied. */
export interface RunningResult extends AddResult {
  /** The request's id, `<writer>:<seq>`. */
  readonly requestId: string;
}

/** The answer of `getMedian`. */
export interface MedianResult {
  readonly sessionId: string;
  readonly numberCount: bigint;
  readonly median: number;
}

/** One session of `listSessions`. */
export interface SessionSummary {
  readonly sessionId: string;
  readonly numberCount: bigint;
}

/** One page of `listSessionsPage`. */
export interface SessionPage {
  readonly sessions: readonly SessionSummary[];
  /** Give it back for the next page; "" on the last page. */
  readonly nextPageToken: string;
}

type UnaryCallback<T> = (error: grpc.ServiceError | null, response: T) => void;

/**
 * A client of `median.v1.MedianService`.
 *
 * Every call that names a session sends its id in the `median-session-id` metadata, has a
 * deadline (the client's default or the call's `deadline`), can be cancelled with an
 * `AbortSignal`, and fails with a `MedianError` (status code, message, decoded `google.rpc`
 * details).
 *
 * Ingest is exactly-once: `addNumbers` and `runningMedian` give every request the id
 * `<writer>:<seq>` (a new writer id per call) and, after a retryable failure (`UNAVAILABLE`, a
 * reset stream), reconnect with backoff and resend, in order, exactly the requests the server
 * had not acknowledged. Refusals are never retried.
 *
 * ```ts
 * const client = new MedianClient("127.0.0.1:50051");
 * const sessionId = await client.createSession();
 * await client.addNumbers(sessionId, [1, 5, 2]);
 * console.log((await client.getMedian(sessionId)).median); // 2
 * client.close();
 * ```
 */
export class MedianClient {
  private readonly stub: MedianServiceClient;
  private readonly callMetadata: ReadonlyArray<readonly [string, string]>;
  private readonly timeoutMs: number;
  private readonly streamTimeoutMs: number;
  private readonly retryForMs: number;

  /**
   * Opens a channel to `target` ("host:port"; the TLS name checked is its host). Throws a
   * `TypeError` for a token that cannot be a header, or a `tls.cert` without `tls.key`.
   */
  constructor(target: string, options: MedianClientOptions = {}) {
    const { channelCredentials, callMetadata } = security(options.tls, options.token);
    this.callMetadata = callMetadata;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.streamTimeoutMs = options.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
    this.retryForMs = options.retryForMs ?? DEFAULT_RETRY_FOR_MS;
    this.stub = new MedianServiceClient(target, channelCredentials, {
      // Reconnect soon after a server comes back, not after grpc-js's default of up to 120 s.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2_000,
      ...options.channelOptions,
      ...(options.interceptors === undefined ? {} : { interceptors: options.interceptors }),
    });
  }

  /** Closes the channel; calls in flight fail. */
  close(): void {
    this.stub.close();
  }

  /**
   * Makes a new, empty session and returns its id. Without `sessionId` the client picks one
   * (128 random bits, URL-safe), so that the routing header names the session on this first
   * call too. `ALREADY_EXISTS` when the id is taken; `INVALID_ARGUMENT` for a malformed id.
   *
   * Resumed after `UNAVAILABLE` like every call. When the client picked the id, an
   * `ALREADY_EXISTS` after a resend means the first attempt made the session, and counts as
   * success; for an id the caller chose it cannot be told apart and is thrown.
   */
  async createSession(sessionId?: string, options?: CallOptions): Promise<string> {
    const id = sessionId ?? newId();
    try {
      const response = await this.unary<CreateSessionResponse>(id, options, (m, o, cb) =>
        this.stub.createSession({ sessionId: id }, m, o, cb),
      );
      return response.sessionId;
    } catch (error) {
      if (
        sessionId === undefined &&
        error instanceof MedianError &&
        error.code === grpc.status.ALREADY_EXISTS &&
        error.attempts > 1
      ) {
        return id;
      }
      throw error;
    }
  }

  /** The session's count and median; `FAILED_PRECONDITION` while it has no numbers. */
  async getMedian(sessionId: string, options?: CallOptions): Promise<MedianResult> {
    const response = await this.unary<GetMedianResponse>(sessionId, options, (m, o, cb) =>
      this.stub.getMedian({ sessionId }, m, o, cb),
    );
    return { sessionId, numberCount: response.numberCount, median: response.median };
  }

  /**
   * Removes the session and its numbers; `NOT_FOUND` if there is none. A `NOT_FOUND` after a
   * resend (the first attempt may have deleted it) counts as success: the session is gone.
   */
  async deleteSession(sessionId: string, options?: CallOptions): Promise<void> {
    try {
      await this.unary(sessionId, options, (m, o, cb) =>
        this.stub.deleteSession({ sessionId }, m, o, cb),
      );
    } catch (error) {
      if (
        !(
          error instanceof MedianError &&
          error.code === grpc.status.NOT_FOUND &&
          error.attempts > 1
        )
      ) {
        throw error;
      }
    }
  }

  /** One page of the server's sessions, ordered by id (`pageSize` 0: the server's default). */
  async listSessionsPage(
    pageSize: number = DEFAULT_PAGE_SIZE,
    pageToken = "",
    options?: CallOptions,
  ): Promise<SessionPage> {
    const page = await this.unary<ListSessionsResponse>(undefined, options, (m, o, cb) =>
      this.stub.listSessions({ pageSize, pageToken }, m, o, cb),
    );
    return {
      sessions: page.sessions.map(({ sessionId, numberCount }) => ({ sessionId, numberCount })),
      nextPageToken: page.nextPageToken,
    };
  }

  /** Every session of the server, ordered by id, fetched `pageSize` at a time. */
  async *listSessions(
    pageSize: number = DEFAULT_PAGE_SIZE,
    options?: CallOptions,
  ): AsyncGenerator<SessionSummary> {
    let pageToken = "";
    do {
      const page = await this.listSessionsPage(pageSize, pageToken, options);
      yield* page.sessions;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
  }

  /**
   * Adds `numbers` (any iterable or async iterable; read lazily) to the session, `batchSize`
   * numbers per request, and returns the session's state after the last one.
   *
   * Exactly once: the numbers go out on `AddNumbers` streams of at most `MAX_UNACKNOWLEDGED`
   * requests; a stream's answer acknowledges all of its requests. After a retryable failure the
   * unacknowledged requests are resent, in order, with the same ids. Fails with a `MedianError`:
   * a refusal (e.g. `INVALID_ARGUMENT` for a NaN; the requests before it stay applied), or the
   * last failure once the retry budget or the deadline runs out (`UNAVAILABLE`,
   * `DEADLINE_EXCEEDED`; then the unacknowledged requests may or may not have been applied).
   * An error thrown by `numbers` ends the call with that error.
   */
  async addNumbers(
    sessionId: string,
    numbers: AnyIterable<number>,
    options: AddOptions = {},
  ): Promise<AddResult> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    checkBatchSize(batchSize);
    const { signal } = options;
    const { deadline, resumption, nextRequestId } = this.startIngest(options);
    const source = new Source(inBatches(numbers, batchSize));
    const nextRequest = (batch: number[]): AddNumbersRequest => ({
      sessionId,
      numbers: batch,
      requestId: nextRequestId(),
    });

    const pending: AddNumbersRequest[] = [];
    let addedCount = 0n;
    let last: AddNumbersResponse | undefined;
    try {
      while (last === undefined || !(await this.sourceEnded(source))) {
        let response: AddNumbersResponse | undefined;
        while (response === undefined) {
          try {
            response = await this.addNumbersStream(
              sessionId,
              pending,
              source,
              nextRequest,
              deadline,
              signal,
            );
          } catch (error) {
            await this.resumeOrThrow(error, resumption, signal);
          }
        }
        pending.length = 0;
        resumption.acknowledged();
        addedCount += response.addedCount;
        last = response;
      }
    } catch (error) {
      source.close();
      throw error instanceof SourceFailure ? error.cause : error;
    }
    return { sessionId, addedCount, numberCount: last.numberCount, median: last.median };
  }

  /**
   * Sends each batch (any iterable or async iterable of number arrays) as one `RunningMedian`
   * request and yields, per request and in order, the session's count and median right after
   * it was applied. Each request's answer is yielded exactly once, across resumes too: after a
   * retryable failure the unanswered requests are resent, in order, with the same ids (an
   * answer to a resent request that had been applied has `addedCount` 0).
   *
   * At most `MAX_UNACKNOWLEDGED` requests wait for answers at once. Leaving the loop early
   * cancels the stream (what was applied stays applied). Throws as `addNumbers` does.
   */
  async *runningMedian(
    sessionId: string,
    batches: AnyIterable<readonly number[]>,
    options: IngestOptions = {},
  ): AsyncGenerator<RunningResult> {
    const { signal } = options;
    const { deadline, resumption, nextRequestId } = this.startIngest(options);
    const source = new Source(asAsyncIterable(batches));
    const pending: RunningMedianRequest[] = [];
    try {
      for (;;) {
        const stream = new RunningStream(
          this.stub.runningMedian(this.metadata(sessionId), { deadline }),
          pending,
          source,
          (batch) => ({ sessionId, numbers: [...batch], requestId: nextRequestId() }),
          signal,
        );
        try {
          for await (const response of stream.answers()) {
            const request = pending.shift();
            stream.acknowledged();
            resumption.acknowledged();
            yield runningResult(response, request?.requestId ?? "");
          }
          return;
        } catch (error) {
          await this.resumeOrThrow(error, resumption, signal);
        } finally {
          await stream.stop();
        }
      }
    } finally {
      source.close();
    }
  }

  /** One `AddNumbers` stream: resends `pending`, then takes new requests up to the window. */
  private async addNumbersStream(
    sessionId: string,
    pending: AddNumbersRequest[],
    source: Source<number[]>,
    nextRequest: (batch: number[]) => AddNumbersRequest,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<AddNumbersResponse> {
    let call: grpc.ClientWritableStream<AddNumbersRequest> | undefined;
    const answer = new Promise<AddNumbersResponse>((resolve, reject) => {
      call = this.stub.addNumbers(this.metadata(sessionId), { deadline }, (error, response) =>
        error === null ? resolve(response) : reject(error),
      );
    });
    const stream = call!;
    // Settles only when the call fails: every wait below races it, so none outlives the call.
    const failure = new Promise<never>((_resolve, reject) => {
      answer.catch(reject);
    });
    failure.catch(() => undefined);
    const cancel = (): void => stream.cancel();
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      const write = async (request: AddNumbersRequest): Promise<void> => {
        if (!stream.write(request)) {
          await Promise.race([new Promise((resolve) => stream.once("drain", resolve)), failure]);
        }
      };
      for (const request of [...pending]) {
        await write(request);
      }
      while (pending.length < MAX_UNACKNOWLEDGED) {
        const result = await Promise.race([source.peek(), failure]);
        source.take(result);
        if (result.done === true) {
          break;
        }
        const request = nextRequest(result.value);
        pending.push(request);
        await write(request);
      }
      stream.end();
      return await answer;
    } catch (error) {
      stream.cancel();
      throw error;
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /**
   * What an ingest call starts with: its deadline, its retry budget, and the ids of its requests
   * (`<writer>:<seq>`, with a new writer id per call). Throws if the call's signal has aborted.
   */
  private startIngest(options: IngestOptions): {
    deadline: number;
    resumption: Resumption;
    nextRequestId: () => string;
  } {
    options.signal?.throwIfAborted();
    const deadline = this.deadline(options, this.streamTimeoutMs);
    const writer = newId();
    let seq = 0;
    return {
      deadline,
      resumption: this.resumption(options, deadline),
      nextRequestId: () => `${writer}:${++seq}`,
    };
  }

  /** Whether `source` has no more items, waiting for it to say so. */
  private async sourceEnded(source: Source<unknown>): Promise<boolean> {
    if (source.done) {
      return true;
    }
    const result = await source.peek();
    if (result.done === true) {
      source.take(result);
      return true;
    }
    return false;
  }

  /**
   * After a failed attempt of an ingest call: returns when the call should resume; otherwise
   * throws what the caller should see (the input's own error, the abort reason, or the failure
   * as a `MedianError`).
   */
  private async resumeOrThrow(
    error: unknown,
    resumption: Resumption,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (error instanceof SourceFailure) {
      throw error.cause;
    }
    signal?.throwIfAborted();
    let resume: boolean;
    try {
      resume = await resumption.beforeRetry(error);
    } finally {
      // An abort while waiting wins over how the wait ended.
      signal?.throwIfAborted();
    }
    if (!resume) {
      throw toMedianError(error);
    }
  }

  private resumption(options: IngestOptions, deadline: number): Resumption {
    return new Resumption(
      options.retryForMs ?? this.retryForMs,
      deadline,
      options.signal,
      (limit) =>
        new Promise((resolve) => {
          const { signal } = options;
          const onAbort = (): void => resolve(false);
          signal?.addEventListener("abort", onAbort, { once: true });
          this.stub.waitForReady(new Date(limit), (error) => {
            signal?.removeEventListener("abort", onAbort);
            resolve(error === undefined || error === null);
          });
        }),
    );
  }

  private deadline(options: CallOptions | undefined, defaultMs: number): number {
    const given = options?.deadline;
    return given === undefined ? Date.now() + defaultMs : epochMs(given);
  }

  /** A call's metadata: the routing header (when it names a session) and the plaintext token. */
  private metadata(sessionId: string | undefined): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (sessionId !== undefined) {
      metadata.set(SESSION_ID_HEADER, sessionId);
    }
    for (const [key, value] of this.callMetadata) {
      metadata.set(key, value);
    }
    return metadata;
  }

  /**
   * One unary call as a promise: deadline, metadata, abort, `MedianError`; resumed after a
   * retryable failure within the retry budget, as ingest calls are. Each attempt has the call's
   * `deadline` when it gives one (no resume goes past it), else `timeoutMs` of its own, so that
   * the default deadline does not cut resuming short of `retryForMs`.
   */
  private async unary<T>(
    sessionId: string | undefined,
    options: CallOptions | undefined,
    start: (
      metadata: grpc.Metadata,
      callOptions: Partial<grpc.CallOptions>,
      callback: UnaryCallback<T>,
    ) => grpc.ClientUnaryCall,
  ): Promise<T> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const given = options?.deadline;
    const callDeadline = given === undefined ? Infinity : epochMs(given);
    const resumption = this.resumption(
      { ...(signal === undefined ? {} : { signal }) },
      callDeadline,
    );
    for (let attempt = 1; ; attempt += 1) {
      const deadline = given === undefined ? Date.now() + this.timeoutMs : callDeadline;
      try {
        return await this.unaryAttempt(sessionId, deadline, signal, start);
      } catch (error) {
        try {
          await this.resumeOrThrow(error, resumption, signal);
        } catch (final) {
          if (final instanceof MedianError) {
            final.attempts = attempt;
          }
          throw final;
        }
      }
    }
  }

  private unaryAttempt<T>(
    sessionId: string | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
    start: (
      metadata: grpc.Metadata,
      callOptions: Partial<grpc.CallOptions>,
      callback: UnaryCallback<T>,
    ) => grpc.ClientUnaryCall,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      const call = start(this.metadata(sessionId), { deadline }, (error, response) => {
        signal?.removeEventListener("abort", onAbort);
        if (error === null) {
          resolve(response);
        } else {
          reject(error);
        }
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** A `deadline` option as milliseconds since the epoch. */
function epochMs(deadline: Date | number): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

function runningResult(response: RunningMedianResponse, requestId: string): RunningResult {
  return {
    sessionId: response.sessionId,
    addedCount: response.addedCount,
    numberCount: response.numberCount,
    median: response.median,
    requestId,
  };
}

/**
 * One `RunningMedian` stream of a `runningMedian` call: a writer task resends the pending
 * requests and then sends new ones while fewer than `MAX_UNACKNOWLEDGED` wait for answers; the
 * call reads the answers with `answers()`.
 */
class RunningStream {
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly stopping: Promise<void>;
  private stopNow!: () => void;
  private writerError: unknown;
  private readonly writing: Promise<void>;

  constructor(
    private readonly call: grpc.ClientDuplexStream<RunningMedianRequest, RunningMedianResponse>,
    private readonly pending: RunningMedianRequest[],
    private readonly source: Source<readonly number[]>,
    private readonly nextRequest: (batch: readonly number[]) => RunningMedianRequest,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.stopping = new Promise((resolve) => {
      this.stopNow = resolve;
    });
    this.signal?.addEventListener("abort", this.cancel, { once: true });
    this.writing = this.write().catch((error: unknown) => {
      this.writerError = error;
      this.call.cancel();
    });
  }

  private readonly cancel = (): void => this.call.cancel();

  /** The answers, in order; throws the call's failure, or the input's own error. */
  async *answers(): AsyncGenerator<RunningMedianResponse> {
    try {
      for await (const response of this.call as AsyncIterable<RunningMedianResponse>) {
        yield response;
      }
    } catch (error) {
      this.halt();
      await this.writing;
      throw this.writerError ?? error;
    }
    this.halt();
    await this.writing;
    if (this.writerError !== undefined) {
      throw this.writerError;
    }
    if (this.pending.length > 0 || !this.source.done) {
      throw new MedianError(
        grpc.status.INTERNAL,
        "the server ended the RunningMedian stream before answering every request",
      );
    }
  }

  /** An answer came: the writer may send another request. */
  acknowledged(): void {
    this.wake?.();
  }

  /** Ends this stream (a no-op once it ended by itself). */
  async stop(): Promise<void> {
    this.halt();
    this.call.cancel();
    this.signal?.removeEventListener("abort", this.cancel);
    await this.writing;
  }

  private halt(): void {
    this.stopped = true;
    this.stopNow();
    this.wake?.();
  }

  private async write(): Promise<void> {
    const send = async (request: RunningMedianRequest): Promise<void> => {
      if (!this.call.write(request)) {
        await Promise.race([
          new Promise((resolve) => this.call.once("drain", resolve)),
          this.stopping,
        ]);
      }
    };
    for (const request of [...this.pending]) {
      if (this.stopped) {
        return;
      }
      await send(request);
    }
    while (!this.stopped) {
      if (this.pending.length >= MAX_UNACKNOWLEDGED) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      const result = await Promise.race([this.source.peek(), this.stopping]);
      if (result === undefined || this.stopped) {
        return;
      }
      this.source.take(result);
      if (result.done === true) {
        this.call.end();
        return;
      }
      const request = this.nextRequest(result.value);
      this.pending.push(request);
      await send(request);
    }
  }
}
