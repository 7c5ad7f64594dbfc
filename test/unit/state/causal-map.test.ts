import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  CausalMap,
  compareVersions,
  type Version,
  visibleVersion,
} from "../../../src/core/state/causal-map.js";
import { CausalContext } from "../../../src/core/state/dots.js";

/** A replica of one causal map of numbers, with its context: the state the join is defined on. */
interface State {
  map: CausalMap<number>;
  ctx: CausalContext;
}

const KEYS = ["k1", "k2"];

function clone(s: State): State {
  const map = new CausalMap<number>();
  for (const [k, vs] of s.map.entries()) map.restore(k, [...vs]);
  return { map, ctx: s.ctx.clone() };
}

/** The state join of the paper: per key, then the contexts. */
function join(a: State, b: State): State {
  const out = clone(a);
  const keys = new Set([...a.map.keys(), ...b.map.keys()]);
  for (const k of keys) out.map.join(k, b.map.get(k) ?? [], b.ctx, a.ctx);
  out.ctx.join(b.ctx);
  return out;
}

function canonical(s: State): unknown {
  const keys = [...s.map.keys()].sort();
  return {
    map: keys.map((k) => [k, [...(s.map.get(k) ?? [])].sort(compareVersions)]),
    vv: [...s.ctx.vv].sort(),
    cloud: [...s.ctx.cloud].map(([w, c]) => [w, [...c].sort()]).sort(),
  };
}

/**
 * Three states reached by writes on three replicas that exchanged some of their states in
 * between: one history, so that a dot always names one write.
 */
const statesArb: fc.Arbitrary<State[]> = fc
  .array(
    fc.record({
      replica: fc.nat(2),
      key: fc.constantFrom(...KEYS),
      value: fc.oneof(fc.constant(null), fc.nat(3)),
      merge: fc.option(fc.nat(2), { nil: undefined }),
    }),
    { maxLength: 12 },
  )
  .map((ops) => {
    const replicas: State[] = [0, 1, 2].map(() => ({
      map: new CausalMap<number>(),
      ctx: new CausalContext(),
    }));
    let wall = 0;
    for (const op of ops) {
      const r = replicas[op.replica] as State;
      const writer = `w${op.replica}`;
      const counter = (r.ctx.vv.get(writer) ?? 0) + 1;
      const v: Version<number> = { writer, counter, wall: ++wall, tick: 0, value: op.value };
      r.map.write(op.key, v);
      r.ctx.add(v);
      if (op.merge !== undefined) replicas[op.replica] = join(r, replicas[op.merge] as State);
    }
    return replicas;
  });

describe("CausalMap join", () => {
  it("is commutative", () => {
    fc.assert(
      fc.property(statesArb, ([a, b]) => assert.deepEqual(canonical(join(a!, b!)), canonical(join(b!, a!)))),
    );
  });

  it("is associative", () => {
    fc.assert(
      fc.property(statesArb, ([a, b, c]) =>
        assert.deepEqual(canonical(join(join(a!, b!), c!)), canonical(join(a!, join(b!, c!)))),
      ),
    );
  });

  it("is idempotent", () => {
    fc.assert(fc.property(statesArb, ([a]) => assert.deepEqual(canonical(join(a!, a!)), canonical(a!))));
  });

  it("keeps concurrent writes and drops what the other side saw overwritten", () => {
    const a: State = { map: new CausalMap(), ctx: new CausalContext() };
    const v1: Version<number> = { writer: "a", counter: 1, wall: 1, tick: 0, value: 1 };
    a.map.write("k", v1);
    a.ctx.add(v1);
    const b = clone(a);
    const c = clone(a);
    // b overwrites v1; c deletes it without having seen b's write.
    const v2: Version<number> = { writer: "b", counter: 1, wall: 2, tick: 0, value: 2 };
    b.map.write("k", v2);
    b.ctx.add(v2);
    const del: Version<number> = { writer: "c", counter: 1, wall: 3, tick: 0, value: null };
    c.map.write("k", del);
    c.ctx.add(del);
    const joined = join(b, c);
    assert.deepEqual(
      [...(joined.map.get("k") ?? [])].map((v) => v.writer).sort(),
      ["b", "c"],
      "v1 is gone, b's put and c's tombstone are concurrent",
    );
    assert.equal(visibleVersion(joined.map.get("k"))?.value, 2, "the put is visible: add-wins");
  });
});

describe("CausalContext", () => {
  it("folds the cloud into the vector as gaps fill", () => {
    const ctx = new CausalContext();
    ctx.add({ writer: "w", counter: 3 });
    ctx.add({ writer: "w", counter: 2 });
    assert.equal(ctx.vv.get("w"), undefined);
    assert.equal(ctx.cloudSize(), 2);
    ctx.add({ writer: "w", counter: 1 });
    assert.equal(ctx.vv.get("w"), 3);
    assert.equal(ctx.cloudSize(), 0);
  });

  it("join is the union of dots, and covers answers set inclusion", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.integer({ min: 1, max: 8 }))),
        fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.integer({ min: 1, max: 8 }))),
        (xs, ys) => {
          const x = new CausalContext();
          const y = new CausalContext();
          for (const [w, c] of xs) x.add({ writer: w, counter: c });
          for (const [w, c] of ys) y.add({ writer: w, counter: c });
          const j = x.clone();
          j.join(y);
          for (const w of ["a", "b"]) {
            for (let c = 1; c <= 8; c++) {
              const d = { writer: w, counter: c };
              assert.equal(j.has(d), x.has(d) || y.has(d));
            }
          }
          assert.ok(j.covers(x) && j.covers(y));
          assert.equal(
            x.covers(y),
            [...ys].every(([w, c]) => x.has({ writer: w, counter: c })),
          );
        },
      ),
    );
  });
});
