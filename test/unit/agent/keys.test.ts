import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { keyringPath, loadKeyringFile, saveKeyringFile } from "../../../src/adapters/keyring-file.js";
import { KeyManager, type KeyReport, KeyringUnavailableError } from "../../../src/agent/keys.js";
import { resolveAgentConfig } from "../../../src/config.js";
import { profile } from "../../../src/core/membership/config.js";
import type { QueryOptions } from "../../../src/core/membership/queries.js";
import { decodeKeyResponse, encodeKeyRequest, KeyQuery } from "../../../src/core/membership/serf-query.js";
import { ConfigError, ValidationError } from "../../../src/errors.js";
import { Keyring } from "../../../src/wire/crypto.js";
import { SimCluster } from "../../sim/sim-network.js";

const K1 = randomBytes(16);
const K2 = randomBytes(32);
const b64 = (k: Uint8Array) => Buffer.from(k).toString("base64");
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A key manager whose queries are recorded and never sent. */
function manager(keys: Uint8Array[] | undefined) {
  const keyring = keys ? new Keyring(keys) : undefined;
  const saved: string[][] = [];
  const queries: QueryOptions[] = [];
  const km = new KeyManager({
    keyring,
    save: (list) => saved.push(list.map(b64)),
    query: (options) => queries.push(options),
    timeoutMs: () => 1000,
    log: silent,
  });
  return { km, keyring, saved, queries };
}

describe("KeyManager: what this node can refuse alone is refused before anything is sent", () => {
  const refused = async (
    keys: Uint8Array[] | undefined,
    op: "install" | "use" | "remove" | "list",
    key: string | undefined,
    error: new (...args: never[]) => Error,
    message: RegExp,
  ) => {
    const m = manager(keys);
    const before = m.keyring?.list().map(b64);
    await assert.rejects(
      m.km.run(op, key),
      (e: unknown) => e instanceof error && message.test((e as Error).message),
    );
    assert.equal(m.queries.length, 0, "no query went out");
    assert.deepEqual(m.saved, []);
    assert.deepEqual(m.keyring?.list().map(b64), before);
  };

  it("a node without gossip encryption has no keyring to change or list", async () => {
    await refused(undefined, "list", undefined, KeyringUnavailableError, /not enabled/);
    await refused(undefined, "install", b64(K2), KeyringUnavailableError, /--encrypt/);
  });

  it("bad base64, a wrong length and a missing key", async () => {
    await refused([K1], "install", "not base64!", ValidationError, /base64/);
    await refused(
      [K1],
      "install",
      Buffer.from("short").toString("base64"),
      ValidationError,
      /16, 24 or 32 bytes/,
    );
    await refused([K1], "install", "", ValidationError, /required/);
    await refused([K1], "use", undefined, ValidationError, /required/);
  });

  it("use of a key not installed here, and removal of this node's primary key", async () => {
    await refused([K1], "use", b64(K2), ValidationError, /not installed/);
    await refused([K1, K2], "remove", b64(K1), ValidationError, /primary key/);
  });
});

describe("KeyManager: answering key queries, as Serf answers them", () => {
  const answer = (km: KeyManager, name: string, key: Uint8Array) =>
    decodeKeyResponse(km.handleQuery(name, encodeKeyRequest(key)) as Uint8Array);

  it("install, use and remove change the keyring and save it", () => {
    const m = manager([K1]);
    assert.deepEqual(answer(m.km, KeyQuery.install, K2), {
      result: true,
      message: "",
      keys: [],
      primaryKey: "",
    });
    assert.deepEqual(answer(m.km, KeyQuery.use, K2).result, true);
    assert.deepEqual(answer(m.km, KeyQuery.remove, K1).result, true);
    assert.deepEqual(m.saved, [[b64(K1), b64(K2)], [b64(K2), b64(K1)], [b64(K2)]]);
    assert.deepEqual(answer(m.km, KeyQuery.list, new Uint8Array(0)), {
      result: true,
      message: "",
      keys: [b64(K2)],
      primaryKey: b64(K2),
    });
  });

  it("refusals carry memberlist's reasons and change nothing", () => {
    const m = manager([K1]);
    assert.deepEqual(answer(m.km, KeyQuery.remove, K1), {
      result: false,
      message: "Removing the primary key is not allowed",
      keys: [],
      primaryKey: "",
    });
    assert.equal(answer(m.km, KeyQuery.use, K2).message, "Requested key is not in the keyring");
    assert.equal(
      answer(m.km, KeyQuery.install, randomBytes(7)).message,
      "key size must be 16, 24 or 32 bytes",
    );
    assert.equal(
      decodeKeyResponse(m.km.handleQuery(KeyQuery.install, Uint8Array.of(7, 0xc1)) as Uint8Array).result,
      false,
    );
    assert.deepEqual(m.saved, []);
    assert.deepEqual(m.keyring?.list().map(b64), [b64(K1)]);
  });

  it("without encryption every key query fails as Serf's does", () => {
    const m = manager(undefined);
    assert.equal(answer(m.km, KeyQuery.install, K2).message, "No keyring to modify (encryption not enabled)");
    assert.equal(answer(m.km, KeyQuery.list, K2).message, "Keyring is empty (encryption not enabled)");
  });

  it("other internal queries are not its to answer", () => {
    assert.equal(manager([K1]).km.handleQuery("_serf_ping", new Uint8Array(0)), undefined);
  });
});

describe("KeyManager: a rotation across a cluster", () => {
  it("install, use, remove: every member ends with only the new key, and list counts them", () => {
    const c = new SimCluster({ size: 0, seed: 11, config: profile("local") });
    const managers = new Map<string, KeyManager>();
    const rings = new Map<string, Keyring>();
    for (let i = 0; i < 5; i++) {
      const name = `n${i}`;
      const keyring = new Keyring([K1]);
      rings.set(name, keyring);
      const km: KeyManager = new KeyManager({
        keyring,
        save: () => {},
        query: (options) => c.node(name).query(options),
        timeoutMs: () => 1600,
        log: silent,
      });
      managers.set(name, km);
      c.add(name, { queryHandler: (q, payload) => km.handleQuery(q, payload) });
    }
    c.joinAll();
    c.net.runFor(10_000);
    const sequence = async () => {
      // The report settles on a promise: virtual time advances in steps, microtasks in between.
      const ask = async (from: string, op: "install" | "use" | "remove" | "list", key?: Uint8Array) => {
        let report: KeyReport | undefined;
        const pending = managers.get(from)?.run(op, key && b64(key));
        pending?.then((r) => {
          report = r;
        });
        for (let t = 0; t < 600 && report === undefined; t++) {
          await new Promise((r) => setImmediate(r));
          c.net.runFor(5);
        }
        assert.ok(report, `${op} never finished`);
        return report;
      };
      const installed = await ask("n1", "install", K2);
      assert.deepEqual(
        { ok: installed.ok, members: installed.members, responses: installed.responses },
        {
          ok: true,
          members: 5,
          responses: 5,
        },
      );
      const listed = await ask("n3", "list");
      assert.deepEqual(listed.keys, [
        { key: b64(K1), members: 5, primary: 5 },
        { key: b64(K2), members: 5, primary: 0 },
      ]);
      assert.equal((await ask("n2", "use", K2)).ok, true);
      assert.equal((await ask("n4", "remove", K1)).ok, true);
      for (const [name, ring] of rings) assert.deepEqual(ring.list().map(b64), [b64(K2)], name);
      const after = await ask("n0", "list");
      assert.deepEqual(after.keys, [{ key: b64(K2), members: 5, primary: 5 }]);
    };
    return sequence();
  });
});

describe("the keyring file", () => {
  const dir = () => mkdtempSync(join(tmpdir(), "heck-keyring-"));

  it("holds the keys as Serf's keyring file does, primary first, readable by its owner only", () => {
    const d = dir();
    try {
      const path = keyringPath(d);
      assert.equal(loadKeyringFile(path), undefined);
      saveKeyringFile(path, [K2, K1]);
      assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), [b64(K2), b64(K1)]);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.deepEqual(loadKeyringFile(path)?.map(b64), [b64(K2), b64(K1)]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a file that is not a list of keys is a configuration error", () => {
    const d = dir();
    try {
      const path = keyringPath(d);
      for (const text of ["{", "[]", '{"a":1}', "[1]", '["bm90IGEga2V5"]']) {
        writeFileSync(path, text);
        assert.throws(() => loadKeyringFile(path), ConfigError, text);
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a data dir with a keyring file lets an agent bind beyond loopback without --encrypt", () => {
    const d = dir();
    try {
      const flags = { name: "a", bind: "10.1.2.3:7946", dataDir: d };
      assert.throws(() => resolveAgentConfig(flags, {}), /not encrypted/);
      saveKeyringFile(keyringPath(d), [K1]);
      assert.equal(resolveAgentConfig(flags, {}).encrypt, undefined);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
