import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface DemoOptions {
  /** Agents to start. @default 3 */
  agents: number;
  /** HTTP port of the first agent; the others take the next ones. @default 8700 */
  httpPort: number;
  /** Gossip port of the first agent; the others take the next ones. @default 7946 */
  gossipPort: number;
}

const HECK_BIN = fileURLToPath(new URL("../../../bin/heck.js", import.meta.url));

/**
 * Local origins for the demo: some healthy, one down, one too slow, one flapping every 20 s.
 * Everything listens on loopback only.
 */
function startDemoOrigins(): Promise<Server> {
  const started = Date.now();
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (path.startsWith("/down")) {
      res.writeHead(503).end("down for maintenance");
    } else if (path.startsWith("/slow")) {
      setTimeout(() => res.writeHead(200).end("late"), 3000).unref();
    } else if (path.startsWith("/flap")) {
      const up = Math.floor((Date.now() - started) / 20_000) % 2 === 0;
      res.writeHead(up ? 200 : 500).end(up ? "ok" : "flapping");
    } else {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function startAgent(args: string[], key: string): Promise<{ child: ChildProcess; line: string }> {
  // The key goes by the environment, where other users' `ps` cannot read it.
  const child = spawn(process.execPath, [HECK_BIN, "agent", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, HECK_ENCRYPT: key },
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => resolve({ child, line }));
    child.once("exit", (code) => reject(new Error(`agent exited with code ${code} before starting`)));
  });
}

const DEMO_ORIGINS = (base: string): Record<string, object> => ({
  "www.example": { url: `${base}/ok/www`, intervalMs: 2000 },
  "api.example": { url: `${base}/ok/api`, intervalMs: 1000, expectStatus: [200] },
  "static.example": { url: `${base}/ok/static`, method: "HEAD", intervalMs: 3000 },
  "images.example": { url: `${base}/ok/images`, intervalMs: 2000, bodyContains: "ok" },
  "search.example": { url: `${base}/ok/search`, intervalMs: 1500 },
  "billing.example": { url: `${base}/down`, intervalMs: 1000, unhealthyThreshold: 2 },
  "reports.example": { url: `${base}/slow`, intervalMs: 2000, timeoutMs: 500 },
  "flappy.example": { url: `${base}/flap`, intervalMs: 1000, healthyThreshold: 2, unhealthyThreshold: 2 },
});

/** `heck demo`: three agents on loopback, demo origins, the dashboard URL; Ctrl-C stops all of it. */
export async function runDemoCommand(options: Partial<DemoOptions> = {}): Promise<number> {
  const { agents = 3, httpPort = 8700, gossipPort = 7946 } = options;
  const dataRoot = mkdtempSync(join(tmpdir(), "heck-demo-"));
  // A fresh key per demo: even on loopback, the demo shows gossip the way it should run.
  const key = randomBytes(32).toString("base64");
  const originServer = await startDemoOrigins();
  const originPort = (originServer.address() as AddressInfo).port;
  const children: ChildProcess[] = [];

  const stopAll = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
    originServer.close();
    originServer.closeAllConnections();
    rmSync(dataRoot, { recursive: true, force: true });
  };

  try {
    for (let i = 0; i < agents; i++) {
      const args = [
        "--name",
        `demo-${i + 1}`,
        "--bind",
        `127.0.0.1:${gossipPort + i}`,
        "--http",
        `127.0.0.1:${httpPort + i}`,
        "--profile",
        "local",
        "--data-dir",
        join(dataRoot, `demo-${i + 1}`),
        "--log-level",
        "warn",
      ];
      if (i > 0) args.push("--join", `127.0.0.1:${gossipPort}`);
      const { child, line } = await startAgent(args, key);
      children.push(child);
      console.log(line);
    }

    const base = `http://127.0.0.1:${originPort}`;
    const origins = Object.entries(DEMO_ORIGINS(base)).map(([id, spec]) => ({ id, ...spec }));
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1/origins`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ origins }),
    });
    if (!res.ok) throw new Error(`could not add the demo origins: ${res.status} ${await res.text()}`);
    console.log(`demo origins served at ${base}`);
    console.log(`dashboard: http://127.0.0.1:${httpPort}/`);
    console.log("Ctrl-C stops the demo.");
  } catch (err) {
    console.error(`heck demo: ${(err as Error).message}`);
    await stopAll();
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      stopAll().then(() => resolve(0));
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    for (const child of children) {
      child.once("exit", (code, signal) => {
        if (!stopping) console.error(`heck demo: agent exited (${signal ?? code}); stopping the demo`);
        stop();
      });
    }
  });
}
