/** Unit tests that need no server: error details, batching, the input source, tokens, TLS settings. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as grpc from "@grpc/grpc-js";

import { batches, inBatches, Source, SourceFailure } from "../batching";
import {
  decodeStatusDetails,
  isServiceError,
  MedianError,
  STATUS_DETAILS_TRAILER,
} from "../errors";
import { Any } from "../gen/google/protobuf/any";
import { BadRequest, ErrorInfo, QuotaFailure } from "../gen/google/rpc/error_details";
import { Status } from "../gen/google/rpc/status";
import { newId } from "../client";
import { BadTokenError, formatDouble, parseNumbers } from "../numbers";
import { isRetryable, Resumption } from "../resume";
import { checkToken, security } from "../security";

function pack(typeName: string, value: Uint8Array): Any {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) };
}

function serviceError(
  code: grpc.status,
  details: string,
  trailers = new grpc.Metadata(),
): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: trailers });
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    out.push(item);
  }
  return out;
}

describe("MedianError", () => {
  it("decodes BadRequest, QuotaFailure and ErrorInfo from grpc-status-details-bin", () => {
    const status = Status.encode({
      code: grpc.status.INVALID_ARGUMENT,
      message: "bad",
      details: [
        pack(
          "google.rpc.BadRequest",
          BadRequest.encode({
            fieldViolations: [
              {
                field: "numbers[3]",
                description: "nan is not finite",
                reason: "",
                localizedMessage: undefined,
              },
            ],
          }).finish(),
        ),
        pack(
          "google.rpc.QuotaFailure",
          QuotaFailure.encode({
            violations: [
              {
                subject: "--max-sessions",
                description: "limit 2",
                apiService: "",
                quotaMetric: "",
                quotaId: "",
                quotaDimensions: {},
                quotaValue: 0n,
                futureQuotaValue: undefined,
              },
            ],
          }).finish(),
        ),
        pack(
          "google.rpc.ErrorInfo",
          ErrorInfo.encode({
            reason: "MAX_SESSIONS",
            domain: "median.v1",
            metadata: { limit: "2" },
          }).finish(),
        ),
        pack("google.rpc.Help", new Uint8Array([])),
      ],
    }).finish();
    const trailers = new grpc.Metadata();
    trailers.set(STATUS_DETAILS_TRAILER, Buffer.from(status));
    const error = MedianError.fromServiceError(
      serviceError(grpc.status.INVALID_ARGUMENT, "bad", trailers),
    );

    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(error.codeName, "INVALID_ARGUMENT");
    assert.equal(error.details, "bad");
    assert.equal(error.message, "INVALID_ARGUMENT: bad");
    assert.ok(error instanceof Error);
    assert.deepEqual(
      error.fieldViolations.map((v) => [v.field, v.description]),
      [["numbers[3]", "nan is not finite"]],
    );
    assert.deepEqual(
      error.quotaViolations.map((v) => [v.subject, v.description]),
      [["--max-sessions", "limit 2"]],
    );
    assert.deepEqual(
      error.errorInfos.map((i) => [i.reason, i.domain, i.metadata]),
      [["MAX_SESSIONS", "median.v1", { limit: "2" }]],
    );
    assert.deepEqual(
      error.other.map((d) => d.typeUrl),
      ["type.googleapis.com/google.rpc.Help"],
    );
  });

  it("has empty details when the trailer is missing or not a Status", () => {
    const garbage = new grpc.Metadata();
    garbage.set(STATUS_DETAILS_TRAILER, Buffer.from([0xff, 0xff, 0xff]));
    for (const trailers of [new grpc.Metadata(), garbage]) {
      const details = decodeStatusDetails(trailers);
      assert.deepEqual(details, {
        fieldViolations: [],
        quotaViolations: [],
        errorInfos: [],
        other: [],
      });
    }
  });

  it("tells grpc-js call errors from other errors", () => {
    assert.ok(isServiceError(serviceError(grpc.status.NOT_FOUND, "x")));
    assert.ok(!isServiceError(new Error("x")));
    assert.ok(!isServiceError({ code: 5, details: "x", metadata: new grpc.Metadata() }));
  });
});

describe("retries", () => {
  it("retries UNAVAILABLE and a reset stream, never a refusal", () => {
    assert.ok(isRetryable(serviceError(grpc.status.UNAVAILABLE, "Connection dropped")));
    assert.ok(isRetryable(serviceError(grpc.status.INTERNAL, "Received RST_STREAM with code 2")));
    for (const code of [
      grpc.status.INVALID_ARGUMENT,
      grpc.status.NOT_FOUND,
      grpc.status.RESOURCE_EXHAUSTED,
      grpc.status.UNAUTHENTICATED,
      grpc.status.PERMISSION_DENIED,
      grpc.status.FAILED_PRECONDITION,
      grpc.status.ALREADY_EXISTS,
      grpc.status.DEADLINE_EXCEEDED,
      grpc.status.CANCELLED,
    ]) {
      assert.ok(!isRetryable(serviceError(code, "refused")), grpc.status[code]);
    }
    assert.ok(
      !isRetryable(
        serviceError(grpc.status.INTERNAL, "internal error; the server has logged the details"),
      ),
    );
    assert.ok(!isRetryable(new Error("UNAVAILABLE")));
  });

  it("does not retry a TLS handshake that failed on the server's certificate", () => {
    const lastError = (error: string): grpc.ServiceError =>
      serviceError(
        grpc.status.UNAVAILABLE,
        `No connection established. Last error: ${error}. Resolution note: `,
      );
    for (const error of [
      "Error: unable to verify the first certificate",
      "Error: self-signed certificate in certificate chain",
      "Error: certificate has expired",
      "Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: Host: example.com. is not in the cert's altnames: DNS:localhost",
    ]) {
      assert.ok(!isRetryable(lastError(error)), error);
    }
    for (const error of [
      "Error: connect ECONNREFUSED 127.0.0.1:50051",
      "Error: Client network socket disconnected before secure TLS connection was established",
    ]) {
      assert.ok(isRetryable(lastError(error)), error);
    }
  });

  it("gives up at once with a zero budget, and when the channel never comes back", async () => {
    const unavailable = serviceError(grpc.status.UNAVAILABLE, "down");
    const off = new Resumption(0, Date.now() + 60_000, undefined, async () => true);
    assert.equal(await off.beforeRetry(unavailable), false);

    let waits = 0;
    const never = new Resumption(300, Date.now() + 60_000, undefined, async (limit) => {
      waits += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, limit - Date.now())));
      return false;
    });
    const started = Date.now();
    assert.equal(await never.beforeRetry(unavailable), false);
    assert.equal(waits, 1);
    assert.ok(Date.now() - started < 5_000);
  });

  it("stops within the budget across failures, and an acknowledgement renews it", async () => {
    const unavailable = serviceError(grpc.status.UNAVAILABLE, "down");
    const resumption = new Resumption(400, Date.now() + 60_000, undefined, async () => true);
    const started = Date.now();
    let resumes = 0;
    while (await resumption.beforeRetry(unavailable)) {
      resumes += 1;
    }
    const spent = Date.now() - started;
    assert.ok(resumes >= 2, `resumed ${resumes} times`);
    assert.ok(spent >= 350 && spent < 5_000, `spent ${spent} ms`);
    resumption.acknowledged();
    assert.equal(await resumption.beforeRetry(unavailable), true);
  });

  it("never waits past the deadline", async () => {
    const unavailable = serviceError(grpc.status.UNAVAILABLE, "down");
    const resumption = new Resumption(60_000, Date.now() + 300, undefined, async () => true);
    const started = Date.now();
    while (await resumption.beforeRetry(unavailable)) {
      // keeps failing
    }
    assert.ok(Date.now() - started < 2_000);
  });

  it("rejects while it waits when the signal aborts", async () => {
    const controller = new AbortController();
    const resumption = new Resumption(
      60_000,
      Date.now() + 60_000,
      controller.signal,
      async () => true,
    );
    const waiting = resumption.beforeRetry(serviceError(grpc.status.UNAVAILABLE, "down"));
    controller.abort();
    await assert.rejects(waiting);
  });
});

describe("batching", () => {
  it("cuts plain and async iterables into batches, one empty batch for none", async () => {
    assert.deepEqual(await collect(inBatches([1, 2, 3, 4, 5], 2)), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(await collect(inBatches([], 3)), [[]]);
    async function* numbers(): AsyncGenerator<number> {
      yield 1;
      yield 2;
      yield 3;
    }
    assert.deepEqual(await collect(inBatches(numbers(), 3)), [[1, 2, 3]]);
    await assert.rejects(collect(inBatches([1], 0)), RangeError);
  });

  it("keeps a pulled item for the next attempt until it is taken", async () => {
    let pulls = 0;
    async function* items(): AsyncGenerator<number> {
      for (let i = 1; i <= 2; i += 1) {
        pulls += 1;
        yield i;
      }
    }
    const source = new Source(items());
    const first = await source.peek();
    assert.deepEqual(await source.peek(), first);
    assert.equal(pulls, 1);
    source.take(first);
    const second = await source.peek();
    source.take(second);
    assert.deepEqual([first.value, second.value], [1, 2]);
    const end = await source.peek();
    source.take(end);
    assert.equal(source.done, true);
  });

  it("wraps the input's own error", async () => {
    // eslint-disable-next-line require-yield
    async function* failing(): AsyncGenerator<number> {
      throw new Error("input broke");
    }
    const source = new Source(failing());
    await assert.rejects(source.peek(), (error: unknown) => error instanceof SourceFailure);
  });
});

describe("ids, tokens and TLS settings", () => {
  it("makes 22-character URL-safe ids", () => {
    const ids = new Set(Array.from({ length: 100 }, newId));
    assert.equal(ids.size, 100);
    for (const id of ids) {
      assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    }
  });

  it("refuses tokens that cannot be a header value", () => {
    assert.equal(checkToken("abcdef0123456789"), "abcdef0123456789");
    for (const bad of ["", "with space", "line\n", "caf\u00e9"]) {
      assert.throws(() => checkToken(bad), TypeError);
    }
  });

  it("sends the token as metadata only on plaintext, and needs a key with a certificate", () => {
    assert.deepEqual(security(undefined, "abcdef0123456789").callMetadata, [
      ["authorization", "Bearer abcdef0123456789"],
    ]);
    assert.deepEqual(security({}, "abcdef0123456789").callMetadata, []);
    assert.equal(security({}, undefined).channelCredentials._isSecure(), true);
    assert.equal(security(undefined, undefined).channelCredentials._isSecure(), false);
    assert.throws(() => security({ cert: "pem" }, undefined), TypeError);
  });
});

describe("command-line numbers", () => {
  it("parses decimal tokens and the three special ones, and refuses anything else", () => {
    assert.deepEqual(parseNumbers(" 1 -2.5\n1e3\t.5 "), [1, -2.5, 1000, 0.5]);
    assert.deepEqual(parseNumbers("NaN Infinity -Infinity").map(String), [
      "NaN",
      "Infinity",
      "-Infinity",
    ]);
    for (const bad of ["0x10", "1_0", "inf", "abc"]) {
      assert.throws(() => parseNumbers(bad), BadTokenError);
    }
  });

  it("formats doubles so that they parse back exactly", () => {
    for (const value of [0.1, -0, 1e300, 2.5, 5e-324]) {
      assert.ok(Object.is(Number(formatDouble(value)), value));
    }
    assert.deepEqual([...batches([1, 2, 3], 2)], [[1, 2], [3]]);
  });
});
