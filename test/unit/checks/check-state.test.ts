import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { type CheckState, initialCheckState, nextCheckState } from "../../../src/core/checks/check-state.js";
import type { HealthStatus } from "../../../src/core/state/types.js";

/** Runs a sequence of probe results ("s" success, "f" failure) and returns the status after each. */
function run(
  start: CheckState,
  results: string,
  healthyThreshold: number,
  unhealthyThreshold: number,
): string {
  let state = start;
  const out: string[] = [];
  for (const r of results) {
    state = nextCheckState(state, r === "s", { healthyThreshold, unhealthyThreshold });
    out.push(state.status === "healthy" ? "H" : state.status === "unhealthy" ? "U" : "?");
  }
  return out.join("");
}

describe("threshold state machine", () => {
  // [from status, probe results, healthyThreshold, unhealthyThreshold, statuses after each probe]
  const table: Array<[HealthStatus, string, number, number, string]> = [
    ["unknown", "s", 2, 3, "H"],
    ["unknown", "f", 2, 3, "U"],
    ["unknown", "sff", 2, 3, "HHH"],
    ["unknown", "sfff", 2, 3, "HHHU"],
    ["unknown", "sffsfff", 2, 3, "HHHHHHU"],
    ["unknown", "fs", 2, 3, "UU"],
    ["unknown", "fss", 2, 3, "UUH"],
    ["unknown", "fsfss", 2, 3, "UUUUH"],
    ["unknown", "sfsfsfsf", 1, 1, "HUHUHUHU"],
    ["unknown", "ffffffffff", 10, 10, "UUUUUUUUUU"],
    ["unknown", "fsssssssss", 10, 10, "UUUUUUUUUU"],
    ["unknown", "fssssssssss", 10, 10, "UUUUUUUUUUH"],
    ["unknown", "sfffffffff", 10, 10, "HHHHHHHHHH"],
    ["unknown", "sffffffffff", 10, 10, "HHHHHHHHHHU"],
    ["healthy", "ff", 2, 3, "HH"],
    ["healthy", "fff", 2, 3, "HHU"],
    ["healthy", "fffs", 2, 3, "HHUU"],
    ["healthy", "fffss", 2, 3, "HHUUH"],
    ["unhealthy", "s", 2, 3, "U"],
    ["unhealthy", "ss", 2, 3, "UH"],
    ["unhealthy", "sfss", 2, 3, "UUUH"],
    ["unhealthy", "sss", 1, 3, "HHH"],
  ];
  for (const [from, results, h, u, expected] of table) {
    it(`${from} + ${results} (healthy ${h}, unhealthy ${u}) → ${expected}`, () => {
      assert.equal(run(initialCheckState(from), results, h, u), expected);
    });
  }

  it("a new owner keeps the replicated status and starts both streaks at zero", () => {
    assert.deepEqual(initialCheckState("unhealthy"), { status: "unhealthy", successes: 0, failures: 0 });
    assert.deepEqual(initialCheckState(), { status: "unknown", successes: 0, failures: 0 });
  });

  it("a new owner does not flip a healthy origin on one failure, even if the old owner had two", () => {
    assert.equal(run(initialCheckState("healthy"), "f", 2, 3), "H");
  });

  it("counts streaks across a flip", () => {
    let s = initialCheckState("healthy");
    for (let i = 0; i < 4; i++) s = nextCheckState(s, false, { healthyThreshold: 2, unhealthyThreshold: 3 });
    assert.deepEqual(s, { status: "unhealthy", successes: 0, failures: 4 });
    s = nextCheckState(s, true, { healthyThreshold: 2, unhealthyThreshold: 3 });
    assert.deepEqual(s, { status: "unhealthy", successes: 1, failures: 0 });
  });
});
