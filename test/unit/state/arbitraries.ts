/**
 * fast-check generators of catalog entries and health records for one origin id. Walls, counters
 * and nodes come from small sets so that equal walls, equal counters and even equal stamps with
 * different contents turn up often: the cases where a join could go wrong.
 */
import fc from "fast-check";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import type { HealthRecord, Hlc, OriginEntry, OriginSpec } from "../../../src/core/state/types.js";

/** Ordinary objects, as the code builds them; deepEqual tells a null prototype apart. */
const plain = { noNullPrototype: true };

export const specs: OriginSpec[] = [
  parseOriginSpec({ url: "http://a.example/health" }),
  parseOriginSpec({ url: "http://a.example/health", intervalMs: 1000 }),
  parseOriginSpec({ url: "https://b.example/", method: "HEAD", headers: { B: "2", A: "1" } }),
  parseOriginSpec({
    url: "https://b.example/",
    method: "HEAD",
    headers: { A: "1", B: "2" },
    bodyContains: "ok",
  }),
];

export const stampArb: fc.Arbitrary<Hlc> = fc.record(
  {
    wall: fc.integer({ min: 1000, max: 1003 }),
    counter: fc.nat(2),
    node: fc.constantFrom("n1", "n2", "n3"),
  },
  plain,
);

export function entryArb(id = "o1"): fc.Arbitrary<OriginEntry> {
  return fc.record(
    {
      id: fc.constant(id),
      spec: fc.oneof(fc.constant(null), fc.constantFrom(...specs)),
      stamp: stampArb,
    },
    plain,
  );
}

export function recordArb(id = "o1"): fc.Arbitrary<HealthRecord> {
  return fc.record(
    {
      id: fc.constant(id),
      status: fc.constantFrom("unknown" as const, "healthy" as const, "unhealthy" as const),
      reporter: fc.oneof(fc.constant(null), fc.constantFrom("n1", "n2")),
      checkedAt: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 3 })),
      changedAt: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 3 })),
      latencyMs: fc.oneof(fc.constant(null), fc.constantFrom(0, 1.5, 20)),
      error: fc.oneof(fc.constant(null), fc.constantFrom("timeout", "status 500")),
      stamp: stampArb,
    },
    plain,
  );
}
