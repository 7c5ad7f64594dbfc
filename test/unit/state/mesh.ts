import type { Address } from "../../../src/core/address.js";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import type { Timers } from "../../../src/core/env.js";
import { seededRng } from "../../../src/core/env.js";
import { Replicator, type ReplicatorOptions } from "../../../src/core/state/replication.js";

/**
 * A handful of replicators on a hand-driven network, for unit tests: streams (sync requests and
 * anti-entropy chunks) wait in a queue until the test delivers them, gossip moves when the test
 * says so, and every node reads one virtual clock with its own skew.
 */

export const T0 = 1_700_000_000_000;

export const spec = parseOriginSpec({ url: "http://a.example/health" });
export const specB = parseOriginSpec({ url: "http://b.example/health" });

interface Pending {
  from: string;
  to: string;
  payload: Uint8Array;
  done: (err: Error | null) => void;
}

interface Timer {
  at: number;
  fn: () => void;
  live: boolean;
}

export class Mesh {
  now = T0;
  readonly nodes = new Map<string, Replicator>();
  readonly skews = new Map<string, number>();
  readonly queue: Pending[] = [];
  readonly down = new Set<string>();
  readonly timers: Timer[] = [];
  /** Bytes of stream payloads delivered. */
  streamBytes = 0;

  add(name: string, options: Partial<ReplicatorOptions> = {}, skewMs = 0): Replicator {
    this.skews.set(name, skewMs);
    const timers: Timers = {
      setTimeout: (fn, delayMs) => {
        const t: Timer = { at: this.now + delayMs, fn, live: true };
        this.timers.push(t);
        return t;
      },
      clearTimeout: (handle) => {
        (handle as Timer).live = false;
      },
    };
    const r = new Replicator({
      node: name,
      writer: `w-${name}`,
      clock: { now: () => this.now + (this.skews.get(name) ?? 0) },
      rng: seededRng(name.charCodeAt(0)),
      timers,
      clusterSize: () => this.nodes.size,
      ...options,
    });
    r.attach({
      members: () => [...this.nodes.keys()].filter((n) => !this.down.has(n)),
      addressOf: (peer) => (this.nodes.has(peer) ? { host: peer, port: 1 } : undefined),
      sendStream: (to: Address, payload, _timeoutMs, done) =>
        this.queue.push({ from: name, to: to.host, payload, done }),
    });
    this.nodes.set(name, r);
    return r;
  }

  node(name: string): Replicator {
    const r = this.nodes.get(name);
    if (!r) throw new Error(`no node ${name}`);
    return r;
  }

  /** Moves the clock and fires due timers. */
  advance(ms: number): void {
    this.now += ms;
    for (const t of this.timers.splice(0)) {
      if (!t.live) continue;
      if (t.at <= this.now) t.fn();
      else this.timers.push(t);
    }
  }

  /**
   * Delivers queued streams (and those they cause) until none is left; returns how many. With
   * `pick`, each step delivers the stream at `pick() % queue length` instead of the oldest.
   */
  settle(limit = 100_000, pick?: () => number): number {
    let n = 0;
    while (this.queue.length > 0 && n < limit) {
      const at = pick ? pick() % this.queue.length : 0;
      const p = this.queue.splice(at, 1)[0] as Pending;
      n++;
      if (this.down.has(p.to) || this.down.has(p.from)) {
        p.done(new Error("unreachable"));
        continue;
      }
      this.streamBytes += p.payload.length;
      this.node(p.to).notifyUserMessage(p.payload, undefined);
      p.done(null);
    }
    return n;
  }

  /** One push-pull between a and b (both merge the other's digest), then every session. */
  pushPull(a: string, b: string, pick?: () => number): void {
    const ra = this.node(a);
    const rb = this.node(b);
    const sa = ra.localState(false);
    const sb = rb.localState(false);
    rb.mergeRemoteState(sa, false);
    ra.mergeRemoteState(sb, false);
    this.settle(100_000, pick);
  }

  /** Push-pull between every pair of live nodes; `pick` as in {@link settle}. */
  antiEntropy(pick?: () => number): void {
    const names = [...this.nodes.keys()].filter((n) => !this.down.has(n));
    for (const a of names) for (const b of names) if (a < b) this.pushPull(a, b, pick);
  }

  /** Every gossip payload `from` has for packets of `limit` bytes, to `to`; returns how many. */
  gossip(from: string, to: string, limit = 1400): number {
    let n = 0;
    for (;;) {
      const payloads = this.node(from).getBroadcasts(2, limit);
      if (payloads.length === 0) return n;
      for (const p of payloads) this.node(to).notifyUserMessage(p, undefined);
      n += payloads.length;
      if (n > 10_000) return n;
    }
  }
}

/** What a replica shows readers: every live origin with its spec and health status. */
export function visible(r: Replicator): Array<[string, string, string]> {
  return [...r.liveOrigins()]
    .map((e): [string, string, string] => [e.id, e.spec.url, r.healthOf(e.id)?.status ?? "unknown"])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
