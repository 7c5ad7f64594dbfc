import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  Awareness,
  applyHealthDelta,
  HealthDelta,
  scaleByHealth,
} from "../../../src/core/membership/awareness.js";

describe("awareness: Lifeguard local health score", () => {
  const deltas: Array<[score: number, delta: number, max: number, expected: number]> = [
    [0, 1, 8, 1],
    [0, -1, 8, 0],
    [6, 1, 8, 7],
    [7, 1, 8, 7],
    [7, 5, 8, 7],
    [3, -10, 8, 0],
    [0, 3, 1, 0],
  ];
  for (const [score, delta, max, expected] of deltas) {
    it(`score ${score} ${delta >= 0 ? "+" : ""}${delta} (max ${max}) -> ${expected}`, () => {
      assert.equal(applyHealthDelta(score, delta, max), expected);
    });
  }

  const scales: Array<[timeout: number, score: number, expected: number]> = [
    [500, 0, 500],
    [500, 1, 1000],
    [1000, 7, 8000],
  ];
  for (const [timeout, score, expected] of scales) {
    it(`${timeout} ms at score ${score} -> ${expected} ms`, () => {
      assert.equal(scaleByHealth(timeout, score), expected);
    });
  }

  it("failed probes and refutations raise the score up to max - 1, successes lower it", () => {
    const a = new Awareness(8);
    assert.equal(a.score, 0);
    for (let i = 0; i < 20; i++) a.apply(HealthDelta.probeFailed);
    assert.equal(a.score, 7);
    assert.equal(a.scale(1000), 8000);
    a.apply(HealthDelta.probeSucceeded);
    a.apply(HealthDelta.probeSucceeded);
    assert.equal(a.score, 5);
    a.apply(HealthDelta.refuted);
    assert.equal(a.score, 6);
  });
});
