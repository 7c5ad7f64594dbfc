import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { NodeHistory } from "../../../src/agent/history.js";
import { KeySpace } from "../../../src/core/state/key-space.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");

describe("NodeHistory latency samples", () => {
  test("keeps an origin's samples oldest first, with ISO times", () => {
    const h = new NodeHistory();
    h.recordProbe("a", { at: T0, ms: 12, ok: true });
    h.recordProbe("a", { at: T0 + 5000, ms: 2000, ok: false });
    assert.deepEqual(h.history("a", T0 + 5000).latency, [
      { at: "2026-01-01T00:00:00.000Z", ms: 12, ok: true },
      { at: "2026-01-01T00:00:05.000Z", ms: 2000, ok: false },
    ]);
  });

  test("drops samples older than the age limit when read", () => {
    const h = new NodeHistory({ maxAgeMs: 60_000 });
    h.recordProbe("a", { at: T0, ms: 1, ok: true });
    h.recordProbe("a", { at: T0 + 30_000, ms: 2, ok: true });
    assert.deepEqual(
      h.history("a", T0 + 61_000).latency.map((s) => s.ms),
      [2],
    );
  });

  test("an origin shows at most samplesPerOrigin, the newest", () => {
    const h = new NodeHistory({ samplesPerOrigin: 3 });
    for (let i = 0; i < 10; i++) h.recordProbe("a", { at: T0 + i, ms: i, ok: true });
    assert.deepEqual(
      h.history("a", T0 + 10).latency.map((s) => s.ms),
      [7, 8, 9],
    );
  });

  test("past the total, the oldest samples go first, whatever their origin", () => {
    const h = new NodeHistory({ samplesTotal: 4 });
    for (let round = 0; round < 5; round++) {
      for (const id of ["a", "b"]) h.recordProbe(id, { at: T0 + round, ms: round, ok: true });
    }
    assert.equal(h.sampleCount, 4);
    assert.deepEqual(
      h.history("a", T0 + 5).latency.map((s) => s.ms),
      [3, 4],
    );
    assert.deepEqual(
      h.history("b", T0 + 5).latency.map((s) => s.ms),
      [3, 4],
    );
  });

  test("stays within the total over many origins and many rounds", () => {
    const h = new NodeHistory({ samplesTotal: 1000, samplesPerOrigin: 50 });
    for (let round = 0; round < 30; round++) {
      for (let o = 0; o < 200; o++) h.recordProbe(`o${o}`, { at: T0 + round, ms: 1, ok: true });
    }
    assert.equal(h.sampleCount, 1000);
    let held = 0;
    for (let o = 0; o < 200; o++) held += h.history(`o${o}`, T0 + 30).latency.length;
    assert.equal(held, 1000);
  });

  test("holds an origin's key slot while it has samples; lets go when forgotten or overwritten", () => {
    const space = new KeySpace();
    const h = new NodeHistory({ samplesTotal: 2 }, space);
    const shared = space.acquire("a");
    h.recordProbe("a", { at: T0, ms: 1, ok: true });
    h.recordProbe("b", { at: T0, ms: 2, ok: true });
    assert.equal(space.slotOf("a"), shared, "the slot another holder has");
    assert.equal(space.size, 2);
    h.forget("a");
    assert.equal(space.slotOf("a"), shared, "still held by the other holder");
    space.release(shared);
    assert.equal(space.slotOf("a"), undefined);
    // Two samples of c overwrite b's only one: reading b finds nothing and lets its slot go.
    h.recordProbe("c", { at: T0 + 1, ms: 3, ok: true });
    h.recordProbe("c", { at: T0 + 2, ms: 4, ok: true });
    assert.deepEqual(h.history("b", T0 + 2).latency, []);
    assert.equal(space.slotOf("b"), undefined);
    assert.deepEqual(
      h.history("c", T0 + 2).latency.map((s) => s.ms),
      [3, 4],
    );
    // A new origin in b's old slot starts with no samples of b's.
    h.recordProbe("d", { at: T0 + 3, ms: 5, ok: true });
    assert.deepEqual(
      h.history("d", T0 + 3).latency.map((s) => s.ms),
      [5],
    );
  });

  test("forget drops an origin's samples and transitions", () => {
    const h = new NodeHistory();
    h.recordProbe("a", { at: T0, ms: 1, ok: true });
    h.recordHealth({ id: "a", status: "healthy", previous: "unknown", reporter: "n1", at: "t" });
    h.forget("a");
    assert.deepEqual(h.history("a", T0), { latency: [], transitions: [] });
    // A new origin of the same id starts afresh.
    h.recordProbe("a", { at: T0 + 1, ms: 2, ok: false });
    assert.deepEqual(
      h.history("a", T0 + 1).latency.map((s) => s.ms),
      [2],
    );
  });

  test("shows the newest samples of each origin among the newest samplesTotal, over any run", () => {
    type Step = { kind: "probe"; origin: number } | { kind: "forget"; origin: number };
    const step = fc.oneof(
      {
        weight: 9,
        arbitrary: fc.record({ kind: fc.constant("probe" as const), origin: fc.integer({ min: 0, max: 4 }) }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant("forget" as const),
          origin: fc.integer({ min: 0, max: 4 }),
        }),
      },
    );
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 3000 }),
        fc.integer({ min: 1, max: 2100 }),
        fc.integer({ min: 1, max: 50 }),
        (steps: Step[], total, perOrigin) => {
          const h = new NodeHistory({ samplesTotal: total, samplesPerOrigin: perOrigin });
          // The model: every sample written, in order; a forget hides its origin's earlier ones.
          const written: Array<{ origin: number; ms: number; hidden: boolean }> = [];
          steps.forEach((s, i) => {
            if (s.kind === "forget") {
              h.forget(`o${s.origin}`);
              for (const w of written) if (w.origin === s.origin) w.hidden = true;
              return;
            }
            h.recordProbe(`o${s.origin}`, { at: T0 + i, ms: i, ok: true });
            written.push({ origin: s.origin, ms: i, hidden: false });
          });
          assert.ok(h.sampleCount <= total);
          const kept = written.slice(-total);
          for (let o = 0; o <= 4; o++) {
            const want = kept
              .filter((w) => w.origin === o && !w.hidden)
              .map((w) => w.ms)
              .slice(-perOrigin);
            assert.deepEqual(
              h.history(`o${o}`, T0 + steps.length).latency.map((s) => s.ms),
              want,
            );
          }
        },
      ),
    );
  });
});

describe("NodeHistory transitions and timeline", () => {
  test("keeps the newest transitions per origin", () => {
    const h = new NodeHistory({ transitionsPerOrigin: 2 });
    const statuses = ["healthy", "unhealthy", "healthy"] as const;
    statuses.forEach((status, i) => {
      h.recordHealth({ id: "a", status, previous: "unknown", reporter: "n2", at: `t${i}` });
    });
    assert.deepEqual(
      h.history("a", T0).transitions.map((t) => [t.at, t.status, t.reporter]),
      [
        ["t1", "unhealthy", "n2"],
        ["t2", "healthy", "n2"],
      ],
    );
  });

  test("forgets the origin changed longest ago past originsWithTransitions", () => {
    const h = new NodeHistory({ originsWithTransitions: 2 });
    for (const id of ["a", "b", "a", "c"]) {
      h.recordHealth({ id, status: "healthy", previous: "unknown", reporter: null, at: "t" });
    }
    assert.equal(h.history("b", T0).transitions.length, 0);
    assert.equal(h.history("a", T0).transitions.length, 2);
    assert.equal(h.history("c", T0).transitions.length, 1);
  });

  test("past originsWithTransitions, always forgets the origin changed longest ago, over any run", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 4 }),
        (ids, bound) => {
          const h = new NodeHistory({ originsWithTransitions: bound });
          // The model: ids in order of their last change, the oldest first.
          let order: number[] = [];
          for (const i of ids) {
            h.recordHealth({ id: `o${i}`, status: "healthy", previous: "unknown", reporter: null, at: "t" });
            order = [...order.filter((x) => x !== i), i].slice(-bound);
          }
          for (let i = 0; i <= 7; i++) {
            assert.equal(h.history(`o${i}`, T0).transitions.length > 0, order.includes(i), `o${i}`);
          }
        },
      ),
    );
  });

  test("the timeline holds both kinds in order, bounded, newest kept", () => {
    const h = new NodeHistory({ recentEvents: 3 });
    h.recordMember({ name: "n2", status: "alive", at: "t0" });
    for (let i = 1; i <= 6; i++) {
      h.recordHealth({ id: `o${i}`, status: "healthy", previous: "unknown", reporter: "n1", at: `t${i}` });
    }
    h.recordMember({ name: "n2", status: "dead", at: "t7" });
    assert.deepEqual(
      h.recent(10).map((e) => e.at),
      ["t5", "t6", "t7"],
    );
    assert.deepEqual(h.recent(1), [{ kind: "member", name: "n2", status: "dead", at: "t7" }]);
  });
});
