import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { runStateScenario } from "./state-scenario.js";

describe("replicated state on a simulated cluster", () => {
  it("100 nodes under 10% loss, 1% changed per minute, a 5-minute partition with writes on both sides: every replica converges and no acknowledged write is lost", () => {
    const result = runStateScenario({
      seed: 61,
      nodes: 100,
      origins: 2000,
      lossRate: 0.1,
      minutesBefore: 2,
      partitionMinutes: 5,
      minutesAfter: 1,
    });
    console.log(
      `state sim: ${result.writes} writes, load spread ${result.loadSpreadMs} ms, converged ${result.convergeAfterHealMs} ms after the heal, ${result.realMs} ms real`,
    );
    assert.notEqual(result.convergeAfterHealMs, undefined, "converged after the heal");
    assert.ok(Number.isFinite(result.loadSpreadMs), "the load reached every replica");
    assert.deepEqual(result.mismatches.slice(0, 5), []);
  });
});
