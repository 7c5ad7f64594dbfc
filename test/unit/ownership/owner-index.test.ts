import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { OwnerIndex } from "../../../src/core/ownership/owner-index.js";
import { ownerOf } from "../../../src/core/ownership/rendezvous.js";

const ids = (n: number, prefix = "o") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Asserts the index agrees with a full rendezvous pass for every id. */
function assertMatchesFullPass(index: OwnerIndex, all: Iterable<string>, members: string[]): void {
  for (const id of all) assert.equal(index.ownerOf(id), ownerOf(id, members), id);
  const counted = [...index.countByOwner().values()].reduce((a, b) => a + b, 0);
  assert.equal(counted, members.length === 0 ? 0 : index.size);
}

describe("OwnerIndex", () => {
  it("agrees with a full rendezvous pass after any sequence of member and origin changes", () => {
    const names = ["a", "b", "c", "d", "e", "f", "g"];
    const op = fc.oneof(
      fc.record({ kind: fc.constant("members" as const), members: fc.subarray(names) }),
      fc.record({ kind: fc.constant("upsert" as const), id: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant("remove" as const), id: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant("settle" as const), budget: fc.integer({ min: 1, max: 30 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 50 }), (ops, budget) => {
        const index = new OwnerIndex();
        const live = new Set<string>();
        let members: string[] = [];
        for (const o of ops) {
          if (o.kind === "members") {
            members = o.members;
            index.setMembers(members, budget);
          } else if (o.kind === "upsert") {
            live.add(`o${o.id}`);
            index.upsert(`o${o.id}`);
          } else if (o.kind === "remove") {
            live.delete(`o${o.id}`);
            index.remove(`o${o.id}`);
          } else {
            index.settle(o.budget);
          }
        }
        while (index.pending) index.settle(budget);
        assertMatchesFullPass(index, live, members);
      }),
      { numRuns: 300 },
    );
  });

  it("reports exactly the ids whose owner changed", () => {
    const index = new OwnerIndex();
    const all = ids(2000);
    index.setMembers(["a", "b", "c"]);
    for (const id of all) index.upsert(id);
    const before = new Map(all.map((id) => [id, index.ownerOf(id)]));
    const joined = new Set(index.setMembers(["a", "b", "c", "d"]));
    for (const id of all) assert.equal(joined.has(id), index.ownerOf(id) !== before.get(id), id);
    for (const id of joined) assert.equal(index.ownerOf(id), "d", "a joining member only takes");
    assert.ok(joined.size > 300 && joined.size < 700, `${joined.size} of 2000 moved to the 4th member`);

    const owned = new Set(index.owned("b"));
    const left = new Set(index.setMembers(["a", "c", "d"]));
    assert.deepEqual(left, owned, "only the departed member's origins move");
    assertMatchesFullPass(index, all, ["a", "c", "d"]);
  });

  it("remembers who owned an origin before: the departed owner, or the one a joiner took it from", () => {
    const index = new OwnerIndex();
    index.setMembers(["a", "b", "c"]);
    for (const id of ids(300)) index.upsert(id);
    for (const id of ids(300)) assert.equal(index.previousOwnerOf(id), undefined, "never changed hands");
    const ofB = [...index.owned("b")];
    index.setMembers(["a", "c"]);
    for (const id of ofB) assert.equal(index.previousOwnerOf(id), "b");
    const before = new Map(ids(300).map((id) => [id, index.ownerOf(id)]));
    index.setMembers(["a", "c", "d"]);
    const taken = [...index.owned("d")];
    assert.ok(taken.length > 0);
    for (const id of taken) assert.equal(index.previousOwnerOf(id), before.get(id));
  });

  it("a join costs one hash per origin: work in slices leaves the index pending, then settles", () => {
    const index = new OwnerIndex();
    index.setMembers(ids(10, "m"));
    for (const id of ids(1000)) index.upsert(id);
    const first = index.setMembers([...ids(10, "m"), "new"], 100);
    assert.equal(index.pending, true);
    let slices = 1;
    const changed = [...first];
    while (index.pending) {
      changed.push(...index.settle(100));
      slices++;
    }
    // 1000 origins x 1 joining member = 1000 hashes, in slices of 100 (the last one finds the end).
    assert.ok(slices >= 10 && slices <= 11, `${slices} slices`);
    assert.equal(new Set(changed).size, [...index.owned("new")].length);
    assertMatchesFullPass(index, ids(1000), [...ids(10, "m"), "new"]);
  });

  it("a departure is handed on in slices too, one step per origin, without a hash", () => {
    const index = new OwnerIndex();
    index.setMembers(["a", "b", "c"]);
    for (const id of ids(3000)) index.upsert(id);
    const owned = new Set(index.owned("b"));
    const changed = new Set(index.setMembers(["a", "c"], 100));
    assert.equal(index.pending, true, "a thousand origins are not handed on in one slice of 100");
    assert.ok(changed.size <= 100, `${changed.size} handed on in the first slice`);
    let slices = 1;
    while (index.pending) {
      for (const id of index.settle(100)) changed.add(id);
      slices++;
    }
    assert.ok(slices >= owned.size / 100, `${slices} slices for ${owned.size} origins`);
    assert.deepEqual(changed, owned, "exactly the departed member's origins moved");
    assertMatchesFullPass(index, ids(3000), ["a", "c"]);
  });

  it("a member back before its departure was handed on keeps what it owned", () => {
    const index = new OwnerIndex();
    index.setMembers(["a", "b", "c"]);
    for (const id of ids(500)) index.upsert(id);
    index.setMembers(["a", "c"], 10);
    index.setMembers(["a", "b", "c"], 10);
    while (index.pending) index.settle(10);
    assertMatchesFullPass(index, ids(500), ["a", "b", "c"]);
    // The runner-ups are right too: each departure now moves its origins to the right heirs.
    index.setMembers(["b", "c"], 10);
    while (index.pending) index.settle(10);
    assertMatchesFullPass(index, ids(500), ["b", "c"]);
    index.setMembers(["c"], 10);
    while (index.pending) index.settle(10);
    assertMatchesFullPass(index, ids(500), ["c"]);
  });

  it("owns nothing without members, and everything moves to the first member", () => {
    const index = new OwnerIndex();
    for (const id of ids(10)) assert.equal(index.upsert(id), false);
    assert.equal(index.ownerOf("o1"), undefined);
    assert.deepEqual(new Set(index.setMembers(["solo"])), new Set(ids(10)));
    assert.deepEqual(index.countByOwner(), new Map([["solo", 10]]));
    assert.deepEqual(new Set(index.setMembers([])), new Set(ids(10)));
    assert.equal(index.ownerOf("o1"), undefined);
  });

  it("remove forgets an origin and returns its owner", () => {
    const index = new OwnerIndex();
    index.setMembers(["a"]);
    index.upsert("x");
    assert.equal(index.remove("x"), "a");
    assert.equal(index.remove("x"), undefined);
    assert.equal(index.has("x"), false);
    assert.deepEqual([...index.owned("a")], []);
  });
});
