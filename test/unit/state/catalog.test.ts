import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import { canonicalSpec, normalSpec, sameSpec, sameTarget } from "../../../src/core/state/catalog.js";

const a = parseOriginSpec({ url: "https://b.example/", method: "HEAD", headers: { B: "2", A: "1" } });
const b = parseOriginSpec({ url: "https://b.example/", method: "HEAD", headers: { A: "1", B: "2" } });

describe("spec normal form", () => {
  it("ignores the order of keys and header names", () => {
    assert.equal(canonicalSpec(a), canonicalSpec(b));
    assert.ok(sameSpec(a, b));
    assert.deepEqual(normalSpec(a), normalSpec(b));
  });

  it("notices a change of any one field", () => {
    for (const change of [
      { url: "https://c.example/" },
      { method: "GET" },
      { intervalMs: 12_345 },
      { timeoutMs: 11 },
      { expectStatus: [200] },
      { healthyThreshold: 5 },
      { unhealthyThreshold: 5 },
      { headers: { A: "1" } },
      { bodyContains: "ok" },
    ]) {
      const changed = parseOriginSpec({ ...a, ...change });
      assert.equal(sameSpec(a, changed), false, JSON.stringify(change));
      assert.notEqual(canonicalSpec(a), canonicalSpec(changed));
    }
  });

  it("answers false for values that are not specs", () => {
    for (const v of [null, 1, "x", [], {}]) assert.equal(sameSpec(a, v), false);
  });

  it("a target is the URL, the method and the headers", () => {
    assert.ok(sameTarget(a, parseOriginSpec({ ...a, intervalMs: 10_000, expectStatus: [204] })));
    assert.equal(sameTarget(a, parseOriginSpec({ ...a, headers: { A: "1" } })), false);
    assert.equal(sameTarget(a, parseOriginSpec({ ...a, method: "GET" })), false);
    assert.equal(sameTarget(a, parseOriginSpec({ ...a, url: "https://b.example/x" })), false);
  });
});
