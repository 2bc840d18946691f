/**
 * Test helpers: a real `median-server` process on a loopback port, and the repository's test
 * certificates (tests/certs.py: two CAs, a server certificate for localhost/127.0.0.1/::1, and
 * a client certificate of each CA).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository's root (this file runs from clients/typescript/dist/test/). */
export const ROOT = resolve(__dirname, "..", "..", "..", "..");
const SERVER = join(ROOT, ".venv", "bin", "median-server");
const PYTHON = join(ROOT, ".venv", "bin", "python");
/** How long a server may take to start on a busy machine. */
const START_TIMEOUT_MS = 60_000;

/**
 * A port in 20000..31999 that can be bound on 127.0.0.1 now.
 *
 * Not port 0: the kernel picks that from the ephemeral range (32768 and up), from which every
 * outgoing connection takes its local port, so a port of that range that was free when the server
 * first bound it may be a connection's by the time the test restarts the server on it.
 */
export async function freePortBelowEphemeralRange(): Promise<number> {
  for (let tries = 0; tries < 1000; tries += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const bindable = await new Promise<boolean>((resolveProbe) => {
      const probe = createServer();
      probe.once("error", () => resolveProbe(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolveProbe(true)));
    });
    if (bindable) {
      return port;
    }
  }
  throw new Error("no free port between 20000 and 32000 on 127.0.0.1");
}

/** A running `median-server`; `stop()` ends it (SIGTERM), `kill()` SIGKILLs it. */
export class Server {
  private process: ChildProcess | undefined;
  target = "";
  port = 0;
  log = "";

  private constructor(private readonly args: readonly string[]) {}

  /**
   * Starts `median-server --port PORT ARGS` and waits for its listening line; PORT is `port`, or
   * else a free one below the kernel's ephemeral range ({@link freePortBelowEphemeralRange}).
   */
  static async start(args: readonly string[] = [], port = 0): Promise<Server> {
    const server = new Server(args);
    await server.launch(port !== 0 ? port : await freePortBelowEphemeralRange());
    return server;
  }

  private launch(port: number): Promise<void> {
    const child = spawn(SERVER, ["--port", String(port), "--log-level", "info", ...this.args], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.process = child;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`median-server did not start in time:\n${this.log}`));
      }, START_TIMEOUT_MS);
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (chunk: string) => {
        this.log += chunk;
        const match = /listening on (\S+):(\d+)/.exec(this.log);
        if (match !== null && this.port === 0) {
          clearTimeout(timer);
          this.port = Number(match[2]);
          this.target = `${match[1]}:${this.port}`;
          resolvePromise();
        }
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (this.process === child && this.port === 0) {
          reject(new Error(`median-server exited (${code ?? signal}):\n${this.log}`));
        }
      });
    });
  }

  /** SIGKILLs the server and waits until it is gone. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  /** Starts the server again with the same flags on the same port. */
  async restart(): Promise<void> {
    const port = this.port;
    this.port = 0;
    this.log = "";
    for (let tries = 0; ; tries += 1) {
      try {
        await this.launch(port);
        return;
      } catch (error) {
        // The port may linger for a moment after a SIGKILL.
        if (tries >= 20) {
          throw error;
        }
        await new Promise((resolveWait) => setTimeout(resolveWait, 250));
      }
    }
  }

  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolveExit) => child.once("exit", resolveExit));
    child.kill(signal);
    await exited;
  }
}

/** A temporary folder, removed by `remove()`. */
export function temporaryFolder(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), "median-ts-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Paths of PEM files: `ca` signed `server` and `client`; `otherCa` signed `otherClient`. */
export interface Certificates {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
}

/**
 * Makes the test certificates in `folder` with the repository's tests/certs.py, the one place
 * that makes them for every language (P-256 keys, valid for two days; the server certificate
 * names localhost, 127.0.0.1 and ::1). Throws, with the script's stderr in the message, if the
 * script fails.
 */
export function makeCertificates(folder: string): Certificates {
  execFileSync(
    PYTHON,
    [
      "-c",
      "import sys; from pathlib import Path; from tests.certs import make_certificates; " +
        "make_certificates(Path(sys.argv[1]))",
      folder,
    ],
    { cwd: ROOT, stdio: "pipe" },
  );
  const at = (name: string): string => join(folder, name);
  return {
    ca: at("ca.pem"),
    serverCert: at("server.pem"),
    serverKey: at("server.key"),
    clientCert: at("client.pem"),
    clientKey: at("client.key"),
    otherCa: at("other-ca.pem"),
    otherClientCert: at("other-client.pem"),
    otherClientKey: at("other-client.key"),
  };
}

/**
 * The median of `numbers`: the middle one, or the mean of the two middle ones. Exact for the
 * integers below 2^52 the tests use (the sum of two of them is exact).
 */
export function referenceMedian(numbers: readonly number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
