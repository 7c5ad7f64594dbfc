import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingHttpHeaders } from "node:http";
import { createServer } from "node:https";
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { describeError, UndiciProber } from "../../src/adapters/undici-prober.js";
import type { ProbeSignalListener } from "../../src/core/checks/prober.js";
import { parseOriginSpec } from "../../src/core/checks/spec.js";
import type { OriginSpec } from "../../src/core/state/types.js";
import { requireProgram } from "../helpers/require-program.js";
import { proberContract } from "./prober.contract.js";

proberContract("undici", (options) => new UndiciProber(options));

const noOpenssl = requireProgram("openssl", "openssl");

const spec = (url: string): OriginSpec => parseOriginSpec({ url });

/**
 * A throwaway self-signed certificate for 127.0.0.1 and `origin.test`, made by the openssl
 * program; undefined where it is not installed (the tests that need it are then skipped, or fail
 * under CI: see requireProgram).
 */
function selfSignedCert(): { key: string; cert: string } | undefined {
  if (noOpenssl) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "heck-tls-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"].concat([
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:origin.test",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ]),
      { stdio: "ignore" },
    );
    return {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("UndiciProber", () => {
  test("after close, probes resolve as failures and close is safe twice", async () => {
    const prober = new UndiciProber({ nodeName: "n", version: "1.0.0" });
    await prober.close();
    await prober.close();
    const result = await prober.probe(spec("http://127.0.0.1:9/"));
    assert.deepEqual(result.ok, false);
    assert.equal(result.error, "prober closed");
  });

  test("an invalid expectStatus fails the probe, naming the item", async (t) => {
    const prober = new UndiciProber({ nodeName: "n", version: "1.0.0" });
    t.after(() => prober.close());
    const result = await prober.probe({ ...spec("http://127.0.0.1:9/"), expectStatus: ["2xx"] });
    assert.equal(result.ok, false);
    assert.match(result.error ?? "", /expectStatus\[0\]/);
  });

  const tls = selfSignedCert();
  test("https is spoken; an untrusted certificate fails with a tls reason", {
    skip: noOpenssl,
  }, async (t) => {
    const server = createServer(tls ?? {}, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const prober = new UndiciProber({ nodeName: "n", version: "1.0.0" });
    t.after(() => prober.close());
    const { port } = server.address() as AddressInfo;
    const result = await prober.probe(spec(`https://127.0.0.1:${port}/`));
    assert.equal(result.ok, false);
    assert.equal(result.error, "tls DEPTH_ZERO_SELF_SIGNED_CERT");
  });
});

describe("describeError", () => {
  test("a system error names its step and code", () => {
    const err = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
      syscall: "connect",
    });
    assert.equal(describeError(err), "connect ECONNREFUSED");
  });
  test("an aggregate of connect attempts reports the first", () => {
    const first = Object.assign(new Error("x"), { code: "ENETUNREACH", syscall: "connect" });
    assert.equal(describeError(new AggregateError([first], "all failed")), "connect ENETUNREACH");
  });
  test("a DNS failure names getaddrinfo", () => {
    const err = Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.invalid"), {
      code: "ENOTFOUND",
      syscall: "getaddrinfo",
    });
    assert.equal(describeError(err), "getaddrinfo ENOTFOUND");
  });
  test("a long message is cut", () => {
    assert.ok(describeError(new Error("x".repeat(1000))).length <= 200);
  });
});

/** Starts a server on 127.0.0.1 port 0 and registers its shutdown with the test. */
async function listen<S extends Server>(
  t: { after(fn: () => unknown): void },
  server: S,
): Promise<{ server: S; port: number }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

function prober(
  t: { after(fn: () => unknown): void },
  extra: { denyPrivateTargets?: boolean; lookup?: never } = {},
) {
  const p = new UndiciProber({ nodeName: "n", version: "1.0.0", ...extra });
  t.after(() => p.close());
  return p;
}

describe("UndiciProber: timeoutMs is a deadline for every phase", () => {
  test("a server that accepts and never answers times out waiting for response headers", async (t) => {
    const { port } = await listen(
      t,
      createTcpServer(() => {}),
    );
    const result = await prober(t).probe({ ...spec(`http://127.0.0.1:${port}/`), timeoutMs: 200 });
    assert.equal(result.error, "response headers timeout after 200 ms");
    assert.ok(result.latencyMs >= 190 && result.latencyMs < 1500, `latency ${result.latencyMs}`);
  });

  test("an https origin that accepts TCP but never speaks TLS times out in the TLS handshake", async (t) => {
    const { port } = await listen(
      t,
      createTcpServer(() => {}),
    );
    const result = await prober(t).probe({ ...spec(`https://127.0.0.1:${port}/`), timeoutMs: 200 });
    assert.equal(result.error, "TLS handshake timeout after 200 ms");
  });

  test("a name whose lookup never answers times out in the DNS lookup", async (t) => {
    const p = new UndiciProber({ nodeName: "n", version: "1.0.0", lookup: () => {} });
    t.after(() => p.close());
    for (const url of ["http://stuck.test:80/", "tcp://stuck.test:80"]) {
      const result = await p.probe({ ...spec(url), timeoutMs: 150 });
      assert.equal(result.error, "DNS lookup timeout after 150 ms", url);
    }
  });

  test("a connection reset before the answer fails at once with a connection reason", async (t) => {
    const { port } = await listen(
      t,
      createTcpServer((socket) => socket.once("data", () => socket.resetAndDestroy())),
    );
    const result = await prober(t).probe({ ...spec(`http://127.0.0.1:${port}/`), timeoutMs: 2000 });
    assert.equal(result.ok, false);
    assert.ok(result.latencyMs < 1000, `latency ${result.latencyMs}`);
    assert.match(result.error ?? "", /ECONNRESET|connection closed by the server/);
  });

  test("a body cut short by the server fails", async (t) => {
    const { port } = await listen(
      t,
      createTcpServer((socket) =>
        socket.once("data", () => {
          socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
          setTimeout(() => socket.destroy(), 20);
        }),
      ),
    );
    const result = await prober(t).probe(spec(`http://127.0.0.1:${port}/`));
    assert.equal(result.ok, false);
    assert.equal(result.statusCode, 200);
  });

  test("a huge body is read no further than 64 KiB", async (t) => {
    let sent = 0;
    const { port } = await listen(
      t,
      createHttpServer((_req, res) => {
        res.writeHead(200, { "content-length": String(512 * 1024 * 1024) });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = () => {
          while (sent < 512 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
        };
        res.on("drain", pump);
        res.on("close", () => res.off("drain", pump));
        pump();
      }),
    );
    const result = await prober(t).probe({ ...spec(`http://127.0.0.1:${port}/`), bodyContains: "b" });
    assert.equal(result.error, 'body lacks "b"');
    await new Promise((r) => setTimeout(r, 100));
    // Socket buffers hold a few MiB at most; reading the whole body would have sent 512 MiB.
    assert.ok(sent < 32 * 1024 * 1024, `server sent ${sent} bytes`);
  });
});

describe("UndiciProber: the checks users expect", () => {
  test("tcp:// succeeds when a connection is accepted and fails on a closed port", async (t) => {
    const { server, port } = await listen(
      t,
      createTcpServer((s) => s.end()),
    );
    const p = prober(t);
    const ok = await p.probe(spec(`tcp://127.0.0.1:${port}`));
    assert.deepEqual(
      { ok: ok.ok, statusCode: ok.statusCode, error: ok.error },
      { ok: true, statusCode: null, error: null },
    );
    assert.equal((await p.probe(spec(`TCP://127.0.0.1:${port}`))).ok, true, "the scheme in any case");
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const closed = await p.probe(spec(`tcp://127.0.0.1:${port}`));
    assert.equal(closed.ok, false);
    assert.equal(closed.error, "connect ECONNREFUSED");
  });

  test("redirects are followed only with followRedirects", async (t) => {
    const paths: string[] = [];
    const { port } = await listen(
      t,
      createHttpServer((req, res) => {
        paths.push(req.url ?? "");
        if (req.url === "/old") res.writeHead(301, { location: "/new" }).end();
        else res.writeHead(503).end();
      }),
    );
    const p = prober(t);
    const plain = await p.probe(spec(`http://127.0.0.1:${port}/old`));
    assert.equal(plain.statusCode, 301);
    assert.equal(plain.ok, true);
    assert.deepEqual(paths, ["/old"]);
    const followed = await p.probe({ ...spec(`http://127.0.0.1:${port}/old`), followRedirects: true });
    assert.equal(followed.statusCode, 503);
    assert.equal(followed.ok, false);
    assert.deepEqual(paths, ["/old", "/old", "/new"]);
  });

  test("hostHeader replaces the Host header", async (t) => {
    const seen: IncomingHttpHeaders[] = [];
    const { port } = await listen(
      t,
      createHttpServer((req, res) => {
        seen.push(req.headers);
        res.end();
      }),
    );
    await prober(t).probe({
      ...spec(`http://127.0.0.1:${port}/`),
      hostHeader: "api.example.com",
      headers: { Host: "ignored.example" },
    });
    assert.equal(seen[0]?.host, "api.example.com");
  });

  test("keep-alive reuses one connection; freshConnection opens one per probe", async (t) => {
    let connections = 0;
    const { server, port } = await listen(
      t,
      createHttpServer((_req, res) => res.end("ok")),
    );
    server.on("connection", () => connections++);
    const p = prober(t);
    const url = `http://127.0.0.1:${port}/`;
    // Probes of one origin are an interval apart; a short pause stands for it.
    for (let i = 0; i < 3; i++) {
      assert.equal((await p.probe(spec(url))).ok, true);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(connections, 1);
    for (let i = 0; i < 3; i++)
      assert.equal((await p.probe({ ...spec(url), freshConnection: true })).ok, true);
    assert.ok(connections >= 3, `${connections} connections`);
  });

  const tls = selfSignedCert();
  test("https: tlsSkipVerify accepts a self-signed certificate, tlsCa pins it, tlsServerName sets SNI", {
    skip: noOpenssl,
  }, async (t) => {
    const servernames: Array<string | false | null> = [];
    const server = createServer(tls ?? {}, (req, res) => {
      servernames.push((req.socket as import("node:tls").TLSSocket).servername);
      res.end("ok");
    });
    const { port } = await listen(t, server);
    const p = prober(t);
    const url = `https://127.0.0.1:${port}/`;
    assert.equal((await p.probe(spec(url))).error, "tls DEPTH_ZERO_SELF_SIGNED_CERT");
    assert.equal((await p.probe({ ...spec(url), tlsSkipVerify: true })).ok, true);
    assert.equal((await p.probe({ ...spec(url), tlsCa: tls?.cert as string })).ok, true);
    const sni = await p.probe({ ...spec(url), tlsCa: tls?.cert as string, tlsServerName: "origin.test" });
    assert.equal(sni.ok, true);
    assert.equal(servernames.at(-1), "origin.test");
    const mismatch = await p.probe({ ...spec(url), tlsCa: tls?.cert as string, tlsServerName: "other.test" });
    assert.equal(mismatch.ok, false);
    assert.match(mismatch.error ?? "", /ERR_TLS_CERT_ALTNAME_INVALID/);
  });
});

describe("UndiciProber: close", () => {
  test("close ends a TCP check in flight at once, as prober closed", async () => {
    const p = new UndiciProber({ nodeName: "n", version: "1", lookup: () => {} });
    const pending = p.probe({ ...spec("tcp://stuck.test:80"), timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    await p.close();
    const result = await pending;
    assert.equal(result.error, "prober closed");
    assert.ok(result.latencyMs < 1000, `latency ${result.latencyMs}`);
  });
});

describe("UndiciProber: denyPrivateTargets", () => {
  test("refuses loopback literals for http and tcp, naming the range", async (t) => {
    const { port } = await listen(
      t,
      createHttpServer((_req, res) => res.end()),
    );
    const p = prober(t, { denyPrivateTargets: true });
    const http = await p.probe(spec(`http://127.0.0.1:${port}/`));
    assert.equal(http.error, "target 127.0.0.1 refused: loopback (127.0.0.0/8)");
    const tcp = await p.probe(spec(`tcp://[::1]:${port}`));
    assert.equal(tcp.error, "target ::1 refused: loopback (::1)");
  });

  test("judges the resolved address at probe time, so a name rebound to loopback is refused", async (t) => {
    let seen = 0;
    const { port } = await listen(
      t,
      createHttpServer((_req, res) => {
        seen++;
        res.end();
      }),
    );
    const lookup = ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
      if (options.all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
      else cb(null, "127.0.0.1", 4);
    }) as never;
    const open = new UndiciProber({ nodeName: "n", version: "1", lookup });
    t.after(() => open.close());
    assert.equal((await open.probe(spec(`http://rebound.test:${port}/`))).ok, true);
    const guarded = new UndiciProber({ nodeName: "n", version: "1", lookup, denyPrivateTargets: true });
    t.after(() => guarded.close());
    const refused = await guarded.probe(spec(`http://rebound.test:${port}/`));
    assert.equal(refused.error, "target 127.0.0.1 refused: loopback (127.0.0.0/8)");
    const tcp = await guarded.probe(spec(`tcp://rebound.test:${port}`));
    assert.equal(tcp.error, "target 127.0.0.1 refused: loopback (127.0.0.0/8)");
    assert.equal(seen, 1);
  });
});

describe("UndiciProber: deadlines and signals", () => {
  test("each probe keeps its own deadline: a shorter one started later passes first", async (t) => {
    const { port } = await listen(
      t,
      createHttpServer(() => {}),
    );
    const p = prober(t);
    const url = `http://127.0.0.1:${port}/`;
    let longSettled = false;
    const long = p.probe({ ...spec(url), timeoutMs: 5000 }).then((r) => {
      longSettled = true;
      return r;
    });
    const short = await p.probe({ ...spec(url), timeoutMs: 100 });
    assert.equal(short.error, "response headers timeout after 100 ms");
    assert.equal(longSettled, false, "the longer deadline has not passed");
    await p.close();
    assert.equal((await long).error, "prober closed");
  });

  test("many probes in flight under one timeout each get their timeout verdict", async (t) => {
    const { port } = await listen(
      t,
      createHttpServer(() => {}),
    );
    const p = prober(t);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        p.probe({ ...spec(`http://127.0.0.1:${port}/${i}`), timeoutMs: 150 }),
      ),
    );
    for (const r of results) assert.equal(r.error, "response headers timeout after 150 ms");
  });

  test("any object with AbortSignal's listener methods cancels a probe; its listener is removed after", async (t) => {
    const { port } = await listen(
      t,
      createHttpServer((req, res) => {
        if (req.url === "/ok") res.end("ok");
      }),
    );
    const p = prober(t);
    const listeners = new Set<ProbeSignalListener>();
    const signal = {
      aborted: false,
      reason: undefined as unknown,
      addEventListener: (_type: "abort", l: ProbeSignalListener) => listeners.add(l),
      removeEventListener: (_type: "abort", l: ProbeSignalListener) => listeners.delete(l),
    };
    const ok = await p.probe(spec(`http://127.0.0.1:${port}/ok`), signal);
    assert.equal(ok.ok, true);
    assert.equal(listeners.size, 0, "a settled probe leaves no listener");
    const pending = p.probe({ ...spec(`http://127.0.0.1:${port}/hang`), timeoutMs: 5000 }, signal);
    await new Promise((r) => setTimeout(r, 20));
    signal.aborted = true;
    signal.reason = new Error("moved away");
    for (const l of [...listeners]) typeof l === "function" ? l() : l.handleEvent();
    await assert.rejects(pending, /moved away/);
    assert.equal(listeners.size, 0);
  });
});
