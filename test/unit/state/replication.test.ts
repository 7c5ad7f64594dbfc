import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pack } from "msgpackr";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import { joinEntry } from "../../../src/core/state/catalog.js";
import { joinHealth } from "../../../src/core/state/health.js";
import { compareHlc } from "../../../src/core/state/hlc.js";
import {
  type HealthFields,
  Replicator,
  type StateChange,
  WIRE_FORMAT_VERSION,
  WIRE_MAGIC,
} from "../../../src/core/state/replication.js";
import type { HealthRecord, OriginEntry } from "../../../src/core/state/types.js";
import { specs } from "./arbitraries.js";

/** A virtual time line shared by the test's nodes; each node reads it with its own skew. */
class VirtualTime {
  t = 1_700_000_000_000;
  clock(skewMs = 0) {
    return { now: () => this.t + skewMs };
  }
}

function replicator(name: string, time = new VirtualTime(), skewMs = 0): Replicator {
  return new Replicator({ node: name, clock: time.clock(skewMs), clusterSize: () => 3 });
}

const spec = specs[0]!;
const healthy: HealthFields = {
  status: "healthy",
  reporter: "n1",
  checkedAt: 1,
  changedAt: 1,
  latencyMs: 12,
  error: null,
};

/** Delivers every payload `from` has for a packet of `limit` bytes to `to`; returns how many. */
function gossip(from: Replicator, to: Replicator, limit = 1400, overhead = 2): number {
  const payloads = from.getBroadcasts(overhead, limit);
  for (const p of payloads) to.notifyUserMessage(p, undefined);
  return payloads.length;
}

function pushPull(a: Replicator, b: Replicator): void {
  const sa = a.localState(false);
  const sb = b.localState(false);
  b.mergeRemoteState(sa, false);
  a.mergeRemoteState(sb, false);
}

const byId = <T extends { id: string }>(x: T, y: T) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
const snapshot = (r: Replicator) => ({
  origins: r.catalog.all().sort(byId),
  health: r.health.all().sort(byId),
});

function envelope(value: unknown): Uint8Array {
  const body = pack(value);
  const out = new Uint8Array(body.length + 2);
  out.set([WIRE_MAGIC, WIRE_FORMAT_VERSION]);
  out.set(body, 2);
  return out;
}

function packable(value: unknown): boolean {
  try {
    pack(value);
    return true;
  } catch {
    return false;
  }
}

describe("Replicator: local writes", () => {
  it("putOrigin creates, then replaces, and a repeated identical put is not written again", () => {
    const r = replicator("n1");
    const first = r.putOrigin("o", spec);
    assert.equal(first.created, true);
    const again = r.putOrigin("o", parseOriginSpec({ url: spec.url }));
    assert.equal(again.created, false);
    assert.equal(again.entry, first.entry);
    assert.equal(r.pendingBroadcasts, 1);
    const replaced = r.putOrigin("o", specs[1]!);
    assert.equal(replaced.created, false);
    assert.ok(compareHlc(replaced.entry.stamp, first.entry.stamp) > 0);
    assert.equal(r.catalog.get("o")?.spec, specs[1]);
  });

  it("deleteOrigin tombstones a live origin, returns undefined otherwise, and a put revives it", () => {
    const r = replicator("n1");
    assert.equal(r.deleteOrigin("o"), undefined);
    r.putOrigin("o", spec);
    const tomb = r.deleteOrigin("o");
    assert.equal(tomb?.spec, null);
    assert.equal(r.deleteOrigin("o"), undefined);
    assert.equal(r.catalog.size, 0);
    assert.equal(r.catalog.get("o"), tomb);
    assert.equal(r.putOrigin("o", spec).created, true);
  });

  it("putOrigins writes each item in order", () => {
    const r = replicator("n1");
    const out = r.putOrigins([
      { id: "a", spec },
      { id: "b", spec },
      { id: "a", spec: specs[1]! },
    ]);
    assert.deepEqual(
      out.map((x) => x.created),
      [true, true, false],
    );
    assert.equal(r.catalog.size, 2);
  });

  it("fires onChange for every local change with the previous value, and stops after unsubscribe", () => {
    const r = replicator("n1");
    const seen: StateChange[] = [];
    const off = r.onChange((c) => seen.push(c));
    const { entry } = r.putOrigin("o", spec);
    const tomb = r.deleteOrigin("o");
    const rec = r.recordHealth("o", healthy);
    assert.deepEqual(seen, [
      { kind: "origin", entry, previous: undefined },
      { kind: "origin", entry: tomb, previous: entry },
      { kind: "health", record: rec, previous: undefined },
    ]);
    off();
    r.putOrigin("p", spec);
    assert.equal(seen.length, 3);
  });

  it("a listener that throws neither breaks the write nor the other listeners", () => {
    const r = replicator("n1");
    let calls = 0;
    r.onChange(() => {
      throw new Error("boom");
    });
    r.onChange(() => calls++);
    r.putOrigin("o", spec);
    assert.equal(calls, 1);
    assert.equal(r.catalog.size, 1);
  });

  it("recordHealth gossips a status change but not a mere refresh, which push-pull still carries", () => {
    const time = new VirtualTime();
    const a = replicator("n1", time);
    const b = replicator("n2", time);
    a.recordHealth("o", healthy);
    assert.equal(a.pendingBroadcasts, 1);
    while (gossip(a, b) > 0);
    assert.equal(b.health.get("o")?.status, "healthy");
    time.t += 5000;
    a.recordHealth("o", { ...healthy, checkedAt: 2, latencyMs: 30 });
    assert.equal(a.pendingBroadcasts, 0);
    assert.equal(a.health.get("o")?.latencyMs, 30);
    assert.equal(gossip(a, b), 0);
    assert.equal(b.health.get("o")?.latencyMs, 12);
    pushPull(a, b);
    assert.equal(b.health.get("o")?.latencyMs, 30);
    a.recordHealth("o", { ...healthy, status: "unhealthy", error: "timeout" });
    assert.equal(a.pendingBroadcasts, 1);
  });

  it("load fills the state silently and orders later writes after the loaded ones", () => {
    const time = new VirtualTime();
    const entry: OriginEntry = { id: "o", spec, stamp: { wall: time.t + 30_000, counter: 7, node: "n1" } };
    const record: HealthRecord = {
      id: "o",
      ...healthy,
      stamp: { wall: time.t + 30_000, counter: 8, node: "n1" },
    };
    const r = replicator("n1", time);
    let events = 0;
    r.onChange(() => events++);
    r.load([entry], [record]);
    assert.equal(events, 0);
    assert.equal(r.pendingBroadcasts, 0);
    assert.equal(r.catalog.get("o"), entry);
    const put = r.putOrigin("p", spec);
    assert.ok(compareHlc(put.entry.stamp, record.stamp) > 0);
  });
});

describe("Replicator: exchange", () => {
  it("a delta reaches a peer by gossip and is forwarded by it to a third node", () => {
    const time = new VirtualTime();
    const [a, b, c] = ["n1", "n2", "n3"].map((n) => replicator(n, time)) as [
      Replicator,
      Replicator,
      Replicator,
    ];
    a.putOrigin("o", spec);
    gossip(a, b);
    assert.deepEqual(b.catalog.get("o"), a.catalog.get("o"));
    assert.equal(b.pendingBroadcasts, 1);
    gossip(b, c);
    assert.deepEqual(c.catalog.get("o"), a.catalog.get("o"));
  });

  it("a remote change fires onChange; a known or stale one does not", () => {
    const a = replicator("n1");
    const b = replicator("n2");
    const seen: StateChange[] = [];
    b.onChange((c) => seen.push(c));
    a.putOrigin("o", spec);
    const payload = a.getBroadcasts(2, 1400)[0]!;
    b.notifyUserMessage(payload, undefined);
    b.notifyUserMessage(payload, undefined);
    b.mergeRemoteState(a.localState(false), false);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.kind, "origin");
    assert.equal(b.pendingBroadcasts, 1, "state merges are not re-gossiped");
  });

  it("observes remote stamps: a write after receiving one orders after it", () => {
    const time = new VirtualTime();
    const ahead = replicator("n1", time, 20_000);
    const behind = replicator("n2", time, 0);
    const remote = ahead.putOrigin("o", spec).entry;
    gossip(ahead, behind);
    const local = behind.putOrigin("o", specs[1]!).entry;
    assert.ok(compareHlc(local.stamp, remote.stamp) > 0);
    gossip(behind, ahead);
    assert.deepEqual(ahead.catalog.get("o")?.spec, specs[1]);
  });

  it("merges an entry from a runaway clock without following it, and a later local write still wins", () => {
    const time = new VirtualTime();
    const runaway = replicator("n1", time, 3_600_000);
    const r = replicator("n2", time);
    runaway.putOrigin("o", spec);
    gossip(runaway, r);
    assert.deepEqual(r.catalog.get("o")?.spec, spec);
    const mine = r.putOrigin("p", spec).entry;
    assert.equal(mine.stamp.wall, time.t, "the clock did not jump an hour ahead");
    const replaced = r.putOrigin("o", specs[1]!).entry;
    assert.equal(r.catalog.get("o"), replaced);
    gossip(r, runaway);
    assert.deepEqual(runaway.catalog.get("o")?.spec, specs[1]);
  });

  it("a delete beats an older put across nodes and loses to a newer one", () => {
    const time = new VirtualTime();
    const a = replicator("n1", time);
    const b = replicator("n2", time);
    a.putOrigin("o", spec);
    pushPull(a, b);
    time.t += 10;
    b.deleteOrigin("o");
    pushPull(a, b);
    assert.equal(a.catalog.get("o")?.spec, null);
    time.t += 10;
    a.putOrigin("o", specs[1]!);
    pushPull(a, b);
    assert.deepEqual(b.catalog.get("o")?.spec, specs[1]);
  });

  it("every gossip payload fits the limit, and a large batch crosses over in full", () => {
    const time = new VirtualTime();
    const a = replicator("n1", time);
    const b = replicator("n2", time);
    const big = parseOriginSpec({
      url: `https://example.com/${"x".repeat(300)}`,
      headers: { Authorization: `Bearer ${"t".repeat(200)}` },
    });
    for (let i = 0; i < 2000; i++) a.putOrigin(`origin-${i}`, i % 3 === 0 ? big : spec);
    for (let i = 0; i < 500; i++) a.recordHealth(`origin-${i}`, healthy);
    for (const [overhead, limit] of [
      [2, 1400],
      [5, 512],
      [3, 64_000],
    ] as const) {
      const payloads = a.getBroadcasts(overhead, limit);
      assert.equal(payloads.length, 1);
      for (const p of payloads)
        assert.ok(p.length + overhead <= limit, `${p.length} + ${overhead} > ${limit}`);
    }
    assert.deepEqual(a.getBroadcasts(2, 8), []);
    let rounds = 0;
    while (a.pendingBroadcasts > 0) {
      const payloads = a.getBroadcasts(2, 1400);
      assert.ok(payloads.length > 0, "the queue drains");
      for (const p of payloads) {
        assert.ok(p.length + 2 <= 1400);
        b.notifyUserMessage(p, undefined);
      }
      rounds++;
    }
    assert.ok(rounds > 100, "a batch is spread over many packets");
    assert.equal(b.malformed, 0);
    assert.equal(b.catalog.size, 2000);
    assert.deepEqual(snapshot(b), snapshot(a));
  });

  it("localState round-trips the whole state, tombstones included", () => {
    const a = replicator("n1");
    for (let i = 0; i < 50; i++) a.putOrigin(`o${i}`, specs[i % specs.length]!);
    for (let i = 0; i < 10; i++) a.deleteOrigin(`o${i}`);
    for (let i = 10; i < 30; i++) a.recordHealth(`o${i}`, { ...healthy, error: i % 2 ? "timeout" : null });
    const b = replicator("n2");
    b.mergeRemoteState(a.localState(true), true);
    assert.deepEqual(snapshot(b), snapshot(a));
    assert.equal(b.catalog.tombstones, 10);
    assert.deepEqual(b.catalog.get("o13")?.spec?.headers, specs[1]?.headers);
  });

  it("replicas converge to the join of every write, whatever the order, loss and duplication", () => {
    const ids = ["a", "b", "c", "d"];
    const node = fc.nat(2);
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("put" as const),
        at: node,
        id: fc.constantFrom(...ids),
        spec: fc.nat(3),
      }),
      fc.record({ kind: fc.constant("delete" as const), at: node, id: fc.constantFrom(...ids) }),
      fc.record({
        kind: fc.constant("health" as const),
        at: node,
        id: fc.constantFrom(...ids),
        status: fc.constantFrom("healthy" as const, "unhealthy" as const),
        latencyMs: fc.nat(100),
      }),
      fc.record({
        kind: fc.constant("gossip" as const),
        from: node,
        to: node,
        limit: fc.integer({ min: 40, max: 1400 }),
        deliver: fc.boolean(),
        twice: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("pushPull" as const), a: node, b: node }),
      fc.record({ kind: fc.constant("tick" as const), ms: fc.nat(2000) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.array(fc.integer({ min: -3000, max: 3000 }), { minLength: 3, maxLength: 3 }),
        (ops, skews) => {
          const time = new VirtualTime();
          const nodes = ["n1", "n2", "n3"].map((n, i) => replicator(n, time, skews[i]));
          const writes = new Map<string, OriginEntry>();
          const records = new Map<string, HealthRecord>();
          for (const o of ops) {
            if (o.kind === "put") {
              const { entry } = nodes[o.at]!.putOrigin(o.id, specs[o.spec]!);
              const w = writes.get(o.id);
              writes.set(o.id, w ? joinEntry(w, entry) : entry);
            } else if (o.kind === "delete") {
              const tomb = nodes[o.at]!.deleteOrigin(o.id);
              const w = writes.get(o.id);
              if (tomb) writes.set(o.id, w ? joinEntry(w, tomb) : tomb);
            } else if (o.kind === "health") {
              const rec = nodes[o.at]!.recordHealth(o.id, {
                ...healthy,
                status: o.status,
                latencyMs: o.latencyMs,
              });
              const w = records.get(o.id);
              records.set(o.id, w ? joinHealth(w, rec) : rec);
            } else if (o.kind === "gossip") {
              const payloads = nodes[o.from]!.getBroadcasts(2, o.limit);
              for (const p of payloads) {
                assert.ok(p.length + 2 <= o.limit);
                if (o.deliver) nodes[o.to]!.notifyUserMessage(p, undefined);
                if (o.deliver && o.twice) nodes[o.to]!.notifyUserMessage(p, undefined);
              }
            } else if (o.kind === "pushPull") {
              pushPull(nodes[o.a]!, nodes[o.b]!);
            } else {
              time.t += o.ms;
            }
          }
          pushPull(nodes[0]!, nodes[1]!);
          pushPull(nodes[1]!, nodes[2]!);
          pushPull(nodes[0]!, nodes[1]!);
          const expected = {
            origins: [...writes.values()].sort(byId),
            health: [...records.values()].sort(byId),
          };
          for (const n of nodes) {
            assert.deepEqual(snapshot(n), expected);
            assert.equal(n.malformed, 0);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("Replicator: untrusted input", () => {
  it("counts random bytes as malformed and never throws", () => {
    const r = replicator("n1");
    r.putOrigin("o", spec);
    const before = snapshot(r);
    let expectedMalformed = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, asState) => {
        const foreign = bytes.length === 0 || bytes[0]! < 0x20;
        if (asState) r.mergeRemoteState(bytes, false);
        else r.notifyUserMessage(bytes, undefined);
        if (!foreign) expectedMalformed++;
      }),
      { numRuns: 1000 },
    );
    assert.equal(r.malformed, expectedMalformed);
    assert.deepEqual(snapshot(r), before);
  });

  it("never throws on well-framed msgpack of arbitrary values, and applies only valid deltas", () => {
    const r = replicator("n1");
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withDate: true, withTypedArray: true, withMap: true }),
        (value) => {
          // Values msgpack cannot carry (integers beyond 64 bits) are not peer input.
          fc.pre(packable(value));
          r.notifyUserMessage(envelope(value), undefined);
          r.notifyUserMessage(envelope([value]), undefined);
          r.notifyUserMessage(envelope([[0, "o", 1, 0, "n9", value]]), undefined);
          r.notifyUserMessage(
            envelope([[1, "o", 1, 0, "n9", value, null, null, null, null, null]]),
            undefined,
          );
        },
      ),
      { numRuns: 500 },
    );
    for (const e of r.catalog.all()) assert.ok(e.spec === null || typeof e.spec.url === "string");
    for (const h of r.health.all()) assert.ok(["unknown", "healthy", "unhealthy"].includes(h.status));
  });

  it("ignores foreign payloads such as Serf's without counting them", () => {
    const r = replicator("n1");
    for (const first of [0x00, 0x01, 0x06, 0x1f])
      r.notifyUserMessage(Uint8Array.of(first, 0x81, 0xa1), undefined);
    r.mergeRemoteState(new Uint8Array(0), false);
    assert.equal(r.malformed, 0);
  });

  it("counts an unknown format version and a non-array batch as malformed", () => {
    const r = replicator("n1");
    r.notifyUserMessage(Uint8Array.of(WIRE_MAGIC, 2, 0x90), undefined);
    r.notifyUserMessage(Uint8Array.of(WIRE_MAGIC), undefined);
    r.notifyUserMessage(envelope({ a: 1 }), undefined);
    assert.equal(r.malformed, 3);
  });

  it("applies the valid deltas of a partly malformed batch and counts the batch once", () => {
    const a = replicator("n1");
    const good = a.putOrigin("good", spec).entry;
    const s = good.stamp;
    const r = replicator("n2");
    r.notifyUserMessage(
      envelope([
        [0, "good", s.wall, s.counter, s.node, spec],
        [0, "bad id!", s.wall, s.counter, s.node, spec],
        [0, "x", -1, 0, "n1", spec],
        [0, "y", s.wall, 0, "n1", { ...spec, intervalMs: 1 }],
        [0, "z", s.wall, 0, "n1", { ...spec, extra: true }],
        [1, "h", s.wall, 0, "n1", "sick", null, null, null, null, null],
        [2, "t", s.wall, 0, "n1"],
        "not a delta",
      ]),
      undefined,
    );
    assert.equal(r.malformed, 1);
    assert.deepEqual(
      r.catalog.all().map((e) => e.id),
      ["good"],
    );
    assert.deepEqual(r.catalog.get("good"), good);
    assert.equal(r.health.size, 0);
  });
});
