import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/**
 * Real `heck agent` processes on loopback for integration tests and benchmarks, started through
 * bin/heck.js exactly as a user would, and local origin servers that record who probed them.
 */

export const HECK_BIN = fileURLToPath(new URL("../../bin/heck.js", import.meta.url));

export interface AgentProcess {
  name: string;
  dataDir: string;
  gossip: string;
  http: string;
  child: ChildProcess;
  stderr: string[];
}

export interface AgentOptions {
  name: string;
  dataDir: string;
  join?: string[];
  /** Reuse a gossip port (restarts keep their address). @default 0 (any free port) */
  gossipPort?: number;
  profile?: "lan" | "wan" | "local";
  extra?: string[];
  env?: Record<string, string>;
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

const START_LINE = /^heck agent (\S+) gossip=(\S+) http=(\S+)$/;

export function startAgent(options: AgentOptions): Promise<AgentProcess> {
  const args = [
    ...(options.nodeArgs ?? []),
    HECK_BIN,
    "agent",
    "--name",
    options.name,
    "--bind",
    `127.0.0.1:${options.gossipPort ?? 0}`,
    "--http",
    "127.0.0.1:0",
    "--data-dir",
    options.dataDir,
    "--profile",
    options.profile ?? "local",
    "--log-level",
    "warn",
    ...(options.join?.length ? ["--join", options.join.join(",")] : []),
    ...(options.extra ?? []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`agent ${options.name} did not start in 20 s: ${stderr.join("\n")}`));
    }, 20_000);
    createInterface({ input: child.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      const m = START_LINE.exec(line);
      if (!m) return reject(new Error(`unexpected start line: ${line}`));
      resolve({ name: m[1]!, gossip: m[2]!, http: m[3]!, dataDir: options.dataDir, child, stderr });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`agent ${options.name} exited with ${code}: ${stderr.join("\n")}`));
    });
  });
}

export function isRunning(agent: AgentProcess): boolean {
  return agent.child.exitCode === null && agent.child.signalCode === null;
}

/** Sends `signal` and resolves with the exit code (or signal name) once the process is gone. */
export function stopAgent(agent: AgentProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number | string> {
  return new Promise((resolve) => {
    if (!isRunning(agent)) return resolve(agent.child.exitCode ?? agent.child.signalCode ?? -1);
    agent.child.once("exit", (code, sig) => resolve(code ?? sig ?? -1));
    agent.child.kill(signal);
  });
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
}

/** A JSON request to an agent's HTTP API. */
export async function api<T = unknown>(
  agent: AgentProcess | string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const base = typeof agent === "string" ? agent : agent.http;
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const res = await fetch(`http://${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** One sample of a metric on an agent's `/metrics` (`labels` as written there, e.g. `{outcome="refuted"}`); NaN if absent. */
export async function metricValue(agent: AgentProcess, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`http://${agent.http}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return Number(line?.split(" ").pop() ?? Number.NaN);
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
}

export interface ProbeRecord {
  path: string;
  node: string | undefined;
  userAgent: string | undefined;
  at: number;
}

/**
 * Origin servers on 127.0.0.1: every path answers 200 "ok" unless `fail(path)` switched it to 503.
 * Every request is recorded with its Heck-Node header.
 */
export class OriginFarm {
  readonly probes: ProbeRecord[] = [];
  readonly #failing = new Set<string>();
  #server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.#server = createServer((req: IncomingMessage, res) => {
      const path = req.url ?? "/";
      this.probes.push({
        path,
        node: req.headers["heck-node"] as string | undefined,
        userAgent: req.headers["user-agent"],
        at: Date.now(),
      });
      if (this.#failing.has(path)) res.writeHead(503).end("failing");
      else res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
    this.#server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  fail(path: string, failing = true): void {
    if (failing) this.#failing.add(path);
    else this.#failing.delete(path);
  }

  /** Probe records for `path` at or after `since`. */
  probesOf(path: string, since = 0): ProbeRecord[] {
    return this.probes.filter((p) => p.path === path && p.at >= since);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Sends a body with node:http and resolves with the response status. A server that refuses an
 * oversized body answers before reading it all and closes the connection: the status still counts,
 * the client's broken upload does not.
 */
export function sendRaw(
  agent: AgentProcess,
  method: string,
  path: string,
  body: Buffer | string,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<number> {
  const [host, port] = [agent.http.slice(0, agent.http.lastIndexOf(":")), agent.http.split(":").pop()];
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port: Number(port), method, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (err) => setTimeout(() => reject(err), 1000).unref());
    req.end(body);
  });
}

/**
 * Waits until every observer has reported `member` with `status` at least once, and returns the
 * time the last of them first did. With `forgottenCounts`, a member that an observer no longer
 * lists counts as seen: memberlist drops dead members after a while, and a slow observer may
 * still be confirming its suspicion when a fast one has already forgotten (the caller knows every
 * observer listed the member before).
 */
export async function firstSeenByAll(
  observers: AgentProcess[],
  member: string,
  status: "dead" | "left",
  options: { timeoutMs?: number; everyMs?: number; forgottenCounts?: boolean } = {},
): Promise<number> {
  const { timeoutMs = 60_000, everyMs = 20, forgottenCounts = status === "dead" } = options;
  const seen = new Map<string, number>();
  await waitFor(
    `${member} ${status} on every observer`,
    async () => {
      for (const o of observers) {
        if (seen.has(o.name)) continue;
        const res = await api<{ members: Array<{ name: string; status: string }> }>(o, "GET", "/v1/members");
        const current = res.body.members.find((m) => m.name === member)?.status;
        if (current === status || (forgottenCounts && current === undefined)) seen.set(o.name, Date.now());
      }
      return seen.size === observers.length;
    },
    timeoutMs,
    everyMs,
  );
  return Math.max(...seen.values());
}

/** Waits until every agent lists `n` members alive. */
export async function allAlive(agents: AgentProcess[], n: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${n} members alive on every agent`,
    async () => {
      for (const a of agents) {
        const res = await api<{ members: Array<{ status: string }> }>(a, "GET", "/v1/members");
        if (res.body.members.filter((m) => m.status === "alive").length !== n) return false;
      }
      return true;
    },
    timeoutMs,
  );
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real binary (`node bin/heck.js ARGS`) to its exit; `env` is added to this process's. */
export function runHeck(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [HECK_BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
      },
    );
  });
}
