/**
 * TLS, mutual TLS and bearer tokens against real servers: the library and the command line.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { MedianClient, type MedianClientOptions, MedianError } from "../index";
import { type Certificates, makeCertificates, Server, temporaryFolder } from "./helpers";

const TIMEOUT = { timeout: 120_000 };
const TOKEN = "0123456789abcdef0123456789abcdef";
const CLI = join(__dirname, "..", "cli.js");

function code(error: unknown): string {
  assert.ok(error instanceof MedianError, `not a MedianError: ${String(error)}`);
  return error.codeName;
}

/**
 * Asserts that a client of `localhost:<port>` with `options` fails with UNAVAILABLE (resuming
 * off): the TLS handshake did not succeed.
 */
async function assertHandshakeFails(server: Server, options: MedianClientOptions): Promise<void> {
  const client = new MedianClient(`localhost:${server.port}`, { ...options, retryForMs: 0 });
  try {
    await assert.rejects(client.createSession(), (error: unknown) => code(error) === "UNAVAILABLE");
  } finally {
    client.close();
  }
}

interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the command-line client with `input` on stdin. */
function cli(args: string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env["PATH"], ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const status = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ status, stdout, stderr });
      },
    );
    child.stdin!.end(input);
  });
}

describe("a server with TLS and bearer tokens", TIMEOUT, () => {
  const folder = temporaryFolder();
  let certs: Certificates;
  let server: Server;

  before(async () => {
    certs = makeCertificates(folder.path);
    const tokens = join(folder.path, "tokens");
    writeFileSync(tokens, `${TOKEN} tenant-a\n`);
    server = await Server.start([
      "--tls-cert",
      certs.serverCert,
      "--tls-key",
      certs.serverKey,
      "--auth-tokens",
      tokens,
    ]);
  });

  after(async () => {
    await server.stop();
    folder.remove();
  });

  for (const host of ["localhost", "127.0.0.1"]) {
    it(`works over TLS with the CA and the token (target ${host})`, async () => {
      const client = new MedianClient(`${host}:${server.port}`, {
        tls: { ca: readFileSync(certs.ca) },
        token: TOKEN,
      });
      try {
        const sessionId = await client.createSession();
        await client.addNumbers(sessionId, [4, 1, 3]);
        assert.equal((await client.getMedian(sessionId)).median, 3);
        const sessions = [];
        for await (const session of client.listSessions()) {
          sessions.push(session.sessionId);
        }
        assert.ok(sessions.includes(sessionId));
        await client.deleteSession(sessionId);
      } finally {
        client.close();
      }
    });
  }

  it("is refused without a token, with an ErrorInfo detail", async () => {
    const client = new MedianClient(`localhost:${server.port}`, {
      tls: { ca: readFileSync(certs.ca) },
    });
    try {
      await assert.rejects(client.createSession(), (error: unknown) => {
        assert.equal(code(error), "UNAUTHENTICATED");
        assert.equal((error as MedianError).errorInfos.length, 1);
        return true;
      });
    } finally {
      client.close();
    }
  });

  it("is refused with a wrong token", async () => {
    const client = new MedianClient(`localhost:${server.port}`, {
      tls: { ca: readFileSync(certs.ca) },
      token: "x".repeat(32),
    });
    try {
      await assert.rejects(
        client.createSession(),
        (error: unknown) => code(error) === "UNAUTHENTICATED",
      );
    } finally {
      client.close();
    }
  });

  it("does not trust a server whose certificate another CA signed", async () => {
    await assertHandshakeFails(server, { tls: { ca: readFileSync(certs.otherCa) }, token: TOKEN });
  });

  it("fails at once, without resuming, when it does not trust the server's certificate", async () => {
    const client = new MedianClient(`localhost:${server.port}`, {
      tls: { ca: readFileSync(certs.otherCa) },
      token: TOKEN,
      timeoutMs: 60_000,
      retryForMs: 30_000,
    });
    try {
      const started = Date.now();
      await assert.rejects(client.createSession(), (error: unknown) => {
        assert.equal(code(error), "UNAVAILABLE");
        assert.match((error as MedianError).details, /certificate/);
        return true;
      });
      const took = Date.now() - started;
      assert.ok(took < 5_000, `failed after ${took} ms`);
    } finally {
      client.close();
    }
  });

  it("trusts only the system's roots with tls: {}, so not the test CA", async () => {
    await assertHandshakeFails(server, { tls: {}, token: TOKEN });
  });

  it("command line: runs over TLS with --token or MEDIAN_TOKEN, and prints the error's details", async () => {
    const target = `127.0.0.1:${server.port}`;
    const withFlag = await cli(
      ["--target", target, "--tls-ca", certs.ca, "--token", TOKEN, "--running", "--batch", "2"],
      "3 1 2 10",
    );
    assert.equal(withFlag.stderr, "");
    assert.equal(withFlag.status, 0);
    assert.deepEqual(withFlag.stdout.split("\n").slice(1), [
      "count=2 median=2",
      "count=4 median=2.5",
      "",
    ]);

    const withVariable = await cli(
      ["--target", target, "--tls-ca", certs.ca, "--delete"],
      "3 1 2 10",
      { MEDIAN_TOKEN: TOKEN },
    );
    assert.equal(withVariable.status, 0, withVariable.stderr);
    assert.match(withVariable.stdout, /^session=[A-Za-z0-9_-]{22}\ncount=4 median=2.5\n$/);

    const without = await cli(["--target", target, "--tls-ca", certs.ca], "1");
    assert.equal(without.status, 1);
    const lines = without.stderr.trimEnd().split("\n");
    assert.match(lines[0]!, /^error: UNAUTHENTICATED: /);
    assert.match(lines[1]!, /^detail: ErrorInfo \S+ \S+$/);
  });
});

describe("a server that requires client certificates (mutual TLS)", TIMEOUT, () => {
  const folder = temporaryFolder();
  let certs: Certificates;
  let server: Server;

  before(async () => {
    certs = makeCertificates(folder.path);
    server = await Server.start([
      "--tls-cert",
      certs.serverCert,
      "--tls-key",
      certs.serverKey,
      "--tls-client-ca",
      certs.ca,
    ]);
  });

  after(async () => {
    await server.stop();
    folder.remove();
  });

  it("accepts a client certificate its CA signed", async () => {
    const client = new MedianClient(`localhost:${server.port}`, {
      tls: {
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.clientCert),
        key: readFileSync(certs.clientKey),
      },
    });
    try {
      const sessionId = await client.createSession();
      assert.equal((await client.addNumbers(sessionId, [2, 8])).median, 5);
    } finally {
      client.close();
    }
  });

  it("refuses a client without a certificate, or with one another CA signed", async () => {
    for (const tls of [
      { ca: readFileSync(certs.ca) },
      {
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.otherClientCert),
        key: readFileSync(certs.otherClientKey),
      },
    ]) {
      await assertHandshakeFails(server, { tls });
    }
  });

  it("command line: --tls-cert and --tls-key present the client certificate", async () => {
    const target = `localhost:${server.port}`;
    const ok = await cli(
      [
        "--target",
        target,
        "--tls-ca",
        certs.ca,
        "--tls-cert",
        certs.clientCert,
        "--tls-key",
        certs.clientKey,
      ],
      "1 2 3",
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /\ncount=3 median=2\n$/);

    const half = await cli(
      ["--target", target, "--tls-ca", certs.ca, "--tls-cert", certs.clientCert],
      "1",
    );
    assert.equal(half.status, 2);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
    assert.equal(half.stdout, "");
  });
});

describe("a plaintext server with bearer tokens", TIMEOUT, () => {
  const folder = temporaryFolder();
  let server: Server;

  before(async () => {
    const tokens = join(folder.path, "tokens");
    writeFileSync(tokens, `${TOKEN} tenant-a\n`);
    server = await Server.start(["--auth-tokens", tokens]);
  });

  after(async () => {
    await server.stop();
    folder.remove();
  });

  it("gets the token as call metadata on every call", async () => {
    const client = new MedianClient(server.target, { token: TOKEN });
    try {
      const sessionId = await client.createSession();
      const results = [];
      for await (const result of client.runningMedian(sessionId, [[1], [2]])) {
        results.push(result.numberCount);
      }
      assert.deepEqual(results, [1n, 2n]);
      assert.equal((await client.getMedian(sessionId)).numberCount, 2n);
      await client.deleteSession(sessionId);
    } finally {
      client.close();
    }
    const anonymous = new MedianClient(server.target);
    try {
      await assert.rejects(
        anonymous.createSession(),
        (error: unknown) => code(error) === "UNAUTHENTICATED",
      );
    } finally {
      anonymous.close();
    }
  });
});

describe("the command line", TIMEOUT, () => {
  let server: Server;

  before(async () => {
    server = await Server.start();
  });

  after(async () => {
    await server.stop();
  });

  it("prints the BadRequest detail of a NaN after two answered requests", async () => {
    const result = await cli(["--target", server.target, "--running", "--batch", "1"], "1 2 NaN 4");
    assert.equal(result.status, 1);
    assert.deepEqual(result.stdout.split("\n").slice(1), [
      "count=1 median=1",
      "count=2 median=1.5",
      "",
    ]);
    const lines = result.stderr.trimEnd().split("\n");
    assert.match(lines[0]!, /^error: INVALID_ARGUMENT: /);
    assert.match(lines[1]!, /^detail: BadRequest numbers\[0\]: ./);
    assert.equal(lines.length, 2);
  });

  it("refuses bad usage with status 2 and sends nothing", async () => {
    for (const args of [
      ["--target", server.target, "--retry-for", "soon"],
      ["--target", server.target, "--batch", "0"],
      ["--target", server.target, "--token", "has space"],
      ["--target", server.target, "--tls-ca", "/nonexistent/ca.pem"],
      ["--target", server.target, "--bogus"],
      [],
    ]) {
      const result = await cli(args, "1");
      assert.equal(result.status, 2, args.join(" "));
      assert.match(result.stderr, /^error: /);
      assert.equal(result.stdout, "");
    }
    const badNumber = await cli(["--target", server.target], "1 two");
    assert.equal(badNumber.status, 2);
    assert.match(badNumber.stderr, /"two" is not a number/);
  });

  it("fails at once with UNAVAILABLE and --retry-for 0 when nothing listens", async () => {
    const stopped = await Server.start();
    const target = stopped.target;
    await stopped.kill();
    const started = Date.now();
    const result = await cli(["--target", target, "--retry-for", "0", "--session", "s"], "1");
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^error: UNAVAILABLE: /);
    assert.ok(Date.now() - started < 30_000);
  });
});
