import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toHealthView } from "../../../src/agent/node-api.js";
import { type OriginsQuery, pageOfOrigins } from "../../../src/agent/origins-page.js";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import type { HealthStatus } from "../../../src/core/state/types.js";

const spec = parseOriginSpec({ url: "http://127.0.0.1:9/" });
const ids = Array.from({ length: 50 }, (_, i) => `o-${String(i).padStart(2, "0")}`);
/** Every tenth origin is unhealthy; owners alternate. */
const statusOf = (id: string): HealthStatus => (id.endsWith("7") ? "unhealthy" : "healthy");
const ownerOf = (id: string) => (Number(id.slice(2)) % 2 === 0 ? "even" : "odd");

function counted() {
  const calls = { view: 0, summary: 0 };
  const view = (id: string) => {
    calls.view++;
    return { ...spec, id, owner: ownerOf(id), health: { ...toHealthView(undefined), status: statusOf(id) } };
  };
  const summary = (id: string) => {
    calls.summary++;
    return { owner: ownerOf(id), status: statusOf(id) };
  };
  return { calls, view, summary };
}

/** Follows the cursors to the end; returns every id and the number of pages. */
function all(query: Omit<OriginsQuery, "cursor">, maxExamined: number) {
  const { view, summary } = counted();
  const out: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = pageOfOrigins(ids, cursor ? { ...query, cursor } : query, view, summary, maxExamined);
    out.push(...page.origins.map((o) => o.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  return { out, pages };
}

describe("pageOfOrigins", () => {
  test("a filter builds views only for the origins that pass it", () => {
    const { calls, view, summary } = counted();
    const page = pageOfOrigins(ids, { limit: 100, status: "unhealthy" }, view, summary);
    assert.deepEqual(
      page.origins.map((o) => o.id),
      ["o-07", "o-17", "o-27", "o-37", "o-47"],
    );
    assert.equal(calls.summary, 50);
    assert.equal(calls.view, 5);
  });

  test("a filtered page stops after maxExamined origins, short or empty, and the cursor resumes", () => {
    const { view, summary } = counted();
    const first = pageOfOrigins(ids, { limit: 100, status: "unhealthy" }, view, summary, 5);
    assert.deepEqual(first.origins, []);
    assert.notEqual(first.nextCursor, null);
    const second = pageOfOrigins(
      ids,
      { limit: 100, status: "unhealthy", cursor: first.nextCursor! },
      view,
      summary,
      5,
    );
    assert.deepEqual(
      second.origins.map((o) => o.id),
      ["o-07"],
    );
    const { out, pages } = all({ limit: 100, status: "unhealthy", owner: "odd" }, 5);
    assert.deepEqual(out, ["o-07", "o-17", "o-27", "o-37", "o-47"]);
    assert.equal(pages, 10);
  });

  test("ids the search skips do not count against the budget", () => {
    // Five ids match: a budget of six covers them in one page though fifty ids are read.
    const { out, pages } = all({ limit: 100, idContains: "7" }, 6);
    assert.deepEqual(out, ["o-07", "o-17", "o-27", "o-37", "o-47"]);
    assert.equal(pages, 1);
  });
});
