import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import fc from "fast-check";
import { SCHEMA_VERSION, SqliteStore } from "../../../src/adapters/sqlite-store.js";
import type { Version } from "../../../src/core/state/causal-map.js";
import { CausalContext } from "../../../src/core/state/dots.js";
import type { CatalogValue, HealthValue, OriginSpec } from "../../../src/core/state/types.js";

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

const put: Version<CatalogValue> = {
  writer: "w1",
  counter: 3,
  wall: 1000,
  tick: 2,
  value: { spec, target: { writer: "w1", counter: 1 } },
};
const concurrent: Version<CatalogValue> = { ...put, writer: "w2", counter: 1, wall: 1001 };
const tombstone: Version<CatalogValue> = { writer: "w2", counter: 2, wall: 2000, tick: 0, value: null };
const report: Version<HealthValue> = {
  writer: "w1",
  counter: 4,
  wall: 3000,
  tick: 1,
  value: {
    status: "unhealthy",
    reporter: "n1",
    checkedAt: 1_700_000_000_123,
    changedAt: 1_700_000_000_000,
    latencyMs: 12.5,
    error: "status 503 not in 200-399",
    target: { writer: "w1", counter: 1 },
    confirmedBy: null,
  },
};

function context(): CausalContext {
  const ctx = CausalContext.from(new Map([["w1", 4]]));
  ctx.add({ writer: "w2", counter: 1 });
  ctx.add({ writer: "w2", counter: 2 });
  ctx.add({ writer: "w3", counter: 7 });
  return ctx;
}

describe("SqliteStore", () => {
  test("versions, tombstones, health, context and floor round trip", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    store.saveState({
      catalog: [
        ["api:main", [put, concurrent]],
        ["gone", [tombstone]],
      ],
      health: [["api:main", [report]]],
      context: { context: context(), floor: new Map([["w2", 2]]) },
    });
    const loaded = store.loadState();
    const byKey = <T>(xs: Array<[string, T]>) => [...xs].sort((a, b) => a[0].localeCompare(b[0]));
    assert.deepEqual(byKey(loaded.catalog), [
      ["api:main", [put, concurrent]],
      ["gone", [tombstone]],
    ]);
    assert.deepEqual(loaded.health, [["api:main", [report]]]);
    assert.deepEqual([...loaded.context.vv].sort(), [
      ["w1", 4],
      ["w2", 2],
    ]);
    assert.deepEqual([...(loaded.context.cloud.get("w3") ?? [])], [7]);
    assert.deepEqual([...loaded.floor], [["w2", 2]]);
  });

  test("a context saved change by change reads back as the context held", () => {
    // The store writes the context whole once, then only what moved (its cloud log): after any
    // run of dots added, vectors joined, floors raised and saves, some of them failing, what it
    // loads must be exactly the context and floor in memory at the last successful save.
    const dot = fc.record({
      writer: fc.constantFrom("w1", "w2", "w3"),
      counter: fc.integer({ min: 1, max: 40 }),
    });
    const step = fc.oneof(
      fc.record({ add: fc.array(dot, { maxLength: 12 }) }),
      fc.record({
        join: fc.record({
          writer: fc.constantFrom("w1", "w2", "w4"),
          counter: fc.integer({ min: 1, max: 40 }),
        }),
      }),
      fc.record({ floor: dot }),
      fc.record({ save: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => {
        const store = new SqliteStore(freshDir());
        try {
          const ctx = new CausalContext();
          const floor = new Map<string, number>();
          let saved = {
            vv: [] as Array<[string, number]>,
            cloud: [] as string[],
            floor: [] as Array<[string, number]>,
          };
          const snapshot = () => ({
            vv: [...ctx.vv].sort(),
            cloud: [...ctx.cloud].flatMap(([w, cs]) => [...cs].map((c) => `${w}:${c}`)).sort(),
            floor: [...floor].sort(),
          });
          for (const s of steps) {
            if ("add" in s) for (const d of s.add) ctx.add(d);
            else if ("join" in s) ctx.join(CausalContext.from(new Map([[s.join.writer, s.join.counter]])));
            else if ("floor" in s)
              floor.set(s.floor.writer, Math.max(floor.get(s.floor.writer) ?? 0, s.floor.counter));
            else if (s.save) {
              store.saveState({ catalog: [], health: [], context: { context: ctx, floor } });
              saved = snapshot();
            } else {
              const bad = { ...put, counter: null } as unknown as Version<CatalogValue>;
              assert.throws(() =>
                store.saveState({ catalog: [["x", [bad]]], health: [], context: { context: ctx, floor } }),
              );
            }
          }
          const loaded = store.loadState();
          // Nothing folded into a vector is left behind in the file.
          const raw = new Database(store.path, { readonly: true });
          const rows = (raw.prepare("SELECT count(*) AS n FROM context_cloud").get() as { n: number }).n;
          raw.close();
          assert.equal(rows, saved.cloud.length);
          assert.deepEqual(
            {
              vv: [...loaded.context.vv].sort(),
              cloud: [...loaded.context.cloud].flatMap(([w, cs]) => [...cs].map((c) => `${w}:${c}`)).sort(),
              floor: [...loaded.floor].sort(),
            },
            saved,
          );
        } finally {
          store.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  test("saving a key again replaces its whole version set", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    store.saveState({ catalog: [["o", [put, concurrent]]], health: [] });
    store.saveState({ catalog: [["o", [tombstone]]], health: [] });
    assert.deepEqual(store.loadState().catalog, [["o", [tombstone]]]);
    store.saveState({ catalog: [["o", []]], health: [] });
    assert.deepEqual(store.loadState().catalog, []);
  });

  test("a batch is all or nothing", () => {
    const store = new SqliteStore(freshDir());
    after(() => store.close());
    const bad = { ...put, counter: null } as unknown as Version<CatalogValue>;
    assert.throws(() =>
      store.saveState({
        catalog: [
          ["a", [put]],
          ["b", [bad]],
        ],
        health: [],
      }),
    );
    assert.deepEqual(store.loadState().catalog, []);
  });

  test("a version-1 file keeps its live origins for the agent to write again", () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const raw = new Database(join(dir, "heck.db"));
    raw.exec(`CREATE TABLE origins (id TEXT PRIMARY KEY, spec TEXT, stamp_wall INTEGER NOT NULL,
      stamp_counter INTEGER NOT NULL, stamp_node TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE health (id TEXT PRIMARY KEY, status TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE peers (host TEXT NOT NULL, port INTEGER NOT NULL, PRIMARY KEY (host, port)) WITHOUT ROWID;
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`);
    raw.prepare("INSERT INTO origins VALUES (?, ?, 1, 0, 'n1')").run("kept", JSON.stringify(spec));
    raw.prepare("INSERT INTO origins VALUES (?, NULL, 2, 0, 'n1')").run("deleted");
    raw.pragma("user_version = 1");
    raw.close();
    const store = new SqliteStore(dir);
    after(() => store.close());
    assert.deepEqual(store.legacyOrigins(), [{ id: "kept", spec }]);
    store.dropLegacyOrigins();
    assert.deepEqual(store.legacyOrigins(), []);
  });

  test("a version-2 file (a row per version) is migrated to a row per key, nothing lost", () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const raw = new Database(join(dir, "heck.db"));
    raw.exec(`CREATE TABLE versions (map INTEGER NOT NULL, id TEXT NOT NULL, writer TEXT NOT NULL,
        counter INTEGER NOT NULL, wall INTEGER NOT NULL, tick INTEGER NOT NULL, value TEXT,
        PRIMARY KEY (map, id, writer, counter)) WITHOUT ROWID;
      CREATE TABLE context (writer TEXT PRIMARY KEY, top INTEGER NOT NULL, floor INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE context_cloud (writer TEXT NOT NULL, counter INTEGER NOT NULL, PRIMARY KEY (writer, counter)) WITHOUT ROWID;
      CREATE TABLE peers (host TEXT NOT NULL, port INTEGER NOT NULL, PRIMARY KEY (host, port)) WITHOUT ROWID;
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`);
    const insert = raw.prepare("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const [map, id, v] of [
      [0, "api:main", put],
      [0, "api:main", concurrent],
      [0, "gone", tombstone],
      [1, "api:main", report],
    ] as Array<[number, string, Version<unknown>]>) {
      insert.run(
        map,
        id,
        v.writer,
        v.counter,
        v.wall,
        v.tick,
        v.value === null ? null : JSON.stringify(v.value),
      );
    }
    raw.prepare("INSERT INTO context VALUES ('w1', 4, 0), ('w2', 2, 2)").run();
    raw.prepare("INSERT INTO meta VALUES ('writer', 'w1')").run();
    raw.pragma("user_version = 2");
    raw.close();

    const store = new SqliteStore(dir);
    after(() => store.close());
    const loaded = store.loadState();
    const byKey = <T>(xs: Array<[string, T]>) => [...xs].sort((a, b) => a[0].localeCompare(b[0]));
    const byDot = (vs: Version<unknown>[]) => [...vs].sort((a, b) => a.writer.localeCompare(b.writer));
    assert.deepEqual(
      byKey(loaded.catalog).map(([id, vs]) => [id, byDot(vs)]),
      [
        ["api:main", [put, concurrent]],
        ["gone", [tombstone]],
      ],
    );
    assert.deepEqual(loaded.health, [["api:main", [report]]]);
    assert.deepEqual([...loaded.floor], [["w2", 2]]);
    assert.equal(store.getMeta("writer"), "w1");
    const check = new Database(store.path, { readonly: true });
    after(() => check.close());
    assert.equal(check.pragma("user_version", { simple: true }), SCHEMA_VERSION);
    assert.equal(
      check.prepare("SELECT 1 FROM sqlite_master WHERE name = 'versions'").get(),
      undefined,
      "the old table is gone",
    );
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
    first.saveState({ catalog: [["api:main", [put]]], health: [["api:main", [report]]] });
    first.savePeers([{ host: "127.0.0.1", port: 7946 }]);
    first.setMeta("incarnation", "7");
    first.close();
    first.close();
    assert.throws(() => first.loadState());

    const second = new SqliteStore(dir);
    after(() => second.close());
    assert.deepEqual(second.loadState().catalog, [["api:main", [put]]]);
    assert.deepEqual(second.loadState().health, [["api:main", [report]]]);
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

  test("past 10,000 keys a thread of its own checkpoints the WAL; everything reads back", async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    const health = (i: number): [string, Version<HealthValue>[]] => [
      `o${i}`,
      [{ ...report, counter: i + 1, value: { ...(report.value as HealthValue), latencyMs: i } }],
    ];
    const before = statSync(store.path).size;
    for (let start = 0; start < 12_000; start += 1000) {
      store.saveState({ catalog: [], health: Array.from({ length: 1000 }, (_, i) => health(start + i)) });
    }
    // Commits now only append to the WAL: the database file grows by the thread's checkpoints.
    const deadline = Date.now() + 10_000;
    while (statSync(store.path).size <= before + 1_000_000 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(statSync(store.path).size > before + 1_000_000, "the WAL was copied into the file");
    store.close();
    const again = new SqliteStore(dir);
    after(() => again.close());
    const loaded = again.loadState();
    assert.equal(loaded.health.length, 12_000);
    const last = loaded.health.find(([id]) => id === "o11999");
    assert.equal(last?.[1][0]?.value?.latencyMs, 11_999);
  });

  test("the checkpointing thread ends once writes stop and comes back when they resume", async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir, { quietMs: 300 });
    after(() => store.close());
    const health = (i: number): [string, Version<HealthValue>[]] => [
      `o${i}`,
      [{ ...report, counter: i + 1, value: { ...(report.value as HealthValue), latencyMs: i } }],
    ];
    const burst = (from: number, n: number) => {
      for (let start = from; start < from + n; start += 500) {
        store.saveState({ catalog: [], health: Array.from({ length: 500 }, (_, i) => health(start + i)) });
      }
    };
    const until = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(ok(), what);
    };
    assert.equal(store.checkpointing, false, "a small store has no thread");
    burst(0, 10_000);
    assert.equal(store.checkpointing, true);
    await until("the thread ends after a quiet spell", () => !store.checkpointing);
    const size = statSync(store.path).size;
    burst(10_000, 500);
    assert.equal(store.checkpointing, false, "500 keys do not bring it back");
    burst(10_500, 500);
    assert.equal(store.checkpointing, true, "a thousand keys do");
    await until("the new writes are copied into the file", () => statSync(store.path).size > size);
    await until("and the thread ends again", () => !store.checkpointing);
  });

  test("a file written by a newer schema is refused, not downgraded", () => {
    const dir = freshDir();
    new SqliteStore(dir).close();
    const raw = new Database(join(dir, "heck.db"));
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => new SqliteStore(dir), /newer than this heck/);
  });

  test("a bulk write of 10,000 origins killed with SIGKILL at any moment is on disk whole or not at all", async (t) => {
    const dir = freshDir();
    const script = fileURLToPath(new URL("./fixtures/store-writer.ts", import.meta.url));
    const repo = fileURLToPath(new URL("../../../", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script, dir, "50", "10000"], {
      cwd: repo,
      stdio: ["ignore", "pipe", "inherit"],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_c, sig) => resolve(sig)),
    );

    const acknowledged: number[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      const m = /^ok (\d+)$/.exec(line);
      assert.ok(m, `unexpected line ${line}`);
      acknowledged.push(Number(m[1]));
      // Killed while the next batch's transaction is being written, after a pause that varies.
      if (acknowledged.length === 2) setTimeout(() => child.kill("SIGKILL"), Math.random() * 30);
    }
    assert.equal(await exited, "SIGKILL");

    const store = new SqliteStore(dir);
    after(() => store.close());
    const perBatch = new Map<number, number>();
    for (const [id] of store.loadState().catalog) {
      const batch = Number(id.split("-")[1]);
      perBatch.set(batch, (perBatch.get(batch) ?? 0) + 1);
    }
    for (const batch of acknowledged)
      assert.equal(perBatch.get(batch), 10_000, `acknowledged batch ${batch}`);
    for (const [batch, count] of perBatch) assert.equal(count, 10_000, `batch ${batch} is whole`);
  });
});
