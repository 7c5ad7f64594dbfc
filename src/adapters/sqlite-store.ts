import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Address } from "../core/address.js";
import type { HealthRecord, HealthStatus, OriginEntry, OriginSpec } from "../core/state/types.js";
import { HeckError } from "../errors.js";

/** The schema version this build writes; `PRAGMA user_version` holds the version of a file. */
export const SCHEMA_VERSION = 1;

/**
 * Migration steps, index i brings a file from user_version i to i + 1. Append-only: a released
 * step never changes, a new schema gets a new step.
 */
const MIGRATIONS: readonly string[] = [
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
];

interface OriginRow {
  id: string;
  spec: string | null;
  stamp_wall: number;
  stamp_counter: number;
  stamp_node: string;
}

interface HealthRow {
  id: string;
  status: HealthStatus;
  reporter: string | null;
  checked_at: number | null;
  changed_at: number | null;
  latency_ms: number | null;
  error: string | null;
  stamp_wall: number;
  stamp_counter: number;
  stamp_node: string;
}

/**
 * The node's durable state in `<dataDir>/heck.db`: the origin catalog (tombstones included, so a
 * restarted node does not resurrect a deleted origin from an older peer), the health registers,
 * the peers it knew (to rejoin without `--join`) and a few scalars such as the last incarnation.
 *
 * Every write is one transaction and is durable against a crash of this process once the call
 * returns. The file runs in WAL mode with `synchronous = NORMAL`: a commit appends to the WAL
 * with write(2) before returning, so the bytes are in the kernel's page cache and survive the
 * process being killed at any instruction; what NORMAL gives up compared with FULL is the fsync on
 * each commit, so only an operating-system crash or power loss can lose the last commits, and even
 * then the file stays consistent. Lost commits are tolerable for heck: every entry is replicated
 * and comes back from the peers by push-pull.
 *
 * The API is synchronous on purpose: the node's single thread writes between events, and "durable
 * when the call returns" is what the HTTP API promises for origin writes.
 */
export class SqliteStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<typeof prepareStatements>;
  private readonly saveOriginsTx: (entries: readonly OriginEntry[]) => void;
  private readonly saveHealthTx: (records: readonly HealthRecord[]) => void;
  private readonly savePeersTx: (addrs: readonly Address[]) => void;

  /** Opens (creating the directory and file when absent) and migrates the store in `dataDir`. */
  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, "heck.db");
    this.db = new Database(this.path);
    try {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      migrate(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
    const s = prepareStatements(this.db);
    this.stmts = s;
    this.saveOriginsTx = this.db.transaction((entries: readonly OriginEntry[]) => {
      for (const e of entries) {
        s.upsertOrigin.run({
          id: e.id,
          spec: e.spec === null ? null : JSON.stringify(e.spec),
          stamp_wall: e.stamp.wall,
          stamp_counter: e.stamp.counter,
          stamp_node: e.stamp.node,
        });
      }
    });
    this.saveHealthTx = this.db.transaction((records: readonly HealthRecord[]) => {
      for (const r of records) {
        s.upsertHealth.run({
          id: r.id,
          status: r.status,
          reporter: r.reporter,
          checked_at: r.checkedAt,
          changed_at: r.changedAt,
          latency_ms: r.latencyMs,
          error: r.error,
          stamp_wall: r.stamp.wall,
          stamp_counter: r.stamp.counter,
          stamp_node: r.stamp.node,
        });
      }
    });
    this.savePeersTx = this.db.transaction((addrs: readonly Address[]) => {
      s.clearPeers.run();
      for (const a of addrs) s.insertPeer.run({ host: a.host, port: a.port });
    });
  }

  /** Every catalog entry, tombstones (`spec: null`) included. */
  loadOrigins(): OriginEntry[] {
    return (this.stmts.selectOrigins.all() as OriginRow[]).map((row) => ({
      id: row.id,
      spec: row.spec === null ? null : (JSON.parse(row.spec) as OriginSpec),
      stamp: { wall: row.stamp_wall, counter: row.stamp_counter, node: row.stamp_node },
    }));
  }

  /**
   * Upserts the given entries in one transaction. The caller passes the winners of its own
   * last-writer-wins merge; the store does not compare stamps.
   */
  saveOrigins(entries: readonly OriginEntry[]): void {
    this.saveOriginsTx(entries);
  }

  loadHealth(): HealthRecord[] {
    return (this.stmts.selectHealth.all() as HealthRow[]).map((row) => ({
      id: row.id,
      status: row.status,
      reporter: row.reporter,
      checkedAt: row.checked_at,
      changedAt: row.changed_at,
      latencyMs: row.latency_ms,
      error: row.error,
      stamp: { wall: row.stamp_wall, counter: row.stamp_counter, node: row.stamp_node },
    }));
  }

  /** Upserts the given records in one transaction (merge winners, as {@link saveOrigins}). */
  saveHealth(records: readonly HealthRecord[]): void {
    this.saveHealthTx(records);
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

  /** Closes the file; safe to call more than once. Any other call after it throws. */
  close(): void {
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
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

function prepareStatements(db: Database.Database) {
  return {
    selectOrigins: db.prepare("SELECT id, spec, stamp_wall, stamp_counter, stamp_node FROM origins"),
    upsertOrigin: db.prepare(
      `INSERT INTO origins (id, spec, stamp_wall, stamp_counter, stamp_node)
       VALUES (@id, @spec, @stamp_wall, @stamp_counter, @stamp_node)
       ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, stamp_wall = excluded.stamp_wall,
         stamp_counter = excluded.stamp_counter, stamp_node = excluded.stamp_node`,
    ),
    selectHealth: db.prepare(
      `SELECT id, status, reporter, checked_at, changed_at, latency_ms, error,
              stamp_wall, stamp_counter, stamp_node FROM health`,
    ),
    upsertHealth: db.prepare(
      `INSERT INTO health (id, status, reporter, checked_at, changed_at, latency_ms, error,
                           stamp_wall, stamp_counter, stamp_node)
       VALUES (@id, @status, @reporter, @checked_at, @changed_at, @latency_ms, @error,
               @stamp_wall, @stamp_counter, @stamp_node)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, reporter = excluded.reporter,
         checked_at = excluded.checked_at, changed_at = excluded.changed_at,
         latency_ms = excluded.latency_ms, error = excluded.error, stamp_wall = excluded.stamp_wall,
         stamp_counter = excluded.stamp_counter, stamp_node = excluded.stamp_node`,
    ),
    selectPeers: db.prepare("SELECT host, port FROM peers"),
    clearPeers: db.prepare("DELETE FROM peers"),
    insertPeer: db.prepare("INSERT OR IGNORE INTO peers (host, port) VALUES (@host, @port)"),
    selectMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
    upsertMeta: db.prepare(
      "INSERT INTO meta (key, value) VALUES (@key, @value) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
  };
}
