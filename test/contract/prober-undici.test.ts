import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { describeError, UndiciProber } from "../../src/adapters/undici-prober.js";
import { parseOriginSpec } from "../../src/core/checks/spec.js";
import type { OriginSpec } from "../../src/core/state/types.js";
import { requireProgram } from "../helpers/require-program.js";
import { proberContract } from "./prober.contract.js";

proberContract("undici", (options) => new UndiciProber(options));

const spec = (url: string): OriginSpec => parseOriginSpec({ url });

/** A throwaway self-signed certificate, made by the openssl program. */
function selfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "heck-tls-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"].concat([
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

  const noOpenssl = requireProgram("openssl", "openssl");
  test("https is spoken; an untrusted certificate fails with a tls reason", {
    skip: noOpenssl,
  }, async (t) => {
    const server = createServer(selfSignedCert(), (_req, res) => res.end("ok"));
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
