import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { TextColumn } from "../../../src/core/state/text-column.js";

const latin1 = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));

describe("TextColumn", () => {
  it("holds what was set at each slot through any sets and clears, compactions included", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.nat(40),
            fc.option(
              fc.oneof(
                fc.string({ maxLength: 300 }),
                fc.string({ minLength: 200, maxLength: 400 }),
                fc.string({ unit: latin1, maxLength: 40 }),
                fc.string({ unit: "binary", maxLength: 5 }),
              ),
            ),
          ),
          { minLength: 100, maxLength: 400 },
        ),
        (ops) => {
          const column = new TextColumn();
          column.grow(41);
          const model = new Map<number, string>();
          for (const [slot, text] of ops) {
            if (text === null) {
              column.clear(slot);
              model.delete(slot);
            } else {
              column.set(slot, text);
              model.set(slot, text);
            }
          }
          for (let slot = 0; slot <= 40; slot++) {
            assert.equal(column.get(slot), model.get(slot));
            const text = model.get(slot);
            if (text !== undefined) {
              assert.ok(column.equals(slot, text));
              assert.ok(!column.equals(slot, `${text}x`));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reuses the room of text it no longer holds", () => {
    const column = new TextColumn();
    column.grow(100);
    const url = (i: number, round: number) => `http://127.0.0.1:9/origin-${i}-round-${round}`;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 100; i++) {
        column.set(i, url(i, round));
        // Every slot reads back after each set, through the compactions that sets make.
        for (let j = 0; j < 100; j++)
          assert.equal(column.get(j), j <= i || round > 0 ? url(j, j <= i ? round : round - 1) : undefined);
      }
    }
    // 100 URLs of under 50 bytes: the arena stays within a few times that, not 200 rounds of it.
    assert.ok(column.arenaBytes < 4 * 100 * 50, `arena of ${column.arenaBytes} bytes`);
  });
});
