import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  CausalMap,
  compareVersions,
  type Version,
  visibleVersion,
} from "../../../src/core/state/causal-map.js";
import { CausalContext, PrefixJoin } from "../../../src/core/state/dots.js";

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

describe("CausalMap.keysUnseenBy", () => {
  it("finds exactly the keys holding a version the context lacks, as a scan would", () => {
    fc.assert(
      fc.property(
        statesArb,
        fc.array(fc.tuple(fc.constantFrom("w0", "w1", "w2"), fc.integer({ min: 1, max: 12 }))),
        ([a], dots) => {
          const theirs = new CausalContext();
          for (const [writer, counter] of dots) theirs.add({ writer, counter });
          const found = new Set<string>();
          a!.map.keysUnseenBy(theirs, (k) => found.add(k));
          const scanned = new Set<string>();
          for (const [k, vs] of a!.map.entries()) if (vs.some((v) => !theirs.has(v))) scanned.add(k);
          assert.deepEqual([...found].sort(), [...scanned].sort());
        },
      ),
    );
  });
});

describe("CausalMap.dotsAfter", () => {
  it("lists a writer's held versions in counter order, however they arrived and were read between", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            // A key takes a version of writer w0 (or of another writer, which leaves w0's behind).
            fc.record({ key: fc.nat(40), counter: fc.integer({ min: 1, max: 200 }), other: fc.boolean() }),
            // A read from some counter on.
            fc.record({ after: fc.nat(200 * 64) }),
          ),
          { maxLength: 120 },
        ),
        (ops) => {
          const map = new CausalMap<number>();
          const held = new Map<string, { writer: string; counter: number }>();
          for (const op of ops) {
            if ("key" in op) {
              const writer = op.other ? "w1" : "w0";
              // A dot names one write: no two keys share one.
              const counter = op.counter * 64 + op.key;
              map.restore(`k${op.key}`, [{ writer, counter, wall: 1, tick: 0, value: 1 }]);
              held.set(`k${op.key}`, { writer, counter });
            } else {
              const expected = [...held]
                .filter(([, d]) => d.writer === "w0" && d.counter > op.after)
                .sort((x, y) => x[1].counter - y[1].counter);
              const got = map.dotsAfter("w0", op.after);
              const pairs: Array<[number, string]> = [];
              for (let i = 0; i < got.length; i += 2) pairs.push([got[i] as number, got[i + 1] as string]);
              assert.deepEqual(
                pairs.map(([c]) => c),
                expected.map(([, d]) => d.counter),
              );
              assert.deepEqual(new Set(pairs.map(([, k]) => k)), new Set(expected.map(([k]) => k)));
              // Read page by page, each after the last counter of the one before: the same list.
              const paged: Array<number | string> = [];
              for (let after = op.after; ; ) {
                const page = map.dotsAfter("w0", after, 3);
                assert.ok(page.length <= 6);
                paged.push(...page);
                if (page.length < 6) break;
                after = page[page.length - 2] as number;
              }
              assert.deepEqual(paged, got);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
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

  const dotsArb = fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.integer({ min: 1, max: 12 })));
  const contextOf = (dots: [string, number][]) => {
    const ctx = new CausalContext();
    for (const [w, c] of dots) ctx.add({ writer: w, counter: c });
    return ctx;
  };
  /** Every dot of `ctx` among writers a, b, c and counters up to 12, as text. */
  const listed = (ctx: CausalContext) => {
    const out: string[] = [];
    for (const w of ["a", "b", "c"])
      for (let c = 1; c <= 12; c++) if (ctx.has({ writer: w, counter: c })) out.push(`${w}:${c}`);
    return out;
  };
  /** A context is in normal form: no cloud dot at or next to its writer's vector entry. */
  const normal = (ctx: CausalContext) => {
    for (const [w, counters] of ctx.cloud) {
      assert.ok(counters.size > 0);
      for (const c of counters) assert.ok(c > (ctx.vv.get(w) ?? 0) + 1, `${w}:${c} folds`);
    }
  };

  it("raise and join report whether they added a dot, and keep the context folded", () => {
    fc.assert(
      fc.property(
        dotsArb,
        dotsArb,
        fc.constantFrom("a", "b", "c"),
        fc.integer({ min: 0, max: 12 }),
        (xs, ys, w, c) => {
          const x = contextOf(xs);
          const raised = x.clone();
          const before = listed(raised);
          const added = raised.raise(w, c);
          const model = contextOf(xs);
          for (let k = 1; k <= c; k++) model.add({ writer: w, counter: k });
          assert.deepEqual(listed(raised), listed(model));
          assert.equal(added, listed(raised).length > before.length);
          normal(raised);
          const joined = x.clone();
          const changed = joined.join(contextOf(ys));
          assert.equal(changed, listed(joined).length > listed(x).length);
          normal(joined);
        },
      ),
    );
  });

  it("a dot already held is not logged again", () => {
    const ctx = new CausalContext();
    ctx.logCloud();
    assert.equal(ctx.add({ writer: "w", counter: 5 }), true);
    assert.equal(ctx.add({ writer: "w", counter: 5 }), false);
    assert.deepEqual(ctx.takeCloudLog(), { writers: ["w"], counters: [5] });
  });

  it("a prefix join claims exactly the dots up to each position, whatever the steps, then the rest", () => {
    const position = fc.tuple(fc.constantFrom("a", "b", "c", "d"), fc.integer({ min: 0, max: 12 }));
    fc.assert(
      fc.property(
        dotsArb,
        dotsArb,
        fc.array(position, { maxLength: 6 }),
        fc.subarray(["a", "b", "c"]),
        (xs, ys, steps, skipped) => {
          const other = contextOf(ys);
          const into = contextOf(xs);
          const join = new PrefixJoin(into, other);
          const skip = new Set(skipped);
          // Positions in order, as a session's chunk bounds come.
          const ordered = steps.sort(([w1, c1], [w2, c2]) => (w1 === w2 ? c1 - c2 : w1 < w2 ? -1 : 1));
          for (const [w, c] of ordered) {
            const before = listed(into);
            const changed = join.advance(w, c, skip);
            const model = contextOf(xs);
            for (const [ow, oc] of ys) {
              if (skip.has(ow) || !other.has({ writer: ow, counter: oc })) continue;
              if (ow < w || (ow === w && oc <= c)) model.add({ writer: ow, counter: oc });
            }
            for (const [ow, top] of other.vv)
              for (let k = 1; k <= top; k++)
                if (!skip.has(ow) && (ow < w || (ow === w && k <= c))) model.add({ writer: ow, counter: k });
            assert.deepEqual(listed(into), listed(model));
            assert.equal(changed, listed(into).length > before.length);
            normal(into);
          }
          // The rest: the whole of other but the writers skipped, as after a session's last chunk.
          const before = listed(into);
          const changed = join.rest(skip);
          const whole = contextOf(xs);
          whole.join(contextOf(ys.filter(([w]) => !skip.has(w))));
          for (const [ow, top] of other.vv) if (!skip.has(ow)) whole.raise(ow, top);
          assert.deepEqual(listed(into), listed(whole));
          assert.equal(changed, listed(into).length > before.length);
          normal(into);
        },
      ),
    );
  });
});
