import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { SCHEMA_VERSION, SqliteStore } from "../../../src/adapters/sqlite-store.js";
import type { HealthRecord, OriginEntry, OriginSpec } from "../../../src/core/state/types.js";

const root = mkdtempSync(join(tmpdir(), "heck-store-"));
after(() => rmSync(root, { recursive: true, force: true }));

let dirCount = 0;
function freshDir(): string {
  dirCount++;
  // A nested path checks that the store creates missing directories.
  return join(root, `case-${dirCount}`, "data");
}

const spec: OriginSpec = {
  url: "https://127.0.0.1:8443/health",
  method: "HEAD",
  intervalMs: 1000,
  timeoutMs: 500,
  expectStatus: [200, "300-399"],
  healthyThreshold: 1,
  unhealthyThreshold: 4,
  headers: { "X-Probe": "yes" },
  bodyContains: "ok",
};

const live: OriginEntry = { id: "api:main", spec, stamp: { wall: 1000, counter: 2, node: "n1" } };
const tombstone: OriginEntry = { id: "gone", spec: null, stamp: { wall: 2000, counter: 0, node: "n2" } };

const healthy: HealthRecord = {
  id: "api:main",
  status: "healthy",
  reporter: "n1",
  checkedAt: 1_700_000_000_123,
  changedAt: 1_700_000_000_000,
  latencyMs: 12.5,
  error: null,
  stamp: { wall: 3000, counter: 1, node: "n1" },
};
const unknown: HealthRecord = {
  id: "fresh",
  status: "unknown",
  reporter: null,
  checkedAt: null,
  changedAt: null,
  latencyMs: null,
  error: "connect ECONNREFUSED",
  stamp: { wall: 3001, counter: 0, node: "n3" },
};

const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));

describe("SqliteStore", () => {
  test("origins round trip, specs as given and tombstones kept", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    store.saveOrigins([live, tombstone]);
    assert.deepEqual(byId(store.loadOrigins()), byId([live, tombstone]));
  });

  test("saving an origin again replaces it, and a delete becomes a tombstone", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    store.saveOrigins([live]);
    const deleted: OriginEntry = { id: live.id, spec: null, stamp: { wall: 5000, counter: 0, node: "n2" } };
    store.saveOrigins([deleted]);
    assert.deepEqual(store.loadOrigins(), [deleted]);
  });

  test("a spec without bodyContains comes back without the key", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    const { bodyContains: _, ...plain } = spec;
    store.saveOrigins([{ ...live, spec: plain }]);
    const [loaded] = store.loadOrigins();
    assert.ok(loaded?.spec);
    assert.equal("bodyContains" in loaded.spec, false);
  });

  test("a batch is all or nothing", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    const bad = { ...tombstone, stamp: { wall: 1, counter: 0, node: null } } as unknown as OriginEntry;
    assert.throws(() => store.saveOrigins([live, bad]));
    assert.deepEqual(store.loadOrigins(), []);
  });

  test("health records round trip with nulls and fractional latency", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    store.saveHealth([healthy, unknown]);
    assert.deepEqual(byId(store.loadHealth()), byId([healthy, unknown]));
    const flipped: HealthRecord = { ...healthy, status: "unhealthy", error: "status 503 not in 200-399" };
    store.saveHealth([flipped]);
    assert.deepEqual(byId(store.loadHealth()), byId([flipped, unknown]));
  });

  test("savePeers replaces the whole set", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    store.savePeers([
      { host: "127.0.0.1", port: 7946 },
      { host: "127.0.0.1", port: 7947 },
    ]);
    store.savePeers([
      { host: "127.0.0.1", port: 7947 },
      { host: "::1", port: 7948 },
      { host: "::1", port: 7948 },
    ]);
    const peers = store.loadPeers().sort((a, b) => a.port - b.port);
    assert.deepEqual(peers, [
      { host: "127.0.0.1", port: 7947 },
      { host: "::1", port: 7948 },
    ]);
  });

  test("meta values are set, replaced and absent as undefined", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    assert.equal(store.getMeta("incarnation"), undefined);
    store.setMeta("incarnation", "4");
    store.setMeta("incarnation", "5");
    assert.equal(store.getMeta("incarnation"), "5");
  });

  test("everything survives close and reopen; close is safe twice", () => {
    const dir = freshDir();
    const first = new SqliteStore(dir);
    first.saveOrigins([live, tombstone]);
    first.saveHealth([healthy]);
    first.savePeers([{ host: "127.0.0.1", port: 7946 }]);
    first.setMeta("incarnation", "7");
    first.close();
    first.close();
    assert.throws(() => first.loadOrigins());

    const second = new SqliteStore(dir);
    after(() => second.close());
    assert.deepEqual(byId(second.loadOrigins()), byId([live, tombstone]));
    assert.deepEqual(second.loadHealth(), [healthy]);
    assert.deepEqual(second.loadPeers(), [{ host: "127.0.0.1", port: 7946 }]);
    assert.equal(second.getMeta("incarnation"), "7");
  });

  test("the file is in WAL mode at the current schema version", () => {
    const store = new SqliteStore(freshDir());
    store.close();
    const raw = new Database(store.path, { readonly: true });
    after(() => raw.close());
    assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(raw.pragma("user_version", { simple: true }), SCHEMA_VERSION);
  });

  test("a file written by a newer schema is refused, not downgraded", () => {
    const dir = freshDir();
    new SqliteStore(dir).close();
    const raw = new Database(join(dir, "heck.db"));
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => new SqliteStore(dir), /newer than this heck/);
  });

  test("a writer killed with SIGKILL loses no acknowledged write", async (t) => {
    const dir = freshDir();
    const script = fileURLToPath(new URL("./fixtures/store-writer.ts", import.meta.url));
    const repo = fileURLToPath(new URL("../../../", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script, dir, "100000"], {
      cwd: repo,
      stdio: ["ignore", "pipe", "inherit"],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_c, sig) => resolve(sig)),
    );

    const acknowledged: string[] = [];
    // Kill at an arbitrary point of a write burst, not on a quiet process.
    const killAfter = 200;
    for await (const line of createInterface({ input: child.stdout })) {
      const m = /^ok (\S+)$/.exec(line);
      assert.ok(m, `unexpected line ${line}`);
      acknowledged.push(m[1] as string);
      if (acknowledged.length === killAfter) child.kill("SIGKILL");
    }
    assert.equal(await exited, "SIGKILL");
    assert.ok(acknowledged.length >= killAfter);

    const store = new SqliteStore(dir);
    after(() => store.close());
    const saved = new Set(store.loadOrigins().map((e) => e.id));
    const lost = acknowledged.filter((id) => !saved.has(id));
    assert.deepEqual(lost, []);
  });
});
