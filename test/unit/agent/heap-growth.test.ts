import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { HeapGrowth } from "../../../src/agent/heap-growth.js";

describe("HeapGrowth", () => {
  test("caps the growth while the node is settled and leaves it to V8 while it takes a bootstrap in", () => {
    const growth = new HeapGrowth(100);
    growth.update(false);
    assert.equal(growth.applied, 100);
    growth.update(true);
    assert.equal(growth.applied, 0);
    growth.update(false);
    assert.equal(growth.applied, 100);
  });

  test("0 leaves the sizing to V8 at all times", () => {
    const growth = new HeapGrowth(0);
    for (const growing of [false, true, false]) {
      growth.update(growing);
      assert.equal(growth.applied, 0);
    }
  });

  test("keeps the young generation at the size it has while capped", () => {
    // In a process of its own: the setting is process-wide. The allocation keeps a third of what
    // it makes alive for a while, which makes V8 grow the young generation to its most.
    const youngSize = (percent: number, growing = false) => {
      const script = `
        import { getHeapSpaceStatistics } from "node:v8";
        import { HeapGrowth } from ${JSON.stringify(fileURLToPath(new URL("../../../src/agent/heap-growth.ts", import.meta.url)))};
        const growth = new HeapGrowth(${percent});
        growth.update(false);
        growth.update(${growing});
        let keep = [];
        for (let i = 0; i < 3e6; i++) {
          const o = { a: i, b: String(i) };
          if (i % 3 === 0) keep.push(o);
          if (keep.length > 200000) keep = [];
        }
        console.log(getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);`;
      const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        encoding: "utf8",
      });
      assert.equal(child.status, 0, child.stderr);
      return Number(child.stdout.trim());
    };
    // Capped, it keeps the size it had when the cap came: 2 to 4 MB after loading the modules.
    assert.ok(youngSize(50) <= 4 * 2 ** 20, "capped");
    assert.ok(youngSize(0) >= 16 * 2 ** 20, "left to V8");
    assert.ok(youngSize(50, true) >= 16 * 2 ** 20, "left to V8 while the node catches up");
  });
});
