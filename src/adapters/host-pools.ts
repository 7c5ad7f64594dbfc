import type { buildConnector } from "undici";
import { Dispatcher, Pool } from "undici";

export interface HostPoolsOptions {
  connect: buildConnector.connector;
  /** A pool unused this long is closed (when nothing is in flight on it). @default 10000 */
  idleMs?: number;
  /** Past this many pools, the least recently used is closed (when nothing is in flight on it). @default 1024 */
  maxPools?: number;
  now?: () => number;
}

interface Entry {
  pool: Pool;
  usedAt: number;
}

/**
 * undici's connection pools, one per origin (`protocol//host:port`), as its Agent keeps them but for
 * one thing: the Agent closes an origin's pool as soon as a connection attempt fails while no other
 * connection of that pool is open, and makes a new pool (with its request queue and client) for the
 * next request. A prober meets that on every probe of a host that refuses connections, which is
 * when many origins share a host that is down: some 40 KB of objects per probe, made and dropped,
 * and kept long enough (the probe waits on the network) to end up in the old generation.
 *
 * Here a pool stays until it has been unused for `idleMs`, or until it is the least recently used
 * of more than `maxPools`; either way only when nothing is in flight on it. The bound keeps memory
 * in check when probes go to many distinct hosts.
 */
export class HostPools extends Dispatcher {
  readonly #connect: buildConnector.connector;
  readonly #idleMs: number;
  readonly #maxPools: number;
  readonly #now: () => number;
  /** In order of last use: the first entry is the one used longest ago. */
  readonly #pools = new Map<string, Entry>();
  #closed = false;

  constructor(options: HostPoolsOptions) {
    super();
    this.#connect = options.connect;
    this.#idleMs = options.idleMs ?? 10_000;
    this.#maxPools = options.maxPools ?? 1024;
    this.#now = options.now ?? Date.now;
  }

  /** Pools held now. */
  get size(): number {
    return this.#pools.size;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.#closed) throw Object.assign(new Error("prober closed"), { code: "UND_ERR_DESTROYED" });
    const key = String(options.origin);
    const now = this.#now();
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      entry = { pool: new Pool(key, { connect: this.#connect }), usedAt: now };
    } else {
      this.#pools.delete(key);
      entry.usedAt = now;
    }
    this.#pools.set(key, entry);
    this.#sweep(now);
    return entry.pool.dispatch(options, handler);
  }

  /** Closes pools past their idle time or beyond the bound, oldest first, stopping at a busy one. */
  #sweep(now: number): void {
    for (const [key, entry] of this.#pools) {
      const stale = now - entry.usedAt >= this.#idleMs;
      if (!stale && this.#pools.size <= this.#maxPools) return;
      const { running, pending, queued } = entry.pool.stats;
      if (running + pending + queued > 0) return;
      this.#pools.delete(key);
      entry.pool.close().catch(() => {});
    }
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    return this.#endAll((pool) => pool.close(), callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === "function" ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === "function" ? errOrCallback : callback;
    return this.#endAll((pool) => pool.destroy(err), cb);
  }

  /** Ends every pool with `end` and takes no more requests; as undici's close and destroy, a promise or a callback. */
  #endAll(end: (pool: Pool) => Promise<void>, callback: (() => void) | undefined): Promise<void> | void {
    this.#closed = true;
    const done = Promise.all([...this.#pools.values()].map((e) => end(e.pool))).then(() => {});
    this.#pools.clear();
    if (callback) void done.then(callback);
    else return done;
  }
}
