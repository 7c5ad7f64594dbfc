import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { pack, unpack } from "msgpackr";
import type { Address } from "../core/address.js";
import type { Version } from "../core/state/causal-map.js";
import { CausalContext, isDotPart } from "../core/state/dots.js";
import {
  decodeVersions,
  encodeVersions,
  MAP_CATALOG,
  MAP_HEALTH,
  type MapTag,
} from "../core/state/state-wire.js";
import type { CatalogValue, HealthValue, OriginSpec } from "../core/state/types.js";
import { HeckError } from "../errors.js";

/**
 * Keys written before the WAL is checkpointed by a connection of its own (see
 * {@link SqliteStore.saveState}); a small store never starts one.
 */
const BACKGROUND_CHECKPOINT_AFTER_KEYS = 10_000;

/** Keys written after the checkpointing thread went idle before it starts again. */
const CHECKPOINT_AGAIN_AFTER_KEYS = 1000;
/** How often that connection copies the WAL into the database file. */
const CHECKPOINT_INTERVAL_MS = 100;
/** A WAL of more frames than this is cut back to nothing once checkpointed and idle. */
const WAL_TRUNCATE_FRAMES = 16_384;
/**
 * Idle means no frame written for this long. Cutting the file back takes the write lock for a
 * moment (a commit then waits for it), so it waits for a quiet spell rather than a gap between
 * two slices of a flush.
 */
const WAL_TRUNCATE_IDLE_MS = 5000;

/** SQLite's page cache of the store's connection, in KiB. */
const PAGE_CACHE_KIB = 2048;

/**
 * The checkpointing thread: its own connection to the file, which copies what the WAL holds into
 * the database every interval without waiting for readers or writers (PASSIVE). A burst of writes
 * (a bulk load, a bootstrap) can grow the WAL to hundreds of megabytes before a checkpoint
 * catches up. Once every frame is copied and none has come for a quiet spell, the file is cut
 * back when large (TRUNCATE, which gives up at once when busy) and the thread ends, saying
 * "idle": a thread is a JavaScript heap of its own, some 16 MB, which a quiet store does not
 * need. It also stops when told to.
 */
const CHECKPOINTER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.path, { timeout: 0 });
db.pragma("cache_size = -256");
let last = -1;
let idle = 0;
const timer = setInterval(() => {
  try {
    const [state] = db.pragma("wal_checkpoint(PASSIVE)");
    idle = state.log === last && state.log === state.checkpointed ? idle + 1 : 0;
    last = state.log;
    if (idle >= workerData.idleTicks) {
      if (state.log > workerData.truncateFrames) db.pragma("wal_checkpoint(TRUNCATE)");
      parentPort.postMessage("idle");
      stop();
    }
  } catch {}
}, workerData.intervalMs);
function stop() {
  clearInterval(timer);
  try { db.close(); } catch {}
  parentPort.close();
}
parentPort.once("message", stop);
`;

/** The schema version this build writes; `PRAGMA user_version` holds the version of a file. */
export const SCHEMA_VERSION = 3;

/**
 * Migration steps, index i brings a file from user_version i to i + 1. Append-only: a released
 * step never changes, a new schema gets a new step.
 */
/** Each step takes a file from version i to i + 1: SQL, or code for what SQL cannot do. */
const MIGRATIONS: ReadonlyArray<string | ((db: Database.Database) => void)> = [
  `
  CREATE TABLE origins (
    id            TEXT PRIMARY KEY,
    spec          TEXT,               -- JSON OriginSpec; NULL is a tombstone left by a delete
    stamp_wall    INTEGER NOT NULL,
    stamp_counter INTEGER NOT NULL,
    stamp_node    TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE health (
    id            TEXT PRIMARY KEY,
    status        TEXT NOT NULL CHECK (status IN ('unknown', 'healthy', 'unhealthy')),
    reporter      TEXT,
    checked_at    INTEGER,
    changed_at    INTEGER,
    latency_ms    REAL,
    error         TEXT,
    stamp_wall    INTEGER NOT NULL,
    stamp_counter INTEGER NOT NULL,
    stamp_node    TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE peers (
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    PRIMARY KEY (host, port)
  ) WITHOUT ROWID;
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: the causal maps (docs/architecture.md, "Replicated state"). The last-writer-wins tables of
  // version 1 are kept as legacy_origins until the agent has written their live origins again.
  `
  ALTER TABLE origins RENAME TO legacy_origins;
  DROP TABLE health;
  CREATE TABLE versions (
    map     INTEGER NOT NULL,         -- 0: catalog, 1: health
    id      TEXT NOT NULL,            -- origin id
    writer  TEXT NOT NULL,            -- the dot: writer id and counter
    counter INTEGER NOT NULL,
    wall    INTEGER NOT NULL,         -- hybrid logical clock of the write
    tick    INTEGER NOT NULL,
    value   TEXT,                     -- JSON of the value; NULL is a tombstone
    PRIMARY KEY (map, id, writer, counter)
  ) WITHOUT ROWID;
  CREATE TABLE context (
    writer TEXT PRIMARY KEY,
    top    INTEGER NOT NULL,          -- every counter up to top has been seen
    floor  INTEGER NOT NULL           -- tombstones up to floor may have been collected
  ) WITHOUT ROWID;
  CREATE TABLE context_cloud (
    writer  TEXT NOT NULL,
    counter INTEGER NOT NULL,         -- seen, beyond a gap above top
    PRIMARY KEY (writer, counter)
  ) WITHOUT ROWID;
  `,
  // 3: one row per key, its versions in the wire form (state-wire.ts) as a msgpack blob: one
  // statement per changed key instead of a delete and an insert per version.
  migrateToKeyRows,
];

interface VersionRow {
  map: number;
  id: string;
  writer: string;
  counter: number;
  wall: number;
  tick: number;
  value: string | null;
}

/** What the replicator keeps durable (replication.ts `load`). */
export interface StoredState {
  catalog: Array<[string, Version<CatalogValue>[]]>;
  health: Array<[string, Version<HealthValue>[]]>;
  context: CausalContext;
  floor: Map<string, number>;
}

/** One transaction's worth of state changes: the whole version set of each changed key. */
export interface StateChanges {
  /**
   * Keys and their versions as held now (none: the key is gone). Read once, in order, inside the
   * transaction: a caller can pass a generator that reads each key as it goes, so that a flush of
   * 10,000 keys builds no list of them that would outlive the young generation.
   */
  catalog: Iterable<[string, readonly Version<CatalogValue>[]]>;
  health: Iterable<[string, readonly Version<HealthValue>[]]>;
  /** The whole context and floor, when they changed. */
  context?: { context: CausalContext; floor: ReadonlyMap<string, number> };
}

/**
 * The node's durable state in `<dataDir>/heck.db`: the causal maps of the catalog and health
 * (every version with its dot, tombstones included until collected), the causal context, the
 * peers it knew (to rejoin without `--join`) and a few scalars such as the writer id and the last
 * incarnation. A restart therefore resumes anti-entropy where it was: its digest says exactly
 * what it had seen.
 *
 * Every write is one transaction and is durable against a crash of this process once the call
 * returns. The file runs in WAL mode with `synchronous = NORMAL`: a commit appends to the WAL
 * with write(2) before returning, so the bytes are in the kernel's page cache and survive the
 * process being killed at any instruction; what NORMAL gives up compared with FULL is the fsync on
 * each commit, so only an operating-system crash or power loss can lose the last commits, and even
 * then the file stays consistent. Lost commits are tolerable for heck: every write is replicated
 * and comes back from the peers by anti-entropy.
 *
 * The API is synchronous on purpose: the node's single thread writes between events, and "durable
 * when the call returns" is what the HTTP API promises for origin writes.
 */
export class SqliteStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<typeof prepareStatements>;
  private readonly saveStateTx: (changes: StateChanges) => void;
  private readonly savePeersTx: (addrs: readonly Address[]) => void;
  /** The context whose cloud log says what changed since its last save ({@link #saveContext}). */
  #contextSaved: CausalContext | undefined;
  /** Each writer's saved (top, floor), as of the last context save. */
  #contextRows = new Map<string, [number, number]>();
  /** Keys written so far (in failed transactions too): past a threshold, checkpoints move off. */
  #keysSaved = 0;
  #checkpointer: Worker | undefined;
  /** The count of keys saved at which the checkpointing thread starts (again). */
  #checkpointFrom = BACKGROUND_CHECKPOINT_AFTER_KEYS;

  readonly #quietMs: number;

  /**
   * Opens (creating the directory and file when absent) and migrates the store in `dataDir`.
   * `quietMs`: how long without writes before the checkpointing thread cuts the WAL back and ends.
   */
  constructor(dataDir: string, options: { quietMs?: number } = {}) {
    this.#quietMs = options.quietMs ?? WAL_TRUNCATE_IDLE_MS;
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, "heck.db");
    this.db = new Database(this.path);
    try {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      // better-sqlite3 builds SQLite with a page cache of 16 MB per connection. The store is read
      // once, at start, and then written: a small cache keeps the B-tree's upper pages, and the
      // rest would only hold the catalog a second time, in the process's memory.
      this.db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      migrate(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
    const s = prepareStatements(this.db);
    this.stmts = s;
    const saveVersions = (map: MapTag, id: string, versions: readonly Version<unknown>[]) => {
      // A version that could not be read back is refused here, failing the whole transaction.
      for (const v of versions) {
        if (
          !isDotPart(v.writer, v.counter) ||
          !Number.isSafeInteger(v.wall) ||
          !Number.isSafeInteger(v.tick)
        ) {
          throw new TypeError(`version of ${id}: malformed dot or clock`);
        }
      }
      this.#keysSaved++;
      if (versions.length === 0) s.deleteKey.run(map, id);
      else s.upsertKey.run(map, id, pack(encodeVersions(map, versions)));
    };
    this.saveStateTx = this.db.transaction((changes: StateChanges) => {
      for (const [id, versions] of changes.catalog) saveVersions(MAP_CATALOG, id, versions);
      for (const [id, versions] of changes.health) saveVersions(MAP_HEALTH, id, versions);
      if (changes.context) this.#saveContext(changes.context.context, changes.context.floor);
    });
    this.savePeersTx = this.db.transaction((addrs: readonly Address[]) => {
      s.clearPeers.run();
      for (const a of addrs) s.insertPeer.run({ host: a.host, port: a.port });
    });
  }

  /** Everything the replicator holds, as saved. */
  loadState(): StoredState {
    const catalog = new Map<string, Version<CatalogValue>[]>();
    const health = new Map<string, Version<HealthValue>[]>();
    for (const row of this.stmts.selectKeys.iterate() as IterableIterator<KeyRow>) {
      const map = row.map === MAP_CATALOG ? MAP_CATALOG : MAP_HEALTH;
      const versions = decodeVersions(map, unpack(row.versions));
      if (!versions) {
        throw new HeckError("config_invalid", `data file ${this.path}: unreadable versions of ${row.id}`);
      }
      ((map === MAP_CATALOG ? catalog : health) as Map<string, Version<unknown>[]>).set(row.id, versions);
    }
    const vv = new Map<string, number>();
    const floor = new Map<string, number>();
    for (const row of this.stmts.selectContext.all() as Array<{
      writer: string;
      top: number;
      floor: number;
    }>) {
      if (row.top > 0) vv.set(row.writer, row.top);
      if (row.floor > 0) floor.set(row.writer, row.floor);
    }
    const cloud = new Map<string, number[]>();
    for (const row of this.stmts.selectCloud.all() as Array<{ writer: string; counter: number }>) {
      const list = cloud.get(row.writer);
      if (list) list.push(row.counter);
      else cloud.set(row.writer, [row.counter]);
    }
    return { catalog: [...catalog], health: [...health], context: CausalContext.from(vv, cloud), floor };
  }

  /** Writes the given keys' version sets (and the context) in one transaction: all or nothing. */
  saveState(changes: StateChanges): void {
    try {
      this.saveStateTx(changes);
    } catch (err) {
      // What the file holds is no longer known: the next save writes the context whole.
      this.#contextSaved = undefined;
      throw err;
    }
    if (this.#checkpointer === undefined && this.#keysSaved >= this.#checkpointFrom) {
      this.#startCheckpointer();
    }
  }

  /**
   * Moves checkpoints off this thread. SQLite copies the WAL into the database file inside the
   * commit that takes the WAL past 1,000 pages, with an fsync: with a large catalog, whose keys
   * land on scattered pages, every few slices of a flush would hold the event loop for tens of
   * milliseconds. A thread with a connection of its own checkpoints instead; commits only append
   * to the WAL. Should that thread fail, commits checkpoint again as before.
   */
  #startCheckpointer(): void {
    let worker: Worker;
    try {
      worker = new Worker(CHECKPOINTER, {
        eval: true,
        workerData: {
          module: createRequire(import.meta.url).resolve("better-sqlite3"),
          path: this.path,
          intervalMs: CHECKPOINT_INTERVAL_MS,
          truncateFrames: WAL_TRUNCATE_FRAMES,
          idleTicks: Math.max(1, Math.round(this.#quietMs / CHECKPOINT_INTERVAL_MS)),
        },
      });
    } catch {
      return;
    }
    this.#checkpointer = worker;
    worker.unref();
    let idle = false;
    worker.on("message", (message) => {
      idle = message === "idle";
    });
    // A thread that failed is not started again: commits checkpoint as before.
    const fallBack = () => {
      if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
    };
    worker.on("error", fallBack);
    worker.on("exit", () => {
      if (!idle) return fallBack();
      // Commits still only append; the next thousand keys bring the thread back.
      this.#checkpointer = undefined;
      this.#checkpointFrom = this.#keysSaved + CHECKPOINT_AGAIN_AFTER_KEYS;
    });
    this.db.pragma("wal_autocheckpoint = 0");
  }

  /**
   * Writes the context within the caller's transaction. The first time (and after a failed
   * transaction) it is written whole and its cloud log is started; after that only what changed:
   * the rows of writers whose vector or floor entry moved, with the cloud dots a rising vector
   * entry folded away, and the dots put in the cloud since. During a bootstrap the cloud can hold
   * tens of thousands of dots (the health of other writers rides with each spec) while slices are
   * saved every few milliseconds: rewriting it whole each time made the saves quadratic.
   */
  #saveContext(context: CausalContext, floor: ReadonlyMap<string, number>): void {
    const s = this.stmts;
    const log = this.#contextSaved === context ? context.takeCloudLog() : undefined;
    const rows = new Map<string, [number, number]>();
    for (const w of new Set([...context.vv.keys(), ...floor.keys()]))
      rows.set(w, [context.vv.get(w) ?? 0, floor.get(w) ?? 0]);
    if (!log) {
      s.clearContext.run();
      s.clearCloud.run();
      for (const [w, [top, low]] of rows) s.insertContext.run(w, top, low);
      for (const [w, counters] of context.cloud) for (const c of counters) s.insertCloud.run(w, c);
      context.logCloud();
      this.#contextSaved = context;
      this.#contextRows = rows;
      return;
    }
    for (const w of this.#contextRows.keys()) if (!rows.has(w)) s.deleteContext.run(w);
    for (const [w, [top, low]] of rows) {
      const before = this.#contextRows.get(w);
      if (before && before[0] === top && before[1] === low) continue;
      s.upsertContext.run(w, top, low);
      if (!before || before[0] < top) s.foldCloud.run(w, top);
    }
    for (let i = 0; i < log.writers.length; i++) {
      const w = log.writers[i] as string;
      const c = log.counters[i] as number;
      if (context.cloud.get(w)?.has(c)) s.insertCloudIfAbsent.run(w, c);
    }
    this.#contextRows = rows;
  }

  /**
   * Live origins of a version-1 file (last-writer-wins), for the agent to write again as its own;
   * the legacy table is dropped by {@link dropLegacyOrigins} once they are saved.
   */
  legacyOrigins(): Array<{ id: string; spec: OriginSpec }> {
    const exists = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'legacy_origins'")
      .get();
    if (!exists) return [];
    const rows = this.db
      .prepare("SELECT id, spec FROM legacy_origins WHERE spec IS NOT NULL")
      .all() as Array<{
      id: string;
      spec: string;
    }>;
    return rows.map((row) => ({ id: row.id, spec: JSON.parse(row.spec) as OriginSpec }));
  }

  dropLegacyOrigins(): void {
    this.db.exec("DROP TABLE IF EXISTS legacy_origins");
  }

  loadPeers(): Address[] {
    return this.stmts.selectPeers.all() as Address[];
  }

  /** Replaces the whole set of known peers in one transaction. */
  savePeers(addrs: readonly Address[]): void {
    this.savePeersTx(addrs);
  }

  getMeta(key: string): string | undefined {
    const row = this.stmts.selectMeta.get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.upsertMeta.run({ key, value });
  }

  /** Whether a thread of its own checkpoints the WAL now. */
  get checkpointing(): boolean {
    return this.#checkpointer !== undefined;
  }

  /** Closes the file; safe to call more than once. Any other call after it throws. */
  close(): void {
    const worker = this.#checkpointer;
    this.#checkpointer = undefined;
    if (worker) {
      worker.removeAllListeners("exit");
      worker.removeAllListeners("error");
      worker.on("error", () => {});
      worker.postMessage("stop");
    }
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const from = db.pragma("user_version", { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    throw new HeckError(
      "config_invalid",
      `data file ${db.name} has schema version ${from}, newer than this heck (${SCHEMA_VERSION})`,
    );
  }
  // One transaction for all pending steps and the version bump, so a crash mid-migration leaves
  // the file at its old version rather than half migrated.
  db.transaction(() => {
    for (let v = from; v < SCHEMA_VERSION; v++) {
      const step = MIGRATIONS[v] as string | ((db: Database.Database) => void);
      if (typeof step === "string") db.exec(step);
      else step(db);
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

function prepareStatements(db: Database.Database) {
  return {
    selectKeys: db.prepare("SELECT map, id, versions FROM keys"),
    deleteKey: db.prepare("DELETE FROM keys WHERE map = ? AND id = ?"),
    upsertKey: db.prepare("INSERT OR REPLACE INTO keys (map, id, versions) VALUES (?, ?, ?)"),
    selectContext: db.prepare("SELECT writer, top, floor FROM context"),
    clearContext: db.prepare("DELETE FROM context"),
    insertContext: db.prepare("INSERT INTO context (writer, top, floor) VALUES (?, ?, ?)"),
    upsertContext: db.prepare("INSERT OR REPLACE INTO context (writer, top, floor) VALUES (?, ?, ?)"),
    deleteContext: db.prepare("DELETE FROM context WHERE writer = ?"),
    foldCloud: db.prepare("DELETE FROM context_cloud WHERE writer = ? AND counter <= ?"),
    insertCloudIfAbsent: db.prepare("INSERT OR IGNORE INTO context_cloud (writer, counter) VALUES (?, ?)"),
    selectCloud: db.prepare("SELECT writer, counter FROM context_cloud"),
    clearCloud: db.prepare("DELETE FROM context_cloud"),
    insertCloud: db.prepare("INSERT INTO context_cloud (writer, counter) VALUES (?, ?)"),
    selectPeers: db.prepare("SELECT host, port FROM peers"),
    clearPeers: db.prepare("DELETE FROM peers"),
    insertPeer: db.prepare("INSERT OR IGNORE INTO peers (host, port) VALUES (@host, @port)"),
    selectMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
    upsertMeta: db.prepare(
      "INSERT INTO meta (key, value) VALUES (@key, @value) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
  };
}

interface KeyRow {
  map: number;
  id: string;
  versions: Buffer;
}

/** Version 2 to 3: the version rows of each key become one row holding them all. */
function migrateToKeyRows(db: Database.Database): void {
  db.exec(`
    CREATE TABLE keys (
      map      INTEGER NOT NULL,        -- 0: catalog, 1: health
      id       TEXT NOT NULL,           -- origin id
      versions BLOB NOT NULL,           -- msgpack of the key's versions in their wire form
      PRIMARY KEY (map, id)
    ) WITHOUT ROWID;
  `);
  const insert = db.prepare("INSERT INTO keys (map, id, versions) VALUES (?, ?, ?)");
  let key: { map: MapTag; id: string } | undefined;
  let versions: Version<unknown>[] = [];
  const flush = () => {
    if (key && versions.length > 0) insert.run(key.map, key.id, pack(encodeVersions(key.map, versions)));
    versions = [];
  };
  // Read whole before writing: the connection cannot insert while a query is being iterated.
  const rows = db
    .prepare("SELECT map, id, writer, counter, wall, tick, value FROM versions ORDER BY map, id")
    .all() as VersionRow[];
  for (const row of rows) {
    const map = row.map === MAP_CATALOG ? MAP_CATALOG : MAP_HEALTH;
    if (key?.map !== map || key.id !== row.id) {
      flush();
      key = { map, id: row.id };
    }
    versions.push({
      writer: row.writer,
      counter: row.counter,
      wall: row.wall,
      tick: row.tick,
      value: row.value === null ? null : JSON.parse(row.value),
    });
  }
  flush();
  db.exec("DROP TABLE versions");
}
