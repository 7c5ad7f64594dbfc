import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { Timers } from "../../../src/core/env.js";
import {
  expectedConfirmations,
  remainingSuspicionMs,
  Suspicion,
  type SuspicionBounds,
  suspicionBounds,
  suspicionTimeoutMs,
  suspicionTotalMs,
} from "../../../src/core/membership/suspicion.js";
import { SimNetwork } from "../../sim/sim-network.js";

describe("suspicionTimeoutMs: suspicionMult * max(1, log10(n)) * probeInterval", () => {
  const cases: Array<[mult: number, n: number, intervalMs: number, expected: number]> = [
    [4, 0, 1000, 4000],
    [4, 1, 1000, 4000],
    [4, 5, 1000, 4000],
    [4, 10, 1000, 4000],
    [4, 50, 1000, 6795],
    [4, 100, 1000, 8000],
    [4, 1000, 1000, 12000],
    [3, 100, 1000, 6000],
    [6, 100, 5000, 60000],
  ];
  for (const [mult, n, interval, expected] of cases) {
    it(`mult ${mult}, n ${n}, interval ${interval} -> ${expected} ms`, () => {
      assert.equal(suspicionTimeoutMs(mult, n, interval), expected);
    });
  }

  it("the maximum is suspicionMaxTimeoutMult times the minimum", () => {
    const lan = { suspicionMult: 4, suspicionMaxTimeoutMult: 6, probeIntervalMs: 1000 };
    assert.deepEqual(suspicionBounds(lan, 100), { minMs: 8000, maxMs: 48000 });
    assert.deepEqual(suspicionBounds(lan, 3), { minMs: 4000, maxMs: 24000 });
  });
});

describe("expectedConfirmations: k = suspicionMult - 2, or 0 when n - 2 < k", () => {
  const cases: Array<[mult: number, n: number, k: number]> = [
    [4, 1, 0],
    [4, 3, 0],
    [4, 4, 2],
    [4, 100, 2],
    [3, 2, 0],
    [3, 3, 1],
    [6, 5, 0],
    [6, 6, 4],
    [2, 100, 0],
  ];
  for (const [mult, n, k] of cases) {
    it(`mult ${mult}, n ${n} -> k ${k}`, () => assert.equal(expectedConfirmations(mult, n), k));
  }
});

describe("suspicionTotalMs: max - ln(c+1)/ln(k+1) * (max - min), never below min", () => {
  const bounds: SuspicionBounds = { minMs: 4000, maxMs: 24000 };
  const cases: Array<[confirmations: number, k: number, expected: number]> = [
    [0, 2, 24000],
    [1, 2, 11381],
    [2, 2, 4000],
    [3, 2, 4000],
    [0, 0, 4000],
    [5, 0, 4000],
    [1, 4, 15386],
    [2, 4, 10347],
    [3, 4, 6772],
    [4, 4, 4000],
  ];
  for (const [c, k, expected] of cases) {
    it(`c ${c} of k ${k} -> ${expected} ms`, () => assert.equal(suspicionTotalMs(c, k, bounds), expected));
  }

  it("confirmations only ever shrink the timeout", () => {
    for (let c = 1; c <= 6; c++) {
      assert.ok(suspicionTotalMs(c, 4, bounds) <= suspicionTotalMs(c - 1, 4, bounds));
      assert.ok(suspicionTotalMs(c, 4, bounds) >= bounds.minMs);
    }
  });

  it("the remaining time subtracts what has elapsed and may go negative", () => {
    assert.equal(remainingSuspicionMs(1, 2, 1000, bounds), 10381);
    assert.equal(remainingSuspicionMs(2, 2, 5000, bounds), -1000);
  });
});

function simTimers(net: SimNetwork): Timers {
  return { setTimeout: (fn, ms) => net.schedule(ms, fn), clearTimeout: (h) => net.cancel(h) };
}

function startSuspicion(k: number, bounds: SuspicionBounds = { minMs: 4000, maxMs: 24000 }) {
  const net = new SimNetwork({ seed: 1 });
  const fired: Array<{ at: number; confirmations: number }> = [];
  const suspicion = new Suspicion({
    from: "accuser",
    k,
    bounds,
    clock: net.clock,
    timers: simTimers(net),
    onTimeout: (confirmations) => fired.push({ at: net.now, confirmations }),
  });
  return { net, fired, suspicion };
}

describe("Suspicion", () => {
  it("without confirmations fires at the maximum", () => {
    const { net, fired } = startSuspicion(2);
    net.runFor(100_000);
    assert.deepEqual(fired, [{ at: 24000, confirmations: 0 }]);
  });

  it("with k = 0 fires at the minimum", () => {
    const { net, fired } = startSuspicion(0);
    net.runFor(100_000);
    assert.deepEqual(fired, [{ at: 4000, confirmations: 0 }]);
  });

  it("a distinct confirmer rearms the timer to the shrunken total", () => {
    const { net, fired, suspicion } = startSuspicion(2);
    net.runFor(1000);
    assert.equal(suspicion.confirm("b"), true);
    net.runFor(100_000);
    assert.deepEqual(fired, [{ at: 11381, confirmations: 1 }]);
  });

  it("repeats by the accuser or by the same confirmer do not count", () => {
    const { net, fired, suspicion } = startSuspicion(2);
    assert.equal(suspicion.confirm("accuser"), false);
    assert.equal(suspicion.confirm("b"), true);
    assert.equal(suspicion.confirm("b"), false);
    assert.equal(suspicion.confirmations, 1);
    net.runFor(100_000);
    assert.equal(fired.length, 1);
    assert.equal(fired[0]?.at, 11381);
  });

  it("k confirmations reach the minimum and later ones are refused", () => {
    const { net, fired, suspicion } = startSuspicion(2);
    assert.equal(suspicion.confirm("b"), true);
    assert.equal(suspicion.confirm("c"), true);
    assert.equal(suspicion.confirm("d"), false);
    net.runFor(100_000);
    assert.deepEqual(fired, [{ at: 4000, confirmations: 2 }]);
  });

  it("a confirmation that arrives after the shrunken deadline fires at once, never below min", () => {
    const { net, fired, suspicion } = startSuspicion(2);
    net.runFor(15_000);
    suspicion.confirm("b");
    net.runFor(0);
    assert.deepEqual(fired, [{ at: 15000, confirmations: 1 }]);
  });

  it("cancel stops the timer for good", () => {
    const { net, fired, suspicion } = startSuspicion(2);
    suspicion.cancel();
    suspicion.cancel();
    assert.equal(suspicion.confirm("b"), false);
    net.runFor(100_000);
    assert.deepEqual(fired, []);
  });
});
