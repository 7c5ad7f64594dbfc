import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Catalog, canonicalSpec, joinEntry, sameSpec } from "../../../src/core/state/catalog.js";
import type { OriginEntry } from "../../../src/core/state/types.js";
import { entryArb, specs } from "./arbitraries.js";

const spec = specs[0]!;
const put = (id: string, wall: number, node = "n1", s = spec): OriginEntry => ({
  id,
  spec: s,
  stamp: { wall, counter: 0, node },
});
const del = (id: string, wall: number, node = "n1"): OriginEntry => ({
  id,
  spec: null,
  stamp: { wall, counter: 0, node },
});

/** The catalog's contents, comparable with deepEqual whatever the order they arrived in. */
const contents = (c: Catalog) => [...c.all()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

describe("joinEntry", () => {
  it("is commutative", () => {
    fc.assert(
      fc.property(entryArb(), entryArb(), (a, b) => assert.deepEqual(joinEntry(a, b), joinEntry(b, a))),
    );
  });

  it("is associative", () => {
    fc.assert(
      fc.property(entryArb(), entryArb(), entryArb(), (a, b, c) =>
        assert.deepEqual(joinEntry(joinEntry(a, b), c), joinEntry(a, joinEntry(b, c))),
      ),
    );
  });

  it("is idempotent", () => {
    fc.assert(fc.property(entryArb(), (a) => assert.equal(joinEntry(a, a), a)));
  });

  it("returns the first argument for equal entries, so apply can tell that nothing changed", () => {
    fc.assert(fc.property(entryArb(), (a) => assert.equal(joinEntry(a, structuredClone(a)), a)));
  });

  it("a delete beats an older put and loses to a newer put", () => {
    assert.equal(joinEntry(put("o", 1), del("o", 2)).spec, null);
    assert.equal(joinEntry(del("o", 2), put("o", 1)).spec, null);
    assert.equal(joinEntry(del("o", 2), put("o", 3)).spec, spec);
    assert.equal(joinEntry(put("o", 3), del("o", 2)).spec, spec);
  });

  it("breaks a tie of walls by counter, then by node name", () => {
    const a: OriginEntry = { id: "o", spec: specs[0]!, stamp: { wall: 5, counter: 1, node: "n9" } };
    const b: OriginEntry = { id: "o", spec: specs[1]!, stamp: { wall: 5, counter: 2, node: "n1" } };
    const c: OriginEntry = { id: "o", spec: null, stamp: { wall: 5, counter: 2, node: "n2" } };
    assert.equal(joinEntry(a, b), b);
    assert.equal(joinEntry(b, c), c);
  });
});

describe("canonicalSpec", () => {
  it("ignores the order of header names", () => {
    assert.equal(canonicalSpec(specs[2]!), canonicalSpec({ ...specs[2]!, headers: { A: "1", B: "2" } }));
    assert.notEqual(canonicalSpec(specs[2]!), canonicalSpec(specs[3]!));
  });
});

describe("sameSpec", () => {
  it("agrees with canonicalSpec on every pair of specs", () => {
    for (const a of [null, ...specs]) {
      for (const b of [null, ...specs]) assert.equal(sameSpec(a, b), canonicalSpec(a) === canonicalSpec(b));
    }
  });

  it("notices a change of any one field", () => {
    const base = specs[3]!;
    const changes: object[] = [
      { url: "https://c.example/" },
      { method: "GET" },
      { intervalMs: 6000 },
      { timeoutMs: 100 },
      { expectStatus: [200] },
      { expectStatus: ["200-399", 500] },
      { healthyThreshold: 1 },
      { unhealthyThreshold: 1 },
      { headers: { A: "1" } },
      { headers: { A: "1", B: "3" } },
      { bodyContains: undefined },
    ];
    for (const change of changes)
      assert.equal(sameSpec(base, { ...base, ...change }), false, JSON.stringify(change));
    assert.equal(sameSpec(base, { ...base, headers: { B: "2", A: "1" } }), true);
  });

  it("answers false for values that are not specs", () => {
    for (const v of [undefined, null, 1, "x", [], { url: specs[0]!.url }])
      assert.equal(sameSpec(specs[0]!, v), false);
  });
});

describe("Catalog", () => {
  it("apply reports whether the catalog changed", () => {
    const c = new Catalog();
    assert.equal(c.apply(put("o", 2)), true);
    assert.equal(c.apply(put("o", 2)), false);
    assert.equal(c.apply(put("o", 1, "n1", specs[1]!)), false);
    assert.equal(c.get("o")?.spec, spec);
    assert.equal(c.apply(del("o", 3)), true);
    assert.equal(c.get("o")?.spec, null);
  });

  it("keeps tombstones out of live() and size but in all()", () => {
    const c = new Catalog();
    c.apply(put("a", 1));
    c.apply(put("b", 1));
    c.apply(del("b", 2));
    c.apply(del("c", 2));
    assert.deepEqual(
      c.live().map((e) => e.id),
      ["a"],
    );
    assert.equal(c.size, 1);
    assert.equal(c.tombstones, 2);
    assert.equal(c.all().length, 3);
    assert.equal(c.getLive("b"), undefined);
    assert.equal(c.getLive("a")?.id, "a");
    c.apply(put("b", 3));
    assert.equal(c.size, 2);
    assert.equal(c.tombstones, 1);
  });

  it("converges to the same contents whatever order and duplication entries arrive in", () => {
    const entries = fc.array(fc.oneof(entryArb("o1"), entryArb("o2"), entryArb("o3")), { maxLength: 30 });
    fc.assert(
      fc.property(entries, fc.func(fc.integer()), (list, key) => {
        const a = new Catalog();
        for (const e of list) a.apply(e);
        const b = new Catalog();
        const shuffled = [...list, ...list].map((e, i) => ({ e, k: key(i) })).sort((x, y) => x.k - y.k);
        for (const { e } of shuffled) b.apply(e);
        assert.deepEqual(contents(a), contents(b));
        assert.equal(a.size, b.size);
        assert.equal(a.size, a.live().length);
      }),
    );
  });
});
