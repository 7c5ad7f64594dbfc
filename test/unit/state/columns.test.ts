import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import { normalSpec } from "../../../src/core/state/catalog.js";
import { CausalMap, compareVersions, type Version } from "../../../src/core/state/causal-map.js";
import { CatalogColumns, HealthColumns, ProbeNotes } from "../../../src/core/state/columns.js";
import { CausalContext } from "../../../src/core/state/dots.js";
import { CountedTexts } from "../../../src/core/state/intern.js";
import type { HealthValue } from "../../../src/core/state/types.js";

const spec = (fields: Record<string, unknown>) => normalSpec(parseOriginSpec(fields));

describe("CatalogColumns", () => {
  it("gives back each spec as set, key order included, whatever the mix of templates", () => {
    const specs = [
      spec({ url: "http://127.0.0.1:9/a", intervalMs: 5000 }),
      spec({ url: "http://127.0.0.1:9/b", intervalMs: 5000 }),
      spec({ url: "http://127.0.0.1:9/c", intervalMs: 5000, confirm: false }),
      spec({ url: "https://127.0.0.1:9/d", headers: { "x-probe": "1" }, tlsSkipVerify: true }),
      spec({ url: "http://127.0.0.1:9/e", expectStatus: ["200-299", 301], bodyContains: "ok" }),
    ];
    const columns = new CatalogColumns();
    columns.grow(specs.length);
    specs.forEach((s, slot) => {
      columns.set(slot, { spec: s, target: { writer: "w1", counter: slot + 1 } });
    });
    specs.forEach((s, slot) => {
      const value = columns.get(slot);
      assert.equal(JSON.stringify(value.spec), JSON.stringify(s));
      assert.deepEqual(value.target, { writer: "w1", counter: slot + 1 });
      assert.equal(columns.intervalMs(slot), s.intervalMs);
    });
    // A slot set again takes the new spec, and its neighbours keep theirs.
    columns.set(1, { spec: specs[3]!, target: { writer: "w2", counter: 9 } });
    assert.equal(JSON.stringify(columns.get(1).spec), JSON.stringify({ ...specs[3], url: specs[3]!.url }));
    assert.equal(columns.get(0).spec.url, "http://127.0.0.1:9/a");
    assert.equal(columns.get(2).spec.confirm, false);
  });

  it("a spec read is a copy: changing it changes nothing held", () => {
    const columns = new CatalogColumns();
    columns.grow(2);
    const s = spec({ url: "http://127.0.0.1:9/a" });
    columns.set(0, { spec: s, target: { writer: "w", counter: 1 } });
    columns.set(1, { spec: spec({ url: "http://127.0.0.1:9/b" }), target: { writer: "w", counter: 2 } });
    const read = columns.get(0).spec;
    read.url = "http://elsewhere/";
    read.intervalMs = 1;
    assert.equal(columns.get(0).spec.url, "http://127.0.0.1:9/a");
    assert.equal(columns.get(1).spec.intervalMs, s.intervalMs);
  });

  it("past its table of templates, a spec is held whole and still read back", () => {
    const columns = new CatalogColumns();
    const n = 10_010;
    columns.grow(n);
    for (let i = 0; i < n; i++) {
      const s = spec({ url: `http://127.0.0.1:9/o${i}`, intervalMs: 1000 + i });
      columns.set(i, { spec: s, target: { writer: "w", counter: i + 1 } });
    }
    for (const i of [0, 9_999, 10_000, 10_009]) {
      assert.equal(columns.get(i).spec.intervalMs, 1000 + i);
      assert.equal(columns.get(i).spec.url, `http://127.0.0.1:9/o${i}`);
    }
  });
});

const healthValueArb: fc.Arbitrary<HealthValue> = fc.record(
  {
    status: fc.constantFrom("unknown" as const, "healthy" as const, "unhealthy" as const),
    reporter: fc.option(fc.constantFrom("a", "b", "node-c"), { nil: null }),
    checkedAt: fc.option(fc.integer({ min: 0, max: 2 ** 42 }), { nil: null }),
    changedAt: fc.option(fc.integer({ min: 0, max: 2 ** 42 }), { nil: null }),
    latencyMs: fc.option(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 60_000, noNaN: true })), {
      nil: null,
    }),
    error: fc.option(fc.constantFrom("status 503", "connect ECONNREFUSED 127.0.0.1:9", ""), { nil: null }),
    target: fc.record(
      { writer: fc.constantFrom("w1", "w2"), counter: fc.integer({ min: 1, max: 1000 }) },
      { noNullPrototype: true },
    ),
    confirmedBy: fc.option(fc.constantFrom("b", "c"), { nil: null }),
  },
  { noNullPrototype: true },
);

describe("HealthColumns", () => {
  it("gives back every value as set, nulls included, in the one shape health values have", () => {
    fc.assert(
      fc.property(fc.array(healthValueArb, { minLength: 1, maxLength: 30 }), (values) => {
        const columns = new HealthColumns();
        columns.grow(values.length);
        values.forEach((v, slot) => {
          columns.set(slot, v);
        });
        values.forEach((v, slot) => {
          const read = columns.get(slot);
          assert.deepEqual(read, v);
          assert.deepEqual(Object.keys(read), [
            "status",
            "reporter",
            "checkedAt",
            "changedAt",
            "latencyMs",
            "error",
            "target",
            "confirmedBy",
          ]);
          assert.equal(columns.status(slot), v.status);
        });
      }),
    );
  });
});

describe("error texts in columns", () => {
  it("read back right through overwrites and clears, in health columns and probe notes", () => {
    const error = fc.option(fc.constantFrom("status 503", "timeout", "connect ECONNREFUSED 127.0.0.1:9"), {
      nil: null,
    });
    const op = fc.record({ slot: fc.nat({ max: 7 }), error, clear: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), healthValueArb, (ops, base) => {
        const health = new HealthColumns();
        health.grow(8);
        const notes = new ProbeNotes();
        const model = new Map<number, string | null>();
        for (const o of ops) {
          if (o.clear) {
            health.clear(o.slot);
            notes.clear(o.slot);
            model.delete(o.slot);
          } else {
            health.set(o.slot, { ...base, error: o.error });
            notes.set(o.slot, { checkedAt: 1, latencyMs: 2, error: o.error });
            model.set(o.slot, o.error);
          }
        }
        for (const [slot, e] of model) {
          assert.equal(health.get(slot).error, e);
          assert.equal(notes.get(slot)?.error, e);
        }
      }),
    );
  });

  it("CountedTexts keeps a text while it is referred to, then gives its number to the next", () => {
    const texts = new CountedTexts();
    const a = texts.acquire("timeout");
    assert.equal(texts.acquire("timeout"), a);
    const b = texts.acquire("status 503");
    texts.release(a);
    assert.equal(texts.text(a), "timeout", "one reference left");
    texts.release(a);
    const c = texts.acquire("connect refused");
    assert.equal(c, a, "the free number is reused");
    assert.equal(texts.text(c), "connect refused");
    assert.equal(texts.text(b), "status 503");
    assert.notEqual(texts.acquire("timeout"), c, "a released text comes back under a new number");
  });
});

describe("CausalMap in columns", () => {
  it("holds exactly what the same writes and joins leave in a map of objects", () => {
    const keys = ["k1", "k2", "k3"];
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("write" as const),
        key: fc.constantFrom(...keys),
        value: healthValueArb,
      }),
      fc.record({ kind: fc.constant("tombstone" as const), key: fc.constantFrom(...keys) }),
      fc.record({
        kind: fc.constant("join" as const),
        key: fc.constantFrom(...keys),
        writer: fc.constantFrom("p", "q"),
        value: fc.option(healthValueArb, { nil: null }),
        seen: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("drop" as const),
        key: fc.constantFrom(...keys),
        writer: fc.constantFrom("me", "p", "q"),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const columns = new CausalMap<HealthValue>(new HealthColumns());
        const objects = new CausalMap<HealthValue>();
        const ours = new CausalContext();
        const counters = new Map<string, number>();
        const next = (writer: string) => {
          const c = (counters.get(writer) ?? 0) + 1;
          counters.set(writer, c);
          return c;
        };
        ops.forEach((o, i) => {
          if (o.kind === "write" || o.kind === "tombstone") {
            const v: Version<HealthValue> = {
              writer: "me",
              counter: next("me"),
              wall: 1000 + i,
              tick: 0,
              value: o.kind === "write" ? o.value : null,
            };
            assert.deepEqual(columns.write(o.key, v), objects.write(o.key, { ...v }));
            ours.add(v);
          } else if (o.kind === "join") {
            const v: Version<HealthValue> = {
              writer: o.writer,
              counter: next(o.writer),
              wall: 1000 + i,
              tick: 1,
              value: o.value,
            };
            // The peer's context: its own write, plus (or not) every dot we hold.
            const theirs = o.seen ? ours.clone() : new CausalContext();
            theirs.add(v);
            const a = columns.join(o.key, [v], theirs, ours);
            const b = objects.join(o.key, [{ ...v }], theirs, ours);
            assert.equal(a, b);
            ours.add(v);
          } else {
            assert.equal(
              columns.dropWhere(o.key, (v) => v.writer === o.writer),
              objects.dropWhere(o.key, (v) => v.writer === o.writer),
            );
          }
          for (const key of keys) {
            assert.deepEqual(
              [...(columns.get(key) ?? [])].sort(compareVersions),
              [...(objects.get(key) ?? [])].sort(compareVersions),
            );
            assert.equal(columns.hasTombstone(key), objects.hasTombstone(key));
            assert.deepEqual(columns.visible(key), objects.visible(key));
          }
          for (const writer of ["me", "p", "q"]) {
            assert.deepEqual(columns.dotsAfter(writer, 0), objects.dotsAfter(writer, 0));
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it("finds a writer's versions by counter after heavy overwriting, once each, in order", () => {
    const map = new CausalMap<HealthValue>(new HealthColumns());
    const value: HealthValue = {
      status: "healthy",
      reporter: "a",
      checkedAt: 1,
      changedAt: 1,
      latencyMs: 1,
      error: null,
      target: { writer: "w", counter: 1 },
      confirmedBy: null,
    };
    let counter = 0;
    // 200 keys written 50 times each: the index of the writer drops the overwritten versions.
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < 200; k++)
        map.write(`k${k}`, { writer: "w", counter: ++counter, wall: counter, tick: 0, value });
    }
    const after = counter - 150;
    const found = map.dotsAfter("w", after);
    assert.equal(found.length, 2 * 150);
    for (let i = 0; i < 150; i++) {
      assert.equal(found[2 * i], after + i + 1);
      assert.equal(found[2 * i + 1], `k${50 + i}`);
    }
    assert.deepEqual([...map.writers()], ["w"]);
    assert.equal(map.size, 200);
  });
});
