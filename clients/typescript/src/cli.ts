/**
 * The command-line client of median.v1.MedianService:
 *
 *   run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]
 *
 * Reads numbers from standard input, streams them into a session in batches, and prints the
 * session's count and median (or, with --running, the running median after every batch).
 * Exit status: 0 on success, 1 for any gRPC error, 2 for a bad command line or a bad number.
 */
import { randomBytes } from "node:crypto";
import { text } from "node:stream/consumers";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";

import {
  type AddNumbersResponse,
  type GetMedianResponse,
  MedianServiceClient,
  type RunningMedianResponse,
} from "./gen/median/v1/median";
import { BadTokenError, batches, formatDouble, parseNumbers } from "./numbers";

const USAGE = "usage: run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]";
const DEFAULT_BATCH = 1000;
const UNARY_DEADLINE_MS = 10_000;
const STREAM_DEADLINE_MS = 600_000;
/** The request metadata a proxy may hash on to send every call of one session to one server. */
const SESSION_HEADER = "median-session-id";

/** 1: a gRPC error, or any other failure once the input was read; 2: bad usage or input. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

interface Options {
  target: string;
  session: string | undefined;
  batch: number;
  running: boolean;
  delete: boolean;
}

/** A command line the client cannot run with. */
class UsageError extends Error {
  override name = "UsageError";
}

function parseOptions(args: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        target: { type: "string" },
        session: { type: "string" },
        batch: { type: "string" },
        running: { type: "boolean", default: false },
        delete: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.target === undefined || values.target === "") {
    throw new UsageError("--target HOST:PORT is required");
  }
  let batch = DEFAULT_BATCH;
  if (values.batch !== undefined) {
    batch = /^[0-9]+$/.test(values.batch) ? Number(values.batch) : Number.NaN;
    if (!Number.isSafeInteger(batch) || batch < 1) {
      const given = JSON.stringify(values.batch);
      throw new UsageError(`--batch must be a positive integer, not ${given}`);
    }
  }
  return {
    target: values.target,
    session: values.session,
    batch,
    running: values.running,
    delete: values.delete,
  };
}

/** A new session id: 128 bits from a cryptographically secure source, URL-safe, 22 characters. */
function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}

function sessionMetadata(sessionId: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(SESSION_HEADER, sessionId);
  return metadata;
}

function deadlineIn(milliseconds: number): Partial<grpc.CallOptions> {
  return { deadline: Date.now() + milliseconds };
}

function printLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

function countAndMedian(numberCount: bigint, median: number | undefined): string {
  const count = `count=${numberCount}`;
  return median === undefined ? count : `${count} median=${formatDouble(median)}`;
}

/** The thin typed layer over the generated client: one promise per unary call or stream. */
class MedianSession {
  private readonly metadata: grpc.Metadata;

  constructor(
    private readonly client: MedianServiceClient,
    readonly sessionId: string,
  ) {
    this.metadata = sessionMetadata(sessionId);
  }

  create(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.createSession(
        { sessionId: this.sessionId },
        this.metadata,
        deadlineIn(UNARY_DEADLINE_MS),
        (error) => (error ? reject(error) : resolve()),
      );
    });
  }

  /** One AddNumbers client stream: writes every batch, half-closes, and waits for the answer. */
  addNumbers(numberBatches: Iterable<number[]>): Promise<AddNumbersResponse> {
    return new Promise((resolve, reject) => {
      const call = this.client.addNumbers(
        this.metadata,
        deadlineIn(STREAM_DEADLINE_MS),
        (error, response) => (error ? reject(error) : resolve(response)),
      );
      for (const numbers of numberBatches) {
        call.write({ sessionId: this.sessionId, numbers, requestId: "" });
      }
      call.end();
    });
  }

  /**
   * One RunningMedian bidirectional stream: writes every batch and half-closes, and hands each
   * answer to `onResponse` as it arrives. Settles once the server ends the stream, so that the
   * answers received before an error are all delivered first.
   */
  runningMedian(
    numberBatches: Iterable<number[]>,
    onResponse: (response: RunningMedianResponse) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = this.client.runningMedian(this.metadata, deadlineIn(STREAM_DEADLINE_MS));
      let failure: grpc.ServiceError | undefined;
      call.on("data", onResponse);
      call.on("error", (error: grpc.ServiceError) => {
        failure = error;
      });
      call.on("end", () => (failure ? reject(failure) : resolve()));
      for (const numbers of numberBatches) {
        call.write({ sessionId: this.sessionId, numbers, requestId: "" });
      }
      call.end();
    });
  }

  getMedian(): Promise<GetMedianResponse> {
    return new Promise((resolve, reject) => {
      this.client.getMedian(
        { sessionId: this.sessionId },
        this.metadata,
        deadlineIn(UNARY_DEADLINE_MS),
        (error, response) => (error ? reject(error) : resolve(response)),
      );
    });
  }

  delete(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.deleteSession(
        { sessionId: this.sessionId },
        this.metadata,
        deadlineIn(UNARY_DEADLINE_MS),
        (error) => (error ? reject(error) : resolve()),
      );
    });
  }
}

async function run(
  client: MedianServiceClient,
  options: Options,
  numbers: number[],
): Promise<void> {
  const session = new MedianSession(client, options.session ?? newSessionId());
  if (options.session === undefined) {
    await session.create();
    printLine(`session=${session.sessionId}`);
  }

  const requests = batches(numbers, options.batch);
  if (options.running) {
    await session.runningMedian(requests, (response) => {
      printLine(countAndMedian(response.numberCount, response.median));
    });
  } else {
    const added = await session.addNumbers(requests);
    if (added.numberCount === 0n) {
      printLine(countAndMedian(added.numberCount, undefined));
    } else {
      const current = await session.getMedian();
      printLine(countAndMedian(current.numberCount, current.median));
    }
  }

  if (options.delete) {
    await session.delete();
  }
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return (
    error instanceof Error &&
    "code" in error &&
    typeof error.code === "number" &&
    "details" in error
  );
}

/** `error: <STATUS_CODE_NAME>: <message>`, always on one line. */
function describeRpcError(error: grpc.ServiceError): string {
  const name = grpc.status[error.code] ?? `UNKNOWN_STATUS_${error.code}`;
  return `error: ${name}: ${error.details.replace(/\s*[\r\n]+\s*/g, " ").trim()}`;
}

async function main(args: string[]): Promise<number> {
  let options: Options;
  let numbers: number[];
  try {
    options = parseOptions(args);
    numbers = parseNumbers(await text(process.stdin));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (error instanceof BadTokenError) {
      console.error(`error: ${error.message}`);
      return EXIT_USAGE;
    }
    throw error;
  }

  const client = new MedianServiceClient(options.target, grpc.credentials.createInsecure());
  try {
    await run(client, options, numbers);
    return 0;
  } catch (error) {
    if (isServiceError(error)) {
      console.error(describeRpcError(error));
      return EXIT_FAILURE;
    }
    throw error;
  } finally {
    client.close();
  }
}

// The one line of `error: ...` is the only thing a failing call may print on stderr; grpc-js's
// own logging stays off unless asked for with GRPC_VERBOSITY.
if (process.env["GRPC_VERBOSITY"] === undefined) {
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
}

// A reader of stdout that went away (`run ... | head -1`) stops the client quietly, as SIGPIPE
// would stop a C program; there is nothing left to flush.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") {
    throw error;
  }
  process.exit(EXIT_FAILURE);
});

// Setting exitCode, not calling process.exit(), lets stdout drain before the process ends.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT_FAILURE;
  },
);
