import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { xxh64 as reference } from "@node-rs/xxhash";
import { seededRng, shuffle } from "../../../src/core/env.js";
import { xxh64 } from "../../../src/core/hash.js";
import { ownerOf, ownersOf, rendezvousWeight } from "../../../src/core/ownership/rendezvous.js";

const ids = Array.from({ length: 10_000 }, (_, i) => `origin-${i}.example.com`);
const five = ["heck-1", "heck-2", "heck-3", "heck-4", "heck-5"];

describe("rendezvous hashing", () => {
  it("uses standard XXH64 with seed 0 (reference vectors of the xxHash specification)", () => {
    assert.equal(xxh64(""), 0xef46db3751d8e999n);
    assert.equal(xxh64("a"), 0xd24ec4f1a98c6e5bn);
    assert.equal(xxh64("abc"), 0x44bc2cf5ad770999n);
  });

  it("weighs XXH64 of the UTF-8 bytes of originId + newline + member", () => {
    // Checked against a second, native implementation of XXH64, given the bytes themselves.
    const bytes = new TextEncoder().encode("web:443\nnœud-1");
    assert.equal(rendezvousWeight("web:443", "nœud-1"), reference(bytes, 0n));
  });

  // Pinned from the documented hash: a change of hash or of tie-breaking must fail here, because
  // nodes of different versions would then disagree on owners.
  const pinned: Array<[string, string[], string, bigint[]]> = [
    [
      "api.example.com",
      ["node-a", "node-b", "node-c"],
      "node-a",
      [0x7f37f9f0b06aa1a7n, 0x1fa812bc503350f4n, 0x1d2a23ff05c43882n],
    ],
    [
      "web:443",
      ["n1", "n2", "n3", "n4", "n5"],
      "n2",
      [
        0x3455c6cdd302e048n,
        0xeac9b3f4564424ecn,
        0xa2387ea0c4dda5d6n,
        0x63c58c4f1e134f87n,
        0x2705381a749907b4n,
      ],
    ],
    ["origin-42", ["alpha", "beta"], "beta", [0xa0c81a8f534b6894n, 0xe38b1613cd68e4ecn]],
    [
      "db.internal",
      ["heck-1", "heck-2", "heck-3", "heck-4"],
      "heck-1",
      [0xea587c76c1088ab7n, 0x1053cc50b0b3f246n, 0x750c74d8da34a78bn, 0x5cc067b10ce95fecn],
    ],
    ["x", ["only"], "only", [0x1e5d3126ba68en]],
  ];
  for (const [id, members, owner, weights] of pinned) {
    it(`pins ${id} over [${members.join(", ")}] to ${owner}`, () => {
      assert.deepEqual(
        members.map((m) => rendezvousWeight(id, m)),
        weights,
      );
      assert.equal(ownerOf(id, members), owner);
      assert.equal(ownersOf([id], members).get(id), owner);
    });
  }

  it("compares weights as unsigned 64-bit numbers", () => {
    // n2's weight has the top bit set: read as signed it would be negative and lose.
    assert.ok(rendezvousWeight("web:443", "n2") >= 1n << 63n);
    assert.equal(ownerOf("web:443", ["n1", "n2"]), "n2");
  });

  it("has no owner without members", () => {
    assert.equal(ownerOf("a", []), undefined);
    assert.equal(ownersOf(["a"], []).size, 0);
  });

  it("gives the same owner whatever the member order, with duplicates", () => {
    const rng = seededRng(1);
    for (const id of ids.slice(0, 500)) {
      const expected = ownerOf(id, five);
      const shuffled = shuffle(rng, [...five, five[0]!, five[3]!]);
      assert.equal(ownerOf(id, shuffled), expected);
    }
  });

  it("ownersOf agrees with ownerOf", () => {
    const owners = ownersOf(ids, [...five].reverse());
    assert.equal(owners.size, ids.length);
    for (const id of ids) assert.equal(owners.get(id), ownerOf(id, five));
  });

  it("moves only the origins of a member that goes", () => {
    const before = ownersOf(ids, five);
    const after = ownersOf(
      ids,
      five.filter((m) => m !== "heck-3"),
    );
    let moved = 0;
    for (const id of ids) {
      if (before.get(id) === "heck-3") {
        assert.notEqual(after.get(id), "heck-3");
        moved++;
      } else {
        assert.equal(after.get(id), before.get(id), id);
      }
    }
    assert.ok(moved > 0);
  });

  it("a member that joins takes origins only for itself", () => {
    const before = ownersOf(ids, five);
    const after = ownersOf(ids, [...five, "heck-6"]);
    for (const id of ids) {
      if (after.get(id) !== "heck-6") assert.equal(after.get(id), before.get(id));
    }
  });

  it("balances origins across five members within 10% of the mean", () => {
    const counts = new Map<string, number>();
    for (const owner of ownersOf(ids, five).values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    const mean = ids.length / five.length;
    assert.equal(counts.size, five.length);
    for (const [member, count] of counts) {
      assert.ok(Math.abs(count - mean) < mean * 0.1, `${member} owns ${count}, mean ${mean}`);
    }
  });
});
