import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { decodeTags, encodeTags, isHeckMeta } from "../../../src/core/membership/tags.js";

describe("Serf tags in meta", () => {
  it("round-trip, with the 0xFF prefix Serf reads", () => {
    const meta = encodeTags({ heck: "0.1.0", dc: "ams" });
    assert.equal(meta[0], 0xff);
    assert.deepEqual(decodeTags(meta), { heck: "0.1.0", dc: "ams" });
    assert.ok(isHeckMeta(meta));
  });

  it("an empty tag set is ff 80, as Serf sends it, and is no heck node", () => {
    assert.deepEqual([...encodeTags({})], [0xff, 0x80]);
    assert.equal(isHeckMeta(Uint8Array.of(0xff, 0x80)), false);
  });

  it("a legacy role, empty meta or bad msgpack is no heck node and never throws", () => {
    for (const meta of [
      new Uint8Array(0),
      new TextEncoder().encode("heck"),
      Uint8Array.of(0xff, 0x81, 0xc1),
    ]) {
      assert.equal(isHeckMeta(meta), false);
    }
  });

  it("refuses tags beyond memberlist's 512-byte meta limit", () => {
    assert.throws(() => encodeTags({ big: "x".repeat(600) }), RangeError);
  });
});
