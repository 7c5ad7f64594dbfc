import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { acceptableVsn, incompatibility, protocolMax } from "../../../src/core/membership/vsn.js";

const v = (...b: number[]) => Uint8Array.from(b);

describe("Vsn (docs/wire.md §6.1)", () => {
  const acceptable: Array<[string, Uint8Array, boolean]> = [
    ["Serf's own", v(1, 5, 2, 2, 5, 5), true],
    ["empty (stored as zeros)", v(), true],
    ["three bytes (crashes Serf)", v(1, 5, 2), false],
    ["five bytes", v(1, 5, 2, 2, 5), false],
    ["pmin 0", v(0, 5, 2, 2, 5, 5), false],
    ["pmax 0", v(1, 0, 2, 2, 5, 5), false],
    ["pmin > pmax", v(4, 3, 2, 2, 5, 5), false],
  ];
  for (const [name, vsn, expected] of acceptable) {
    it(`${name} -> ${expected ? "accepted" : "refused"}`, () => assert.equal(acceptableVsn(vsn), expected));
  }

  it("protocolMax reads byte 1", () => {
    assert.equal(protocolMax(v(1, 5, 2, 2, 5, 5)), 5);
    assert.equal(protocolMax(v(1, 3, 2, 2, 5, 5)), 3);
    assert.equal(protocolMax(v()), 0);
  });

  it("all Serf-like nodes are compatible", () => {
    const nodes = ["a", "b", "c"].map((name) => ({ name, vsn: v(1, 5, 2, 2, 5, 5) }));
    assert.equal(incompatibility(nodes), undefined);
  });

  it("a node without Vsn is refused as memberlist words it", () => {
    const nodes = [
      { name: "a", vsn: v(1, 5, 2, 2, 5, 5) },
      { name: "b", vsn: v() },
    ];
    assert.equal(incompatibility(nodes), "Node 'b' protocol version (0) is incompatible: [1, 5]");
  });

  it("a current version outside someone's range is refused", () => {
    const nodes = [
      { name: "a", vsn: v(1, 5, 2, 2, 5, 5) },
      { name: "b", vsn: v(3, 5, 3, 2, 5, 5) },
    ];
    assert.match(incompatibility(nodes) ?? "", /Node 'a' protocol version \(2\) is incompatible: \[3, 5\]/);
  });

  it("the delegate range is checked too", () => {
    const nodes = [
      { name: "a", vsn: v(1, 5, 2, 2, 5, 5) },
      { name: "b", vsn: v(1, 5, 2, 2, 4, 4) },
    ];
    assert.match(incompatibility(nodes) ?? "", /delegate protocol version \(5\)/);
  });
});
