import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CATALOG, DirtyKeys, HEALTH } from "../../../src/core/state/dirty-keys.js";
import { KeySpace } from "../../../src/core/state/key-space.js";

describe("DirtyKeys", () => {
  it("takes each marked key once per map, oldest first, within the limit", () => {
    const space = new KeySpace();
    const dirty = new DirtyKeys(space);
    dirty.mark("a", CATALOG);
    dirty.mark("b", HEALTH);
    dirty.mark("a", HEALTH);
    dirty.mark("a", CATALOG);
    dirty.mark("c", CATALOG);
    assert.equal(dirty.size, 3);
    assert.deepEqual(dirty.take(2), { catalog: ["a"], health: ["a"] }, "a key of both maps counts twice");
    assert.deepEqual(dirty.take(10), { catalog: ["c"], health: ["b"] });
    assert.equal(dirty.size, 0);
    assert.deepEqual(dirty.take(10), { catalog: [], health: [] });
    dirty.mark("a", HEALTH);
    assert.deepEqual(dirty.take(10), { catalog: [], health: ["a"] }, "marked again after it was taken");
  });

  it("holds a marked key's slot until it is taken, so that a key removed meanwhile keeps its id", () => {
    const space = new KeySpace();
    const dirty = new DirtyKeys(space);
    const slot = space.acquire("gone"); // a map holds it
    dirty.mark("gone", CATALOG);
    space.release(slot); // the map lets go: the key was removed
    assert.equal(space.slotOf("gone"), slot, "still held by the dirty list");
    assert.equal(space.acquire("new"), slot + 1, "its slot is not given to another key");
    assert.deepEqual(dirty.take(10).catalog, ["gone"]);
    assert.equal(space.slotOf("gone"), undefined, "released once taken");
    assert.equal(space.size, 1);
  });

  it("takes exactly the keys marked, whatever the order of marks and slices", () => {
    const op = fc.oneof(
      fc.record({ mark: fc.integer({ min: 0, max: 60 }), map: fc.constantFrom(CATALOG, HEALTH) }),
      fc.record({ take: fc.integer({ min: 1, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const space = new KeySpace();
        const dirty = new DirtyKeys(space);
        // The model: the set of "map:key" marked and not yet taken.
        const pending = new Set<string>();
        const takeAndCheck = (limit: number) => {
          const { catalog, health } = dirty.take(limit);
          const taken = [...catalog.map((k) => `1:${k}`), ...health.map((k) => `2:${k}`)];
          assert.equal(new Set(taken).size, taken.length, "no key twice");
          for (const t of taken) assert.ok(pending.delete(t), `${t} was marked`);
          // A slot counts both its maps: a slice may end one key past the limit.
          assert.ok(taken.length <= limit + 1);
        };
        for (const o of ops) {
          if ("mark" in o) {
            dirty.mark(`k${o.mark}`, o.map);
            pending.add(`${o.map}:k${o.mark}`);
          } else {
            takeAndCheck(o.take);
          }
        }
        takeAndCheck(Number.POSITIVE_INFINITY);
        assert.equal(pending.size, 0, "every mark taken");
        assert.equal(space.size, 0, "every slot given back");
      }),
    );
  });
});
