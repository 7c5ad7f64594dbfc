import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { createMetrics, restartLoopDelay } from "../../../src/api/metrics.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Holds the event loop for `ms`. */
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {}
}

async function lagMaxMs(metrics: ReturnType<typeof createMetrics>): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith("nodejs_eventloop_lag_max_seconds "));
  assert.ok(line, "the gauge is exported");
  return 1000 * Number(line.split(" ")[1]);
}

describe("restartLoopDelay", () => {
  it("forgets the stalls before it, and counts one right after it", async () => {
    const metrics = createMetrics();
    await sleep(30);
    block(300); // a start that holds the loop
    await restartLoopDelay(metrics.registry);
    await sleep(100);
    assert.ok((await lagMaxMs(metrics)) < 250, "the stall before the restart is not counted");
    await restartLoopDelay(metrics.registry);
    block(300); // at once: the restart has waited for the histogram's first tick
    await sleep(50);
    assert.ok((await lagMaxMs(metrics)) >= 250, "a stall right after the restart is counted");
  });
});
