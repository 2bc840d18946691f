/**
 * When an ingest call resumes after a failure, and how long it waits first.
 *
 * Backoff is exponential with "equal jitter" (half fixed, half random: AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015), from about 100 ms up to about 2 s per wait.
 */
import { setTimeout as sleep } from "node:timers/promises";

import * as grpc from "@grpc/grpc-js";

import { isServiceError } from "./errors";

/** Default time an ingest call keeps reconnecting after failures (milliseconds). */
export const DEFAULT_RETRY_FOR_MS = 30_000;
const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2_000;

/**
 * How grpc-js reports a TLS handshake that failed on the server's certificate. A channel that
 * cannot connect fails calls with `UNAVAILABLE` "No connection established. Last error: <the
 * error>", which keeps only the error's text, so there is no error code to check. Node.js words
 * a certificate the client does not trust as OpenSSL's verification message ("unable to verify
 * the first certificate", "self-signed certificate in certificate chain", "certificate has
 * expired", ...: each names the certificate), and a certificate of another host as
 * `Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames`.
 * Only the error's first sentence is searched; a refused or dropped connection never mentions a
 * certificate there.
 */
const CERTIFICATE_NOT_VERIFIED =
  /Last error: Error(?: \[ERR_TLS_CERT_ALTNAME_INVALID\])?: [^.]*certificate/;

/**
 * Whether a failed attempt may be resumed: `UNAVAILABLE` (the server is down, draining, or a
 * proxy's shard is), but not a TLS handshake that failed on the server's certificate, which
 * waiting cannot fix; or a stream that the transport reset under the call, which grpc-js reports
 * as `INTERNAL` with a message starting `Received RST_STREAM`. A refusal by the server
 * (`INVALID_ARGUMENT`, `NOT_FOUND`, ...) is never retried, nor is an `INTERNAL` of the server's.
 */
export function isRetryable(error: unknown): boolean {
  if (!isServiceError(error)) {
    return false;
  }
  if (error.code === grpc.status.UNAVAILABLE) {
    return !CERTIFICATE_NOT_VERIFIED.test(error.details);
  }
  return error.code === grpc.status.INTERNAL && error.details.startsWith("Received RST_STREAM");
}

/**
 * The retry budget of one ingest call: the time spent disconnected (from a failure until the
 * channel is ready again) since the last acknowledged request may add up to `retryForMs`; no
 * wait reaches past `deadline`.
 */
export class Resumption {
  private downSince: number | undefined;
  private spentMs = 0;
  private attempt = 0;

  constructor(
    private readonly retryForMs: number,
    private readonly deadline: number,
    private readonly signal: AbortSignal | undefined,
    /** Waits until the channel is connected or `limit` (ms since the epoch); true if it is. */
    private readonly waitForReady: (limit: number) => Promise<boolean>,
  ) {}

  /** The channel is connected again: the clock of this outage stops. */
  private connected(): void {
    if (this.downSince !== undefined) {
      this.spentMs += Date.now() - this.downSince;
      this.downSince = undefined;
    }
    this.attempt = 0;
  }

  /** The server acknowledged a request: the whole budget is available again. */
  acknowledged(): void {
    this.downSince = undefined;
    this.spentMs = 0;
    this.attempt = 0;
  }

  /**
   * After a failed attempt: waits out the backoff, then until the channel is connected again,
   * and returns true when the call should resume; false when `error` is not retryable or the
   * budget or the deadline runs out first. Rejects when the caller aborts while it waits.
   */
  async beforeRetry(error: unknown): Promise<boolean> {
    if (this.retryForMs <= 0 || !isRetryable(error)) {
      return false;
    }
    const now = Date.now();
    this.downSince ??= now;
    const budgetEnd = now + this.retryForMs - this.spentMs - (now - this.downSince);
    const limit = Math.min(this.deadline, budgetEnd);
    if (now >= limit) {
      return false;
    }
    const ceiling = Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** this.attempt);
    const delay = Math.min(ceiling / 2 + Math.random() * (ceiling / 2), limit - now);
    this.attempt += 1;
    await sleep(delay, undefined, this.signal === undefined ? {} : { signal: this.signal });
    if (!(await this.waitForReady(limit))) {
      return false;
    }
    this.connected();
    return true;
  }
}
