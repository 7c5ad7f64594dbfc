import { strict as assert } from "node:assert";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { Prober } from "../../src/core/checks/prober.js";
import { parseOriginSpec } from "../../src/core/checks/spec.js";
import type { OriginSpec } from "../../src/core/state/types.js";

export interface ProberUnderTest extends Prober {
  close(): Promise<void>;
}

export type ProberFactory = (options: { nodeName: string; version: string }) => ProberUnderTest;

interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

const NODE_NAME = "contract-node";
const VERSION = "9.8.7";

/** A loopback server whose paths each play one kind of origin; it records every request it gets. */
async function startOrigin(): Promise<{ server: Server; base: string; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    seen.push({ method: req.method ?? "", path, headers: req.headers });
    switch (path) {
      case "/healthy":
        res.end("all systems ok");
        return;
      case "/unavailable":
        res.writeHead(503).end("down");
        return;
      case "/no-content":
        res.writeHead(204).end();
        return;
      case "/redirect":
        res.writeHead(302, { location: "/unavailable" }).end();
        return;
      case "/hang":
        // Never answers; the suite's `after` drops the connection.
        return;
      case "/stall-body":
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("partial");
        return;
      case "/late-needle":
        res.end(`${"x".repeat(70 * 1024)}needle`);
        return;
      case "/endless": {
        // The needle first, then data for as long as the client reads.
        res.write("needle");
        const chunk = "y".repeat(16 * 1024);
        const pump = () => {
          while (res.write(chunk)) {}
        };
        res.on("drain", pump);
        pump();
        return;
      }
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, seen };
}

function specFor(url: string, overrides: Partial<OriginSpec> = {}): OriginSpec {
  // Overrides go on after validation: some cases need specs the API would refuse.
  return { ...parseOriginSpec({ url }), ...overrides };
}

/** The behaviour every Prober must have, run against real HTTP servers on 127.0.0.1. */
export function proberContract(name: string, factory: ProberFactory): void {
  describe(`Prober contract: ${name}`, () => {
    let origin: Awaited<ReturnType<typeof startOrigin>>;
    let prober: ProberUnderTest;
    let closedPortUrl: string;

    before(async () => {
      origin = await startOrigin();
      prober = factory({ nodeName: NODE_NAME, version: VERSION });
      // A port that was just bound and released: nothing listens there.
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      closedPortUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    });

    after(async () => {
      await prober.close();
      origin.server.closeAllConnections();
      await new Promise<void>((resolve) => origin.server.close(() => resolve()));
    });

    const lastSeen = (path: string) => origin.seen.filter((r) => r.path === path).at(-1);

    test("a 200 answer is healthy", async () => {
      const result = await prober.probe(specFor(`${origin.base}/healthy`));
      assert.equal(result.ok, true);
      assert.equal(result.statusCode, 200);
      assert.equal(result.error, null);
      assert.ok(result.latencyMs >= 0 && result.latencyMs < 2000);
    });

    test("a 503 answer fails with the status and the expected set", async () => {
      const result = await prober.probe(specFor(`${origin.base}/unavailable`));
      assert.deepEqual(
        { ok: result.ok, statusCode: result.statusCode, error: result.error },
        { ok: false, statusCode: 503, error: "status 503 not in 200-399" },
      );
    });

    test("expectStatus matches single codes and ranges", async () => {
      const url = `${origin.base}/no-content`;
      assert.equal((await prober.probe(specFor(url, { expectStatus: [204] }))).ok, true);
      assert.equal((await prober.probe(specFor(url, { expectStatus: ["200", "204-204"] }))).ok, true);
      const wrong = await prober.probe(specFor(url, { expectStatus: [200, "300-399"] }));
      assert.equal(wrong.ok, false);
      assert.equal(wrong.error, "status 204 not in 200,300-399");
    });

    test("a redirect is judged by its own status, not followed", async () => {
      const before = origin.seen.length;
      const result = await prober.probe(specFor(`${origin.base}/redirect`));
      assert.equal(result.ok, true);
      assert.equal(result.statusCode, 302);
      assert.deepEqual(
        origin.seen.slice(before).map((r) => r.path),
        ["/redirect"],
      );
    });

    test("a server slower than timeoutMs fails with a timeout naming the response headers", async () => {
      const result = await prober.probe(specFor(`${origin.base}/hang`, { timeoutMs: 150 }));
      assert.equal(result.ok, false);
      assert.equal(result.statusCode, null);
      assert.equal(result.error, "response headers timeout after 150 ms");
      assert.ok(result.latencyMs >= 140 && result.latencyMs < 1500, `latency ${result.latencyMs}`);
    });

    test("a body that stalls after the headers counts against the same deadline", async () => {
      // The deadline leaves the headers time to arrive on a busy machine; the body never comes.
      const result = await prober.probe(specFor(`${origin.base}/stall-body`, { timeoutMs: 1000 }));
      assert.equal(result.ok, false);
      assert.equal(result.statusCode, 200);
      assert.equal(result.error, "body timeout after 1000 ms");
    });

    test("bodyContains passes when the body holds the text", async () => {
      const result = await prober.probe(specFor(`${origin.base}/healthy`, { bodyContains: "systems ok" }));
      assert.equal(result.ok, true);
      assert.equal(result.error, null);
    });

    test("bodyContains fails, quoting the text, when the body lacks it", async () => {
      const result = await prober.probe(specFor(`${origin.base}/healthy`, { bodyContains: "ready" }));
      assert.equal(result.ok, false);
      assert.equal(result.statusCode, 200);
      assert.equal(result.error, 'body lacks "ready"');
    });

    test("bodyContains looks only at the first 64 KiB", async () => {
      const result = await prober.probe(specFor(`${origin.base}/late-needle`, { bodyContains: "needle" }));
      assert.equal(result.error, 'body lacks "needle"');
    });

    test("an endless body with the text up front passes without reading it all", async () => {
      const result = await prober.probe(specFor(`${origin.base}/endless`, { bodyContains: "needle" }));
      assert.equal(result.ok, true);
    });

    test("an endless body without bodyContains is not read to the end", async () => {
      const result = await prober.probe(specFor(`${origin.base}/endless`));
      assert.equal(result.ok, true);
    });

    test("HEAD probes send HEAD", async () => {
      const result = await prober.probe(specFor(`${origin.base}/healthy`, { method: "HEAD" }));
      assert.equal(result.ok, true);
      assert.equal(lastSeen("/healthy")?.method, "HEAD");
    });

    test("custom headers reach the server", async () => {
      await prober.probe(
        specFor(`${origin.base}/healthy`, { headers: { "X-Tenant": "blue", Authorization: "Bearer t0k" } }),
      );
      const seen = lastSeen("/healthy");
      assert.equal(seen?.headers["x-tenant"], "blue");
      assert.equal(seen?.headers.authorization, "Bearer t0k");
    });

    test("every probe carries User-Agent heck/<version> and Heck-Node, over user headers", async () => {
      await prober.probe(
        specFor(`${origin.base}/healthy`, { headers: { "User-Agent": "curl/8", "heck-node": "impostor" } }),
      );
      const seen = lastSeen("/healthy");
      assert.equal(seen?.headers["user-agent"], `heck/${VERSION}`);
      assert.equal(seen?.headers["heck-node"], NODE_NAME);
    });

    test("a closed port fails with connect ECONNREFUSED", async () => {
      const result = await prober.probe(specFor(closedPortUrl));
      assert.deepEqual(
        { ok: result.ok, statusCode: result.statusCode, error: result.error },
        { ok: false, statusCode: null, error: "connect ECONNREFUSED" },
      );
    });

    test("the caller's abort rejects with its reason instead of reporting a failure", async () => {
      const controller = new AbortController();
      const pending = prober.probe(specFor(`${origin.base}/hang`), controller.signal);
      setTimeout(() => controller.abort(new Error("shutting down")), 50);
      await assert.rejects(pending, /shutting down/);
      await assert.rejects(
        prober.probe(specFor(`${origin.base}/healthy`), controller.signal),
        /shutting down/,
      );
    });
  });
}
