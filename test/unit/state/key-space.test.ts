import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { OwnerIndex } from "../../../src/core/ownership/owner-index.js";
import { ownersOf } from "../../../src/core/ownership/rendezvous.js";
import { CausalMap, type Version } from "../../../src/core/state/causal-map.js";
import { KeySpace } from "../../../src/core/state/key-space.js";

const version = (writer: string, counter: number, value: string | null): Version<string> => ({
  writer,
  counter,
  wall: counter,
  tick: 0,
  value,
});

describe("KeySpace", () => {
  it("keeps a key while any holder has it, then gives its slot to the next new key", () => {
    const space = new KeySpace();
    const a = space.acquire("x");
    assert.equal(space.acquire("x"), a);
    assert.equal(space.acquire("y"), a + 1);
    space.release(a);
    assert.equal(space.slotOf("x"), a, "one holder left");
    assert.equal(space.keyOf(a), "x");
    space.release(a);
    assert.equal(space.slotOf("x"), undefined);
    assert.equal(space.size, 1);
    assert.equal(space.acquire("z"), a, "the free slot is reused");
    assert.deepEqual([...space.entries()].map(([k]) => k).sort(), ["y", "z"]);
    assert.equal(space.limit, 2);
  });

  it("finds every held key and no other under any mix of acquires and releases", () => {
    // Up to 1,500 keys against a first table of 1,024 positions: long probe runs, removals inside
    // them, and growth of the table.
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.nat({ max: 1499 }), acquire: fc.boolean() }), {
          minLength: 500,
          maxLength: 3000,
        }),
        (ops) => {
          const space = new KeySpace();
          const holders = new Map<string, number>();
          const slots = new Map<string, number>();
          for (const op of ops) {
            const key = `origin-${op.key}`;
            if (op.acquire) {
              const slot = space.acquire(key);
              const known = slots.get(key);
              if (known !== undefined) assert.equal(slot, known);
              slots.set(key, slot);
              holders.set(key, (holders.get(key) ?? 0) + 1);
            } else if (holders.has(key)) {
              space.release(slots.get(key) as number);
              const left = (holders.get(key) as number) - 1;
              if (left === 0) {
                holders.delete(key);
                slots.delete(key);
              } else holders.set(key, left);
            }
          }
          assert.equal(space.size, holders.size);
          for (let k = 0; k < 1500; k++) assert.equal(space.slotOf(`origin-${k}`), slots.get(`origin-${k}`));
          assert.deepEqual(new Map(space.entries()), slots);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("grows past its first table of holders", () => {
    const space = new KeySpace();
    for (let i = 0; i < 5000; i++) assert.equal(space.acquire(`k${i}`), i);
    for (let i = 0; i < 5000; i++) assert.equal(space.slotOf(`k${i}`), i);
  });
});

/** An operation on one of two maps, or on an owner index, all of one replica. */
type Op =
  | { kind: "write"; map: 0 | 1; key: string; value: string | null }
  | { kind: "drop"; map: 0 | 1; key: string }
  | { kind: "upsert" | "remove"; key: string };

const keyArb = fc.constantFrom("a", "b", "c", "d", "e", "f");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    map: fc.constantFrom(0 as const, 1 as const),
    key: keyArb,
    value: fc.option(fc.string({ maxLength: 3 }), { nil: null }),
  }),
  fc.record({
    kind: fc.constant("drop" as const),
    map: fc.constantFrom(0 as const, 1 as const),
    key: keyArb,
  }),
  fc.record({ kind: fc.constantFrom("upsert" as const, "remove" as const), key: keyArb }),
);

describe("structures sharing a key space", () => {
  it("hold exactly what the same structures with spaces of their own hold", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const shared = new KeySpace();
        const together = {
          maps: [new CausalMap<string>(undefined, shared), new CausalMap<string>(undefined, shared)],
          index: new OwnerIndex(shared),
        };
        const apart = { maps: [new CausalMap<string>(), new CausalMap<string>()], index: new OwnerIndex() };
        for (const side of [together, apart]) side.index.setMembers(["m1", "m2", "m3"]);
        let counter = 0;
        for (const op of ops) {
          counter++;
          for (const side of [together, apart]) {
            if (op.kind === "write") side.maps[op.map]!.write(op.key, version("w", counter, op.value));
            else if (op.kind === "drop") side.maps[op.map]!.dropWhere(op.key, () => true);
            else if (op.kind === "upsert") side.index.upsert(op.key);
            else side.index.remove(op.key);
          }
        }
        for (const i of [0, 1]) {
          const a = together.maps[i]!;
          const b = apart.maps[i]!;
          assert.equal(a.size, b.size);
          assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
          for (const key of b.keys()) assert.deepEqual(a.get(key), b.get(key));
          for (const key of ["a", "b", "c", "d", "e", "f"]) assert.equal(a.has(key), b.has(key));
        }
        const ids = [...apart.index.ids()].sort();
        assert.deepEqual([...together.index.ids()].sort(), ids);
        assert.equal(together.index.size, apart.index.size);
        const owners = ownersOf(ids, ["m1", "m2", "m3"]);
        for (const id of ids) assert.equal(together.index.ownerOf(id), owners.get(id));
        // Every key some structure holds is in the space, and no other.
        const held = new Set([...together.maps[0]!.keys(), ...together.maps[1]!.keys(), ...ids]);
        assert.deepEqual([...shared.entries()].map(([k]) => k).sort(), [...held].sort());
      }),
      { numRuns: 300 },
    );
  });

  it("an owner index on a shared space scores a joining member against every origin", () => {
    const space = new KeySpace();
    const map = new CausalMap<string>(undefined, space);
    const index = new OwnerIndex(space);
    index.setMembers(["m1"]);
    // Keys the map holds alone sit between the index's slots.
    for (let i = 0; i < 300; i++) {
      map.write(`only-map-${i}`, version("w", i + 1, "v"));
      index.upsert(`o${i}`);
    }
    index.setMembers(["m1", "m2"], 10);
    while (index.pending) index.settle(10);
    const ids = [...index.ids()];
    assert.equal(ids.length, 300);
    const owners = ownersOf(ids, ["m1", "m2"]);
    for (const id of ids) assert.equal(index.ownerOf(id), owners.get(id));
    // m2 leaves: its origins go back to m1, and the map keeps its keys.
    index.setMembers(["m1"]);
    while (index.pending) index.settle();
    for (const id of ids) assert.equal(index.ownerOf(id), "m1");
    assert.equal(map.size, 300);
  });
});
