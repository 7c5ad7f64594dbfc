import { parseOriginSpec } from "../../src/core/checks/spec.js";
import { seededRng } from "../../src/core/env.js";
import { profile } from "../../src/core/membership/config.js";
import type { Replicator } from "../../src/core/state/replication.js";
import type { OriginSpec } from "../../src/core/state/types.js";
import { SimCluster } from "./sim-network.js";
import { addStateNode } from "./state-nodes.js";

/**
 * The replicated state under a long, hostile run on the simulated network: a cluster loads a
 * catalog, then keeps changing 1% of it per minute under packet loss, through a partition with
 * writes on both sides, and must converge after the heal without losing any acknowledged write.
 *
 * "Nothing acknowledged is lost" is checked against a model of add-wins: a write survives unless
 * a later write to its key was made by a node that had already seen it. At the end every replica
 * must hold exactly the surviving writes of every key, the same everywhere.
 */

export interface StateScenarioOptions {
  seed: number;
  nodes: number;
  origins: number;
  lossRate: number;
  /** Minutes of changes before the partition, during it, and after the heal. */
  minutesBefore: number;
  partitionMinutes: number;
  minutesAfter: number;
  /** Fraction of the origins changed per simulated minute. @default 0.01 */
  changeRate?: number;
}

export interface StateScenarioResult {
  /** Virtual ms from the end of the initial load until every replica held the catalog. */
  loadSpreadMs: number;
  /** Virtual ms from the heal until every replica held the same writes. */
  convergeAfterHealMs: number | undefined;
  writes: number;
  /** Surviving writes missing on some replica, or present where the model says they were overwritten. */
  mismatches: string[];
  /** Real ms the run took. */
  realMs: number;
  streams: number;
}

interface Write {
  id: string;
  kind: "put" | "delete";
  writer: string;
  counter: number;
  /** Dots of earlier writes to the key that the writer had seen when it wrote. */
  observed: Set<string>;
}

const dotName = (writer: string, counter: number) => `${writer}:${counter}`;

export function runStateScenario(o: StateScenarioOptions): StateScenarioResult {
  const started = Date.now();
  const rng = seededRng(o.seed * 31 + 7);
  const config = profile("local");
  const cluster = new SimCluster({
    seed: o.seed,
    size: 0,
    config,
    latencyMs: 2,
    jitterMs: 3,
    lossRate: o.lossRate,
  });
  const replicas = new Map<string, Replicator>();
  for (let i = 0; i < o.nodes; i++) replicas.set(`n${i}`, addStateNode(cluster, `n${i}`));
  cluster.joinAll();
  cluster.net.runUntilTrue(() => cluster.allSee(cluster.names, cluster.names, "alive"), 120_000, 500);

  const writes: Write[] = [];
  const byKey = new Map<string, Write[]>();
  const record = (r: Replicator, id: string, before: number, kind: Write["kind"] = "put") => {
    const counter = r.context.vv.get(r.writer) ?? 0;
    if (counter === before) return;
    const earlier = byKey.get(id) ?? [];
    const observed = new Set(
      earlier
        .filter((w) => r.context.has({ writer: w.writer, counter: w.counter }))
        .map((w) => dotName(w.writer, w.counter)),
    );
    const w: Write = { id, kind, writer: r.writer, counter, observed };
    writes.push(w);
    earlier.push(w);
    byKey.set(id, earlier);
  };
  const specOf = (n: number): OriginSpec => parseOriginSpec({ url: `http://origin.test/health/${n}` });
  let version = 0;
  const spec0 = specOf(0);

  // Load through one node in batches, as the API's bulk route would.
  const loader = replicas.get("n0") as Replicator;
  for (let start = 0; start < o.origins; start += 10_000) {
    const batch = [];
    for (let i = start; i < Math.min(o.origins, start + 10_000); i++)
      batch.push({ id: `o${i}`, spec: spec0 });
    for (const { id } of batch) {
      const before = loader.context.vv.get(loader.writer) ?? 0;
      loader.putOrigins([{ id, spec: spec0 }]);
      record(loader, id, before);
    }
  }
  const loadedAt = cluster.net.now;
  const loaded = cluster.net.runUntilTrue(
    () => [...replicas.values()].every((r) => r.originCount === o.origins),
    600_000,
    500,
  );

  const alive = () => cluster.names.filter((n) => !cluster.net.host(n).killed);
  const changeMinute = (writers: string[]) => {
    const changes = Math.max(1, Math.round(o.origins * (o.changeRate ?? 0.01)));
    for (let k = 0; k < changes; k++) {
      const name = writers[Math.floor(rng.next() * writers.length)] as string;
      const r = replicas.get(name) as Replicator;
      const id = `o${Math.floor(rng.next() * o.origins)}`;
      const before = r.context.vv.get(r.writer) ?? 0;
      if (rng.next() < 0.1) {
        r.deleteOrigin(id);
        record(r, id, before, "delete");
      } else {
        r.putOrigin(id, specOf(++version));
        record(r, id, before);
      }
      // Spread the minute's writes over the minute.
      cluster.net.runFor(60_000 / changes);
    }
  };

  for (let m = 0; m < o.minutesBefore; m++) changeMinute(alive());
  const names = cluster.names;
  const left = names.slice(0, Math.floor(names.length / 2));
  const right = names.slice(Math.floor(names.length / 2));
  cluster.net.partition([left, right]);
  for (let m = 0; m < o.partitionMinutes; m++) {
    // Writes on both sides: half the minute's changes on each.
    changeMinute(rng.next() < 0.5 ? left : right);
  }
  cluster.net.heal();
  const healedAt = cluster.net.now;
  const converged = (): boolean => {
    const all = [...replicas.values()];
    const first = all[0] as Replicator;
    return all.every((r) => r.context.covers(first.context) && first.context.covers(r.context));
  };
  const convergedAt = cluster.net.runUntilTrue(
    () => cluster.allSee(names, names, "alive") && converged(),
    15 * 60_000,
    500,
  );
  for (let m = 0; m < o.minutesAfter; m++) changeMinute(alive());
  cluster.net.runUntilTrue(converged, 10 * 60_000, 500);

  // The model: per key, the writes that no later write observed.
  const mismatches: string[] = [];
  for (const [id, ws] of byKey) {
    const overwritten = new Set<string>();
    for (const w of ws) for (const d of w.observed) overwritten.add(d);
    const surviving = ws.filter((w) => !overwritten.has(dotName(w.writer, w.counter)));
    const expectedLive = surviving.filter((w) => w.kind === "put").map((w) => dotName(w.writer, w.counter));
    const allowed = new Set(surviving.map((w) => dotName(w.writer, w.counter)));
    const want = expectedLive.sort().join();
    for (const [name, r] of replicas) {
      const versions = r.catalog.get(id) ?? [];
      // A surviving delete's tombstone may have been collected; a surviving put must be there.
      const live = versions.filter((v) => v.value !== null).map((v) => dotName(v.writer, v.counter));
      const stray = versions.filter((v) => !allowed.has(dotName(v.writer, v.counter)));
      if (live.sort().join() !== want || stray.length > 0) {
        mismatches.push(`${name} ${id}: live [${live}] expected [${want}], ${stray.length} overwritten kept`);
      }
    }
  }
  cluster.stopAll();
  return {
    loadSpreadMs: loaded === undefined ? Number.NaN : loaded - loadedAt,
    convergeAfterHealMs: convergedAt === undefined ? undefined : convergedAt - healedAt,
    writes: writes.length,
    mismatches,
    realMs: Date.now() - started,
    streams: cluster.net.stats.streamsOpened,
  };
}
