import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { mergeAsMessage, pushPullIntervalMs } from "../../../src/core/membership/push-pull.js";
import { reconnectProbability } from "../../../src/core/membership/reconnect.js";
import type { NodeStateCode, PushNodeState } from "../../../src/wire/messages.js";

describe("pushPullIntervalMs: scaled by ceil(log2(n) - log2(32)) + 1 above 32 members", () => {
  const cases: Array<[n: number, expected: number]> = [
    [1, 30_000],
    [32, 30_000],
    [33, 60_000],
    [64, 60_000],
    [65, 90_000],
    [128, 90_000],
    [1000, 180_000],
  ];
  for (const [n, expected] of cases) {
    it(`n ${n} -> ${expected} ms`, () => assert.equal(pushPullIntervalMs(30_000, n), expected));
  }
});

describe("push-pull merge rules (docs/wire.md §5)", () => {
  const state = (code: NodeStateCode): PushNodeState => ({
    name: "peer",
    addr: Uint8Array.of(10, 0, 0, 9),
    port: 7946,
    meta: new Uint8Array(0),
    incarnation: 4,
    state: code,
    vsn: Uint8Array.of(1, 5, 2, 2, 5, 5),
  });

  it("alive merges as an alive", () => {
    const m = mergeAsMessage(state(0), "me");
    assert.equal(m?.type, "alive");
    assert.equal(m?.incarnation, 4);
  });

  it("left merges as a dead with From = Name", () => {
    assert.deepEqual(mergeAsMessage(state(3), "me"), {
      type: "dead",
      incarnation: 4,
      node: "peer",
      from: "peer",
    });
  });

  for (const code of [1, 2] as const) {
    it(`${code === 1 ? "suspect" : "dead"} merges only as our own suspicion`, () => {
      assert.deepEqual(mergeAsMessage(state(code), "me"), {
        type: "suspect",
        incarnation: 4,
        node: "peer",
        from: "me",
      });
    });
  }

  it("an unknown state code is skipped", () => {
    assert.equal(mergeAsMessage({ ...state(0), state: 9 as NodeStateCode }, "me"), undefined);
  });
});

describe("reconnectProbability: failed / live, capped at 1", () => {
  const cases: Array<[failed: number, live: number, expected: number]> = [
    [0, 10, 0],
    [1, 10, 0.1],
    [5, 10, 0.5],
    [20, 10, 1],
    [3, 0, 1],
  ];
  for (const [failed, live, expected] of cases) {
    it(`${failed} failed, ${live} live -> ${expected}`, () =>
      assert.equal(reconnectProbability(failed, live), expected));
  }
});
