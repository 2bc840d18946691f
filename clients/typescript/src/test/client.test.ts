/**
 * The library against a real `median-server` on a loopback port: every call, the routing
 * header, paging, error details, deadlines, cancellation, and exactly-once resume across a
 * server that is SIGKILLed and restarted on its --data-dir.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import * as grpc from "@grpc/grpc-js";

import {
  MAX_UNACKNOWLEDGED,
  MedianClient,
  MedianError,
  type RunningResult,
  SESSION_ID_HEADER,
} from "../index";
import { freePortBelowEphemeralRange, referenceMedian, Server, temporaryFolder } from "./helpers";

/** Generous: the machine may be busy. */
const TIMEOUT = { timeout: 120_000 };

function rejectsWith(code: grpc.status): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof MedianError, `not a MedianError: ${String(error)}`);
    assert.equal(error.codeName, grpc.status[code]);
    return true;
  };
}

/** The integers 0..count-1 in a fixed shuffled order. */
function shuffled(count: number, seed = 12345): number[] {
  const numbers = Array.from({ length: count }, (_, i) => i);
  let state = seed;
  for (let i = count - 1; i > 0; i -= 1) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [numbers[i], numbers[j]] = [numbers[j]!, numbers[i]!];
  }
  return numbers;
}

/** Yields 1, then waits a minute for the next number: an input that stalls after one request. */
async function* stallsAfterOne(): AsyncGenerator<number> {
  yield 1;
  await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
}

describe("a plaintext server", TIMEOUT, () => {
  let server: Server;
  let client: MedianClient;
  const seen: Array<{ method: string; header: string | undefined }> = [];

  before(async () => {
    server = await Server.start();
    // Records every call's method and routing header, as sent.
    const recorder: grpc.Interceptor = (options, next) =>
      new grpc.InterceptingCall(next(options), {
        start(metadata, listener, proceed) {
          const [header] = metadata.get(SESSION_ID_HEADER);
          seen.push({ method: options.method_definition.path, header: header?.toString() });
          proceed(metadata, listener);
        },
      });
    client = new MedianClient(server.target, { interceptors: [recorder] });
  });

  after(async () => {
    client.close();
    await server.stop();
  });

  it("creates, adds, reads, lists and deletes, with the session header on every call", async () => {
    seen.length = 0;
    const sessionId = await client.createSession();
    assert.match(sessionId, /^[A-Za-z0-9_-]{22}$/);
    const added = await client.addNumbers(sessionId, [3, 1, 2, 10], { batchSize: 3 });
    assert.deepEqual(added, { sessionId, addedCount: 4n, numberCount: 4n, median: 2.5 });
    assert.deepEqual(await client.getMedian(sessionId), {
      sessionId,
      numberCount: 4n,
      median: 2.5,
    });
    const listed = [];
    for await (const session of client.listSessions()) {
      listed.push(session);
    }
    assert.ok(listed.some((s) => s.sessionId === sessionId && s.numberCount === 4n));
    await client.deleteSession(sessionId);
    await assert.rejects(client.getMedian(sessionId), rejectsWith(grpc.status.NOT_FOUND));

    const sessionCalls = seen.filter((call) => !call.method.endsWith("/ListSessions"));
    assert.deepEqual(
      sessionCalls.map((call) => call.method.split("/").pop()),
      ["CreateSession", "AddNumbers", "GetMedian", "DeleteSession", "GetMedian"],
    );
    for (const call of sessionCalls) {
      assert.equal(call.header, sessionId, call.method);
    }
  });

  it("uses the session id the caller chose, and refuses it when taken", async () => {
    const sessionId = `chosen-${Date.now()}`;
    assert.equal(await client.createSession(sessionId), sessionId);
    await assert.rejects(client.createSession(sessionId), rejectsWith(grpc.status.ALREADY_EXISTS));
    await client.deleteSession(sessionId);
  });

  it("adds numbers from an async iterable, in batches", async () => {
    const sessionId = await client.createSession();
    const numbers = shuffled(2_501);
    async function* slowly(): AsyncGenerator<number> {
      for (const number of numbers) {
        if (number % 500 === 0) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        yield number;
      }
    }
    const added = await client.addNumbers(sessionId, slowly(), { batchSize: 10 });
    assert.equal(added.addedCount, 2_501n);
    assert.equal(added.numberCount, 2_501n);
    assert.equal(added.median, referenceMedian(numbers));
    await client.deleteSession(sessionId);
  });

  it("answers an empty input with one empty request", async () => {
    const sessionId = await client.createSession();
    assert.deepEqual(await client.addNumbers(sessionId, []), {
      sessionId,
      addedCount: 0n,
      numberCount: 0n,
      median: undefined,
    });
    await assert.rejects(client.getMedian(sessionId), rejectsWith(grpc.status.FAILED_PRECONDITION));
  });

  it("yields one running median per request, in order", async () => {
    const sessionId = await client.createSession();
    const results: RunningResult[] = [];
    for await (const result of client.runningMedian(sessionId, [[5], [1, 3], [], [10]])) {
      results.push(result);
    }
    assert.deepEqual(
      results.map((r) => [r.addedCount, r.numberCount, r.median]),
      [
        [1n, 1n, 5],
        [2n, 3n, 3],
        [0n, 3n, 3],
        [1n, 4n, 4],
      ],
    );
    const writer = results[0]!.requestId.split(":")[0]!;
    assert.match(writer, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(
      results.map((r) => r.requestId),
      [1, 2, 3, 4].map((seq) => `${writer}:${seq}`),
    );
  });

  it("pages through the sessions", async () => {
    const made = new Set<string>();
    for (let i = 0; i < 7; i += 1) {
      made.add(await client.createSession());
    }
    const page = await client.listSessionsPage(3);
    assert.equal(page.sessions.length, 3);
    assert.notEqual(page.nextPageToken, "");
    const all: string[] = [];
    for await (const session of client.listSessions(3)) {
      all.push(session.sessionId);
    }
    assert.equal(new Set(all).size, all.length);
    for (const id of made) {
      assert.ok(all.includes(id));
    }
  });

  it("reports a NaN with its BadRequest field violation, keeping what came before", async () => {
    const sessionId = await client.createSession();
    await assert.rejects(
      client.addNumbers(sessionId, [1, 2, 3, Number.NaN], { batchSize: 3 }),
      (error: unknown) => {
        rejectsWith(grpc.status.INVALID_ARGUMENT)(error);
        const { fieldViolations } = error as MedianError;
        assert.deepEqual(
          fieldViolations.map((v) => v.field),
          ["numbers[0]"],
        );
        assert.ok(fieldViolations[0]!.description.length > 0);
        return true;
      },
    );
    assert.equal((await client.getMedian(sessionId)).numberCount, 3n);

    const running = sessionId + "x";
    await client.createSession(running);
    const lines: bigint[] = [];
    await assert.rejects(
      (async () => {
        for await (const result of client.runningMedian(running, [[1], [2], [7, Number.NaN]])) {
          lines.push(result.numberCount);
        }
      })(),
      (error: unknown) => {
        rejectsWith(grpc.status.INVALID_ARGUMENT)(error);
        assert.deepEqual(
          (error as MedianError).fieldViolations.map((v) => v.field),
          ["numbers[1]"],
        );
        return true;
      },
    );
    assert.deepEqual(lines, [1n, 2n]);
  });

  it("ends a call at its deadline with DEADLINE_EXCEEDED", async () => {
    const sessionId = await client.createSession();
    const started = Date.now();
    await assert.rejects(
      client.addNumbers(sessionId, stallsAfterOne(), { batchSize: 1, deadline: Date.now() + 500 }),
      rejectsWith(grpc.status.DEADLINE_EXCEEDED),
    );
    assert.ok(Date.now() - started < 30_000);
    await assert.rejects(
      client.getMedian(sessionId, { deadline: new Date(Date.now() - 1) }),
      rejectsWith(grpc.status.DEADLINE_EXCEEDED),
    );
  });

  it("gives every call the client's default deadline", async () => {
    const brief = new MedianClient(server.target, { streamTimeoutMs: 300, retryForMs: 0 });
    try {
      const sessionId = await brief.createSession();
      const started = Date.now();
      await assert.rejects(
        brief.addNumbers(sessionId, stallsAfterOne()),
        rejectsWith(grpc.status.DEADLINE_EXCEEDED),
      );
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 30_000, `ended after ${took} ms`);
    } finally {
      brief.close();
    }
  });

  it("stops a call when its AbortSignal aborts, with the signal's reason", async () => {
    const sessionId = await client.createSession();
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    async function* numbers(): AsyncGenerator<number[]> {
      yield [1];
      controller.abort(reason);
      await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
    }
    const seenCounts: bigint[] = [];
    await assert.rejects(
      (async () => {
        for await (const result of client.runningMedian(sessionId, numbers(), {
          signal: controller.signal,
        })) {
          seenCounts.push(result.numberCount);
        }
      })(),
      (error: unknown) => error === reason,
    );
    await assert.rejects(
      client.getMedian(sessionId, { signal: AbortSignal.abort(reason) }),
      (error: unknown) => error === reason,
    );
  });

  it("ends the stream when the caller leaves the loop early", async () => {
    const sessionId = await client.createSession();
    let count = 0n;
    for await (const result of client.runningMedian(sessionId, [[1], [2], [3], [4]])) {
      count = result.numberCount;
      break;
    }
    assert.equal(count, 1n);
    assert.ok((await client.getMedian(sessionId)).numberCount >= 1n);
  });

  it("passes the input's own error through, unchanged", async () => {
    const sessionId = await client.createSession();
    const broken = new Error("input broke");
    async function* numbers(): AsyncGenerator<number> {
      yield 1;
      throw broken;
    }
    await assert.rejects(
      client.addNumbers(sessionId, numbers(), { batchSize: 1 }),
      (error: unknown) => error === broken,
    );
    // Also when it throws right after a full stream of MAX_UNACKNOWLEDGED requests was answered:
    // those stay applied (the request cancelled above may or may not have been, so a new session).
    const fresh = await client.createSession();
    async function* oneFullStream(): AsyncGenerator<number> {
      yield* Array.from({ length: MAX_UNACKNOWLEDGED }, (_, i) => i);
      throw broken;
    }
    await assert.rejects(
      client.addNumbers(fresh, oneFullStream(), { batchSize: 1 }),
      (error: unknown) => error === broken,
    );
    assert.equal((await client.getMedian(fresh)).numberCount, BigInt(MAX_UNACKNOWLEDGED));
  });
});

describe("limits", TIMEOUT, () => {
  let server: Server;
  let client: MedianClient;

  before(async () => {
    server = await Server.start(["--max-session-numbers", "5"]);
    client = new MedianClient(server.target);
  });

  after(async () => {
    client.close();
    await server.stop();
  });

  it("reports a passed limit with QuotaFailure and ErrorInfo details, never retried", async () => {
    const sessionId = await client.createSession();
    await assert.rejects(client.addNumbers(sessionId, [1, 2, 3, 4, 5, 6]), (error: unknown) => {
      rejectsWith(grpc.status.RESOURCE_EXHAUSTED)(error);
      const { quotaViolations, errorInfos } = error as MedianError;
      assert.deepEqual(
        quotaViolations.map((v) => v.subject),
        ["--max-session-numbers"],
      );
      assert.deepEqual(
        errorInfos.map((i) => i.reason),
        ["MAX_SESSION_NUMBERS"],
      );
      return true;
    });
    await assert.rejects(client.getMedian(sessionId), rejectsWith(grpc.status.FAILED_PRECONDITION));
  });
});

describe("a server that is SIGKILLed and restarted on its --data-dir", TIMEOUT, () => {
  let server: Server;
  let client: MedianClient;
  const folder = temporaryFolder();

  const streams: string[] = [];

  before(async () => {
    server = await Server.start(["--data-dir", folder.path]);
    // Counts the streams each call opens: more than it needs without failures proves a resume.
    const counter: grpc.Interceptor = (options, next) => {
      streams.push(options.method_definition.path.split("/").pop()!);
      return new grpc.InterceptingCall(next(options));
    };
    client = new MedianClient(server.target, { retryForMs: 60_000, interceptors: [counter] });
  });

  after(async () => {
    client.close();
    await server.stop();
    folder.remove();
  });

  /** Kills the server when the input reaches each of `at` (indexes), and restarts it. */
  function crashing<T>(items: readonly T[], at: readonly number[]): AsyncGenerator<T> {
    return (async function* () {
      for (const [index, item] of items.entries()) {
        if (at.includes(index)) {
          await server.kill();
          await server.restart();
        }
        yield item;
      }
    })();
  }

  it("adds every number exactly once across two crashes", async () => {
    const sessionId = await client.createSession();
    const numbers = shuffled(6_000, 777);
    // 600 requests of 10: crashes inside the first and the third stream of 256 requests.
    streams.length = 0;
    const added = await client.addNumbers(sessionId, crashing(numbers, [1_000, 5_500]), {
      batchSize: 10,
    });
    // Three streams of at most 256 requests without failures; each crash adds at least one.
    assert.ok(streams.filter((name) => name === "AddNumbers").length >= 5, streams.join(" "));
    assert.equal(added.numberCount, 6_000n);
    assert.equal(added.addedCount, 6_000n);
    const current = await client.getMedian(sessionId);
    assert.deepEqual(current, { sessionId, numberCount: 6_000n, median: referenceMedian(numbers) });
  });

  it("yields each running median exactly once across two crashes", async () => {
    const sessionId = await client.createSession();
    const numbers = shuffled(3_000, 99);
    const batches = Array.from({ length: 300 }, (_, i) => numbers.slice(i * 10, i * 10 + 10));
    const results: RunningResult[] = [];
    streams.length = 0;
    for await (const result of client.runningMedian(sessionId, crashing(batches, [40, 200]))) {
      results.push(result);
    }
    assert.ok(streams.filter((name) => name === "RunningMedian").length >= 3, streams.join(" "));
    assert.equal(results.length, 300);
    assert.deepEqual(
      results.map((r) => r.numberCount),
      batches.map((_, i) => BigInt(10 * (i + 1))),
    );
    const writer = results[0]!.requestId.split(":")[0];
    assert.deepEqual(
      results.map((r) => r.requestId),
      batches.map((_, i) => `${writer}:${i + 1}`),
    );
    assert.equal(results.at(-1)!.median, referenceMedian(numbers));
  });

  it("gives up with UNAVAILABLE when resuming is off", async () => {
    const sessionId = await client.createSession();
    const once = new MedianClient(server.target, { retryForMs: 0 });
    try {
      await assert.rejects(
        once.addNumbers(
          sessionId,
          (async function* () {
            yield 1;
            await server.kill();
            yield 2;
          })(),
          { batchSize: 1 },
        ),
        rejectsWith(grpc.status.UNAVAILABLE),
      );
    } finally {
      once.close();
      await server.restart();
    }
  });

  it("returns the last UNAVAILABLE when the retry time runs out", async () => {
    const sessionId = await client.createSession();
    const brief = new MedianClient(server.target, { retryForMs: 1_500 });
    const started = Date.now();
    let failedAt = 0;
    try {
      await assert.rejects(
        brief.addNumbers(
          sessionId,
          (async function* () {
            yield 1;
            await server.kill();
            failedAt = Date.now();
            yield 2;
          })(),
          { batchSize: 1 },
        ),
        rejectsWith(grpc.status.UNAVAILABLE),
      );
      const waited = Date.now() - failedAt;
      assert.ok(waited >= 1_000 && waited < 20_000, `gave up after ${waited} ms`);
      assert.ok(Date.now() - started < 30_000);
    } finally {
      brief.close();
      await server.restart();
    }
  });
});

describe("a server that is not listening yet", TIMEOUT, () => {
  it("resumes a unary call for retryForMs, each attempt with timeoutMs of its own", async () => {
    const port = await freePortBelowEphemeralRange();
    const client = new MedianClient(`127.0.0.1:${port}`, { timeoutMs: 1_000, retryForMs: 20_000 });
    let server: Server | undefined;
    try {
      const started = Date.now();
      const creating = client.createSession();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      server = await Server.start([], port);
      const sessionId = await creating;
      assert.match(sessionId, /^[A-Za-z0-9_-]{22}$/);
      assert.ok(Date.now() - started >= 2_000);
    } finally {
      client.close();
      await server?.stop();
    }
  });

  it("never resumes a unary call past the deadline the caller gave", async () => {
    const port = await freePortBelowEphemeralRange();
    const client = new MedianClient(`127.0.0.1:${port}`, { retryForMs: 20_000 });
    try {
      const started = Date.now();
      await assert.rejects(
        client.createSession(undefined, { deadline: Date.now() + 1_000 }),
        rejectsWith(grpc.status.UNAVAILABLE),
      );
      const took = Date.now() - started;
      assert.ok(took < 5_000, `gave up after ${took} ms`);
    } finally {
      client.close();
    }
  });
});
