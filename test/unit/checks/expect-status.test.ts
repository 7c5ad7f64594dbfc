import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseExpectStatus, parseStatusItem } from "../../../src/core/checks/expect-status.js";
import { ValidationError } from "../../../src/errors.js";

describe("parseStatusItem", () => {
  const table: Array<[unknown, { low: number; high: number } | RegExp]> = [
    [200, { low: 200, high: 200 }],
    ["404", { low: 404, high: 404 }],
    ["200-399", { low: 200, high: 399 }],
    ["100-599", { low: 100, high: 599 }],
    ["500-500", { low: 500, high: 500 }],
    [99, /not a status code/],
    [600, /not a status code/],
    [200.5, /not a status code/],
    ["099", /not a status code/],
    ["600", /not a status code/],
    ["399-200", /reversed/],
    ["000-200", /within 100-599/],
    ["200-600", /within 100-599/],
    ["2xx", /neither/],
    [" 200", /neither/],
    ["200 - 399", /neither/],
    ["", /neither/],
    [true, /must be a status code/],
    [null, /must be a status code/],
  ];
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input)} → ${expected instanceof RegExp ? expected : JSON.stringify(expected)}`, () => {
      const got = parseStatusItem(input);
      if (expected instanceof RegExp) assert.match(String(got), expected);
      else assert.deepEqual(got, expected);
    });
  }
});

describe("parseExpectStatus", () => {
  it("matches the default 200-399 inclusively", () => {
    const m = parseExpectStatus(["200-399"]);
    assert.deepEqual(
      [199, 200, 301, 399, 400].map((c) => m.matches(c)),
      [false, true, true, true, false],
    );
  });

  it("combines codes and ranges, and merges them into canonical ranges", () => {
    const m = parseExpectStatus([204, "200", "201-203", "500-502", "301"]);
    assert.deepEqual(m.ranges, [
      { low: 200, high: 204 },
      { low: 301, high: 301 },
      { low: 500, high: 502 },
    ]);
    assert.ok(m.matches(202));
    assert.ok(m.matches(301));
    assert.ok(!m.matches(300));
    assert.ok(m.matches(502));
  });

  it("never matches a non-status number", () => {
    const m = parseExpectStatus(["100-599"]);
    for (const c of [-1, 0, 99, 600, 1e9, 200.5, Number.NaN]) assert.equal(m.matches(c), false);
  });

  it("refuses an empty list and a bad item with field expectStatus", () => {
    assert.throws(() => parseExpectStatus([]), ValidationError);
    assert.throws(
      () => parseExpectStatus([200, "abc"]),
      (err: unknown) =>
        err instanceof ValidationError && err.field === "expectStatus" && /\[1\]/.test(err.message),
    );
  });
});
