#!/usr/bin/env node
/**
 * The command-line client of median.v1.MedianService, a small program on the library
 * (`MedianClient`):
 *
 *   run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]
 *       [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--retry-for SECONDS]
 *
 * Reads numbers from standard input, streams them into a session in batches (resuming after a
 * retryable failure for up to --retry-for seconds, exactly once), and prints the session's count
 * and median (or, with --running, the running median after every request).
 * Exit status: 0 on success, 1 for any gRPC error, 2 for a bad command line or a bad number.
 */
import { readFileSync } from "node:fs";
import { text } from "node:stream/consumers";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";

import { batches } from "./batching";
import { MedianClient, type MedianClientOptions } from "./client";
import { MedianError } from "./errors";
import { BadTokenError, formatDouble, parseNumbers } from "./numbers";
import { checkToken, type TlsOptions } from "./security";

const USAGE =
  "usage: run --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]\n" +
  "           [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--retry-for SECONDS]";
const DEFAULT_BATCH = 1000;
const DEFAULT_RETRY_FOR_SECONDS = 30;
/** The environment variable read for the token when --token is not given. */
const TOKEN_VARIABLE = "MEDIAN_TOKEN";

/** 1: a gRPC error, or any other failure once the input was read; 2: bad usage or input. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

interface Options {
  target: string;
  session: string | undefined;
  batch: number;
  running: boolean;
  delete: boolean;
  client: MedianClientOptions;
}

/** A command line the client cannot run with. */
class UsageError extends Error {
  override name = "UsageError";
}

function readPem(flag: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) {
    return undefined;
  }
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${flag}: cannot read ${JSON.stringify(path)}: ${reason}`);
  }
}

function parseOptions(args: string[], env: NodeJS.ProcessEnv): Options {
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
        token: { type: "string" },
        "tls-ca": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "retry-for": { type: "string" },
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
  let retryForSeconds = DEFAULT_RETRY_FOR_SECONDS;
  if (values["retry-for"] !== undefined) {
    const given = values["retry-for"];
    retryForSeconds = /^[0-9]+(\.[0-9]*)?$/.test(given) ? Number(given) : Number.NaN;
    if (!Number.isFinite(retryForSeconds)) {
      throw new UsageError(
        `--retry-for must be a number of seconds, 0 or more, not ${JSON.stringify(given)}`,
      );
    }
  }
  // An empty MEDIAN_TOKEN counts as unset; an empty --token is an error.
  const token = values.token ?? (env[TOKEN_VARIABLE] || undefined);
  if (token !== undefined) {
    try {
      checkToken(token);
    } catch (error) {
      const source = values.token === undefined ? TOKEN_VARIABLE : "--token";
      throw new UsageError(`${source}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) {
    throw new UsageError(
      "--tls-cert and --tls-key go together: the client certificate and its key",
    );
  }
  const ca = readPem("--tls-ca", values["tls-ca"]);
  const cert = readPem("--tls-cert", values["tls-cert"]);
  const key = readPem("--tls-key", values["tls-key"]);
  const tls: TlsOptions | undefined =
    ca === undefined && cert === undefined
      ? undefined
      : {
          ...(ca === undefined ? {} : { ca }),
          ...(cert === undefined || key === undefined ? {} : { cert, key }),
        };
  const client: MedianClientOptions = {
    retryForMs: retryForSeconds * 1000,
    ...(token === undefined ? {} : { token }),
    ...(tls === undefined ? {} : { tls }),
  };
  return {
    target: values.target,
    session: values.session,
    batch,
    running: values.running,
    delete: values.delete,
    client,
  };
}

function printLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

function countAndMedian(numberCount: bigint, median: number | undefined): string {
  const count = `count=${numberCount}`;
  return median === undefined ? count : `${count} median=${formatDouble(median)}`;
}

async function run(client: MedianClient, options: Options, numbers: number[]): Promise<void> {
  let sessionId = options.session;
  if (sessionId === undefined) {
    sessionId = await client.createSession();
    printLine(`session=${sessionId}`);
  }

  if (options.running) {
    for await (const result of client.runningMedian(sessionId, batches(numbers, options.batch))) {
      printLine(countAndMedian(result.numberCount, result.median));
    }
  } else {
    const added = await client.addNumbers(sessionId, numbers, { batchSize: options.batch });
    if (added.numberCount === 0n) {
      printLine(countAndMedian(added.numberCount, undefined));
    } else {
      const current = await client.getMedian(sessionId);
      printLine(countAndMedian(current.numberCount, current.median));
    }
  }

  if (options.delete) {
    await client.deleteSession(sessionId);
  }
}

/** One line each: `error: <CODE_NAME>: <message>`, then one `detail: ...` per google.rpc detail. */
function describeError(error: MedianError): string[] {
  const oneLine = (value: string): string => value.replace(/\s*[\r\n]+\s*/g, " ").trim();
  const lines = [`error: ${error.codeName}: ${oneLine(error.details)}`];
  for (const violation of error.fieldViolations) {
    lines.push(`detail: BadRequest ${violation.field}: ${oneLine(violation.description)}`);
  }
  for (const violation of error.quotaViolations) {
    lines.push(`detail: QuotaFailure ${violation.subject}: ${oneLine(violation.description)}`);
  }
  for (const info of error.errorInfos) {
    lines.push(`detail: ErrorInfo ${info.reason} ${info.domain}`);
  }
  return lines;
}

async function main(args: string[]): Promise<number> {
  let options: Options;
  let numbers: number[];
  try {
    options = parseOptions(args, process.env);
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

  const client = new MedianClient(options.target, options.client);
  try {
    await run(client, options, numbers);
    return 0;
  } catch (error) {
    if (error instanceof MedianError) {
      console.error(describeError(error).join("\n"));
      return EXIT_FAILURE;
    }
    throw error;
  } finally {
    client.close();
  }
}

// grpc-js names an IP-address target as the TLS server name, for which Node.js prints a
// deprecation warning (DEP0123) once; the certificate is still checked against the address.
// Standard error is for the client's own messages, so the command line keeps such notices off.
process.noDeprecation = true;

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
