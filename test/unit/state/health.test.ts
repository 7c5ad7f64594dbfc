import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { HealthTable, joinHealth } from "../../../src/core/state/health.js";
import type { HealthRecord } from "../../../src/core/state/types.js";
import { recordArb } from "./arbitraries.js";

const record = (wall: number, status: HealthRecord["status"], node = "n1"): HealthRecord => ({
  id: "o",
  status,
  reporter: node,
  checkedAt: wall,
  changedAt: wall,
  latencyMs: 3,
  error: null,
  stamp: { wall, counter: 0, node },
});

describe("joinHealth", () => {
  it("is commutative", () => {
    fc.assert(
      fc.property(recordArb(), recordArb(), (a, b) => assert.deepEqual(joinHealth(a, b), joinHealth(b, a))),
    );
  });

  it("is associative", () => {
    fc.assert(
      fc.property(recordArb(), recordArb(), recordArb(), (a, b, c) =>
        assert.deepEqual(joinHealth(joinHealth(a, b), c), joinHealth(a, joinHealth(b, c))),
      ),
    );
  });

  it("is idempotent and returns the first of equal records", () => {
    fc.assert(
      fc.property(recordArb(), (a) => {
        assert.equal(joinHealth(a, a), a);
        assert.equal(joinHealth(a, structuredClone(a)), a);
      }),
    );
  });

  it("the later write wins whatever its status", () => {
    assert.equal(joinHealth(record(1, "unhealthy"), record(2, "healthy")).status, "healthy");
    assert.equal(joinHealth(record(3, "unknown"), record(2, "healthy")).status, "unknown");
  });
});

describe("HealthTable", () => {
  it("apply reports whether the table changed", () => {
    const t = new HealthTable();
    assert.equal(t.apply(record(2, "healthy")), true);
    assert.equal(t.apply(record(1, "unhealthy")), false);
    assert.equal(t.apply(record(2, "healthy")), false);
    assert.equal(t.apply(record(3, "unhealthy", "n2")), true);
    assert.equal(t.get("o")?.reporter, "n2");
    assert.equal(t.size, 1);
  });

  it("converges whatever order and duplication records arrive in", () => {
    const records = fc.array(fc.oneof(recordArb("o1"), recordArb("o2")), { maxLength: 30 });
    fc.assert(
      fc.property(records, fc.func(fc.integer()), (list, key) => {
        const a = new HealthTable();
        for (const r of list) a.apply(r);
        const b = new HealthTable();
        const shuffled = [...list, ...list].map((r, i) => ({ r, k: key(i) })).sort((x, y) => x.k - y.k);
        for (const { r } of shuffled) b.apply(r);
        const byId = (x: HealthRecord, y: HealthRecord) => (x.id < y.id ? -1 : 1);
        assert.deepEqual(a.all().sort(byId), b.all().sort(byId));
      }),
    );
  });
});
