import * as assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

let node: MemoryNode;
let app: FastifyInstance;

beforeEach(() => {
  node = new MemoryNode("node-1");
  app = buildServer({ node });
});

afterEach(async () => {
  await app.close();
});

const spec = { url: "http://127.0.0.1:9/ok" };

describe("PUT /v1/origins/:id", () => {
  test("creates with 201 and the view, defaults filled in", async () => {
    const res = await app.inject({ method: "PUT", url: "/v1/origins/www.example", payload: spec });
    assert.equal(res.statusCode, 201);
    assert.equal(res.headers.location, "/v1/origins/www.example");
    const view = res.json();
    assert.equal(view.id, "www.example");
    assert.equal(view.url, spec.url);
    assert.equal(view.method, "GET");
    assert.equal(view.intervalMs, 5000);
    assert.equal(view.timeoutMs, 2000);
    assert.deepEqual(view.expectStatus, ["200-399"]);
    assert.equal(view.owner, "node-1");
    assert.equal(view.health.status, "unknown");
    assert.equal(view.health.checkedAt, null);
  });

  test("replaces with 200", async () => {
    await app.inject({ method: "PUT", url: "/v1/origins/a", payload: spec });
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      payload: { ...spec, intervalMs: 1000 },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().intervalMs, 1000);
    assert.equal(res.json().timeoutMs, 1000);
  });

  test("an unknown field is refused with 400 naming it", async () => {
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      payload: { ...spec, intervalMS: 1000 },
    });
    assert.equal(res.statusCode, 400);
    const { error } = res.json();
    assert.equal(error.code, "unknown_field");
    assert.equal(error.field, "intervalMS");
    assert.match(error.message, /intervalMS/);
    assert.equal(node.origin("a"), undefined);
  });

  test("an out-of-range value is refused with 400 naming the field", async () => {
    const res = await app.inject({ method: "PUT", url: "/v1/origins/a", payload: { ...spec, timeoutMs: 5 } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, "invalid_input");
    assert.equal(res.json().error.field, "timeoutMs");
  });

  test("a missing body is refused as an invalid spec", async () => {
    const res = await app.inject({ method: "PUT", url: "/v1/origins/a" });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, "invalid_input");
  });

  test("an invalid id is refused with 400, a 128-character id is accepted", async () => {
    const bad = await app.inject({ method: "PUT", url: "/v1/origins/a%20b", payload: spec });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, "id");
    const long = "x".repeat(128);
    assert.equal(
      (await app.inject({ method: "PUT", url: `/v1/origins/${long}`, payload: spec })).statusCode,
      201,
    );
    const tooLong = await app.inject({ method: "PUT", url: `/v1/origins/${long}y`, payload: spec });
    assert.equal(tooLong.statusCode, 400);
  });

  test("ids with colons route as one path segment", async () => {
    const res = await app.inject({ method: "PUT", url: "/v1/origins/svc:web-1", payload: spec });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().id, "svc:web-1");
  });

  test("the body may repeat the path's id, but not another one", async () => {
    const same = await app.inject({ method: "PUT", url: "/v1/origins/a", payload: { id: "a", ...spec } });
    assert.equal(same.statusCode, 201);
    const other = await app.inject({ method: "PUT", url: "/v1/origins/a", payload: { id: "b", ...spec } });
    assert.equal(other.statusCode, 400);
    assert.equal(other.json().error.field, "id");
  });
});

describe("GET and DELETE /v1/origins/:id", () => {
  test("GET answers the view, or 404 with the error JSON", async () => {
    node.addOrigin("a", spec);
    const found = await app.inject({ method: "GET", url: "/v1/origins/a" });
    assert.equal(found.statusCode, 200);
    assert.equal(found.json().id, "a");
    const missing = await app.inject({ method: "GET", url: "/v1/origins/nope" });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, "not_found");
    assert.match(missing.json().error.message, /nope/);
  });

  test("DELETE answers 204 then 404", async () => {
    node.addOrigin("a", spec);
    const first = await app.inject({ method: "DELETE", url: "/v1/origins/a" });
    assert.equal(first.statusCode, 204);
    assert.equal(first.body, "");
    assert.equal(node.origin("a"), undefined);
    const second = await app.inject({ method: "DELETE", url: "/v1/origins/a" });
    assert.equal(second.statusCode, 404);
    assert.equal(second.json().error.code, "not_found");
  });
});

describe("GET /v1/origins", () => {
  beforeEach(() => {
    node.addOrigin("c", spec, "node-2");
    node.addOrigin("a", spec);
    node.addOrigin("b", spec);
    node.setHealth("a", "healthy");
    node.setHealth("b", "unhealthy");
  });

  test("lists every origin, sorted by id", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/origins" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      res.json().origins.map((o: { id: string }) => o.id),
      ["a", "b", "c"],
    );
  });

  test("filters by status and by owner, and both", async () => {
    const ids = async (query: string) =>
      (await app.inject({ method: "GET", url: `/v1/origins?${query}` }))
        .json()
        .origins.map((o: { id: string }) => o.id);
    assert.deepEqual(await ids("status=healthy"), ["a"]);
    assert.deepEqual(await ids("status=unhealthy"), ["b"]);
    assert.deepEqual(await ids("status=unknown"), ["c"]);
    assert.deepEqual(await ids("owner=node-2"), ["c"]);
    assert.deepEqual(await ids("owner=node-1&status=unhealthy"), ["b"]);
    assert.deepEqual(await ids("owner=nobody"), []);
  });

  test("pages follow the cursor to the end, filters included, and the last page has no cursor", async () => {
    for (let i = 0; i < 25; i++) node.addOrigin(`p${String(i).padStart(2, "0")}`, spec);
    const walk = async (query: string) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/v1/origins?limit=10&${query}${cursor ? `&cursor=${cursor}` : ""}`;
        const body = (await app.inject({ method: "GET", url })).json();
        assert.ok(body.origins.length <= 10);
        seen.push(...body.origins.map((o: { id: string }) => o.id));
        cursor = body.nextCursor;
        pages++;
      } while (cursor);
      return { seen, pages };
    };
    const all = await walk("");
    assert.equal(all.seen.length, 28);
    assert.deepEqual(all.seen, [...all.seen].sort());
    assert.equal(all.pages, 3);
    assert.deepEqual((await walk("status=healthy")).seen, ["a"]);
    assert.equal((await walk("owner=node-1")).seen.length, 27);
  });

  test("the default page holds 1000 origins", async () => {
    for (let i = 0; i < 1005; i++) node.addOrigin(`q${i}`, spec);
    const body = (await app.inject({ method: "GET", url: "/v1/origins" })).json();
    assert.equal(body.origins.length, 1000);
    assert.equal(typeof body.nextCursor, "string");
  });

  test("a bad limit or a forged cursor is a 400 naming the parameter", async () => {
    for (const limit of ["0", "10001", "2.5", "ten"]) {
      const res = await app.inject({ method: "GET", url: `/v1/origins?limit=${limit}` });
      assert.equal(res.statusCode, 400, limit);
      assert.equal(res.json().error.field, "limit");
    }
    const res = await app.inject({ method: "GET", url: "/v1/origins?cursor=%%%" });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.field, "cursor");
  });

  test("an unknown status, an empty value or an unknown parameter is a 400", async () => {
    const badStatus = await app.inject({ method: "GET", url: "/v1/origins?status=green" });
    assert.equal(badStatus.statusCode, 400);
    assert.equal(badStatus.json().error.field, "status");
    assert.equal((await app.inject({ method: "GET", url: "/v1/origins?owner=" })).statusCode, 400);
    const typo = await app.inject({ method: "GET", url: "/v1/origins?stauts=healthy" });
    assert.equal(typo.statusCode, 400);
    assert.equal(typo.json().error.code, "unknown_field");
  });
});

describe("POST /v1/origins (batch)", () => {
  test("upserts every item and answers the count", async () => {
    const origins = Array.from({ length: 3 }, (_, i) => ({ id: `o${i}`, ...spec }));
    const res = await app.inject({ method: "POST", url: "/v1/origins", payload: { origins } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { upserted: 3 });
    assert.equal(node.origins().length, 3);
  });

  test("one invalid item stores nothing, and every bad item is named by index and field", async () => {
    const origins = [
      { id: "ok-1", ...spec },
      { id: "bad-1", ...spec, intervalMS: 1000 },
      { id: "ok-2", ...spec },
      { id: "bad 2", ...spec },
      { id: "bad-3", url: "ftp://x" },
      { id: "ok-1", ...spec },
    ];
    const res = await app.inject({ method: "POST", url: "/v1/origins", payload: { origins } });
    assert.equal(res.statusCode, 400);
    const { error } = res.json();
    assert.equal(error.code, "unknown_field");
    assert.equal(error.field, "origins[1].intervalMS");
    assert.match(error.message, /origins\[1\]/);
    assert.match(error.message, /nothing was stored/);
    assert.deepEqual(
      error.details.map((d: { index: number; field: string }) => [d.index, d.field]),
      [
        [1, "origins[1].intervalMS"],
        [3, "origins[3].id"],
        [4, "origins[4].url"],
        [5, "origins[5].id"],
      ],
    );
    assert.equal(node.origins().length, 0);
    assert.equal(node.putOriginsCalls, 0);
  });

  test("accepts 10,000 origins and refuses 10,001", async () => {
    const origins = Array.from({ length: 10_000 }, (_, i) => ({ id: `o${i}`, ...spec }));
    const ok = await app.inject({ method: "POST", url: "/v1/origins", payload: { origins } });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { upserted: 10_000 });
    origins.push({ id: "one-too-many", ...spec });
    const refused = await app.inject({ method: "POST", url: "/v1/origins", payload: { origins } });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().error.field, "origins");
  });

  test("the envelope must be an object with an origins array and nothing else", async () => {
    const notArray = await app.inject({ method: "POST", url: "/v1/origins", payload: { origins: {} } });
    assert.equal(notArray.statusCode, 400);
    assert.equal(notArray.json().error.field, "origins");
    const extra = await app.inject({
      method: "POST",
      url: "/v1/origins",
      payload: { origins: [], dryRun: true },
    });
    assert.equal(extra.statusCode, 400);
    assert.equal(extra.json().error.code, "unknown_field");
    const array = await app.inject({ method: "POST", url: "/v1/origins", payload: [] });
    assert.equal(array.statusCode, 400);
  });
});

describe("origin limits (issue 8)", () => {
  test("--max-origins: a new origin beyond the cap is refused with 409; replacing one is not", async () => {
    const capped = buildServer({ node, maxOrigins: 2 });
    try {
      for (const id of ["a", "b"]) {
        assert.equal(
          (await capped.inject({ method: "PUT", url: `/v1/origins/${id}`, payload: spec })).statusCode,
          201,
        );
      }
      const third = await capped.inject({ method: "PUT", url: "/v1/origins/c", payload: spec });
      assert.equal(third.statusCode, 409);
      assert.equal(third.json().error.code, "origin_limit_reached");
      assert.match(third.json().error.message, /at most 2/);
      const replace = await capped.inject({
        method: "PUT",
        url: "/v1/origins/a",
        payload: { ...spec, intervalMs: 1000 },
      });
      assert.equal(replace.statusCode, 200);
      const batch = await capped.inject({
        method: "POST",
        url: "/v1/origins",
        payload: {
          origins: [
            { id: "a", ...spec },
            { id: "d", ...spec },
          ],
        },
      });
      assert.equal(batch.statusCode, 409);
      assert.equal(node.origin("d"), undefined, "all or nothing");
      const replaceAll = await capped.inject({
        method: "POST",
        url: "/v1/origins",
        payload: {
          origins: [
            { id: "a", ...spec },
            { id: "b", ...spec },
          ],
        },
      });
      assert.equal(replaceAll.statusCode, 200);
    } finally {
      await capped.close();
    }
  });

  test("--deny-private-targets: literals, localhost and names resolving to private addresses are refused", async () => {
    const resolved: Record<string, string[]> = {
      "public.test": ["93.184.216.34"],
      "internal.test": ["93.184.216.34", "10.0.0.7"],
    };
    const guarded = buildServer({
      node,
      denyPrivateTargets: true,
      resolveHost: async (host) => resolved[host] ?? [],
    });
    try {
      const cases: Array<[string, RegExp]> = [
        ["http://127.0.0.1:8080/", /loopback/],
        ["http://169.254.169.254/latest/meta-data/", /link-local/],
        ["https://[fd00::1]/", /unique-local/],
        ["http://localhost:9000/", /loopback/],
        ["tcp://192.168.1.10:22", /private/],
        ["http://internal.test/", /internal\.test \(10\.0\.0\.7\) is private/],
      ];
      for (const [url, reason] of cases) {
        const res = await guarded.inject({ method: "PUT", url: "/v1/origins/x", payload: { url } });
        assert.equal(res.statusCode, 400, url);
        assert.equal(res.json().error.code, "target_denied", url);
        assert.equal(res.json().error.field, "url", url);
        assert.match(res.json().error.message, reason, url);
      }
      const ok = await guarded.inject({
        method: "PUT",
        url: "/v1/origins/x",
        payload: { url: "http://public.test/" },
      });
      assert.equal(ok.statusCode, 201);
      const batch = await guarded.inject({
        method: "POST",
        url: "/v1/origins",
        payload: {
          origins: [
            { id: "p", url: "http://public.test/" },
            { id: "q", url: "http://10.1.1.1/" },
          ],
        },
      });
      assert.equal(batch.statusCode, 400);
      assert.equal(batch.json().error.field, "origins[1].url");
      assert.equal(node.origin("p"), undefined);
    } finally {
      await guarded.close();
    }
  });

  test("without the flag, private targets are accepted", async () => {
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/x",
      payload: { url: "http://10.0.0.1/" },
    });
    assert.equal(res.statusCode, 201);
  });
});
