import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { EXAMPLE_KEYS, OPERATIONS, openApiPath } from "../../../src/api/openapi.js";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

type Document = {
  openapi: string;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  security?: unknown;
  components: { schemas: Record<string, Record<string, unknown>> };
};

describe("GET /v1/openapi.json", () => {
  const registered: Array<{ method: string; url: string }> = [];
  let node: MemoryNode;
  let app: FastifyInstance;
  let doc: Document;

  before(async () => {
    node = new MemoryNode("node-1");
    // A keyring on which the key examples apply in order: install a new key, make an installed
    // one primary, remove another installed one.
    node.useKeyring([
      randomBytes(32),
      ...[EXAMPLE_KEYS.use, EXAMPLE_KEYS.remove].map((k) => Buffer.from(k, "base64")),
    ]);
    app = buildServer({
      node,
      onRoute: ({ method, url }) => {
        for (const m of Array.isArray(method) ? method : [method]) registered.push({ method: m, url });
      },
    });
    await app.ready();
    const res = await app.inject({ method: "GET", url: "/v1/openapi.json" });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    doc = res.json() as Document;
  });

  after(async () => {
    await app.close();
  });

  test("is an OpenAPI 3.1 document with no security requirement when the agent has no token", () => {
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.security, undefined);
  });

  test("every route the server registers is in the document, and nothing else is", () => {
    assert.ok(registered.length > 10, "the hook saw the routes");
    const routeKeys = new Set<string>();
    for (const { method, url } of registered) {
      // Fastify adds a HEAD route for each GET; the GET documents both.
      if (method === "HEAD" && registered.some((r) => r.method === "GET" && r.url === url)) continue;
      routeKeys.add(`${method} ${openApiPath(url)}`);
    }
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const method of Object.keys(operations)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const missing = [...routeKeys].filter((key) => !documented.has(key));
    assert.deepEqual(missing, [], "registered but not documented");
    const stale = [...documented].filter((key) => !routeKeys.has(key));
    assert.deepEqual(stale, [], "documented but not registered");
  });

  test("the request body schemas are the validating ones: the spec refuses unknown fields and needs url", () => {
    const put = doc.paths["/v1/origins/{id}"]?.put as {
      requestBody: { content: { "application/json": { schema: Record<string, unknown> } } };
    };
    const schema = put.requestBody.content["application/json"].schema;
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.required, ["url"]);
    const properties = schema.properties as Record<string, Record<string, unknown>>;
    assert.deepEqual(properties.intervalMs, {
      default: 5000,
      type: "integer",
      minimum: 100,
      maximum: 3_600_000,
    });
    const list = doc.paths["/v1/origins"]?.get as { parameters: Array<{ name: string; in: string }> };
    assert.deepEqual(
      list.parameters.map((p) => `${p.in}:${p.name}`),
      ["query:status", "query:owner", "query:q", "query:limit", "query:cursor"],
    );
  });

  test("every documented request example validates against its schema and is accepted by the route", async () => {
    let checked = 0;
    for (const op of OPERATIONS) {
      const path = openApiPath(op.url);
      const documented = doc.paths[path]?.[op.method.toLowerCase()] as {
        requestBody?: { content: { "application/json": { examples: Record<string, { value: unknown }> } } };
      };
      const bodyExamples = Object.values(documented.requestBody?.content["application/json"].examples ?? {});
      assert.equal(bodyExamples.length, op.bodyExamples?.length ?? 0, `${op.method} ${path}`);
      const url = op.url.replace(":id", "example-origin");
      for (const { value } of bodyExamples) {
        const parsed = op.body!.safeParse(value);
        assert.ok(parsed.success, `${op.method} ${path}: ${parsed.error?.message}`);
        const res = await app.inject({ method: op.method, url, payload: value as object });
        assert.ok(res.statusCode < 300, `${op.method} ${url} answered ${res.statusCode}: ${res.body}`);
        checked++;
      }
      for (const { value } of op.queryExamples ?? []) {
        const parsed = op.query!.safeParse(value);
        assert.ok(parsed.success, `${op.method} ${path}: ${parsed.error?.message}`);
        const query = new URLSearchParams(value as Record<string, string>);
        const res = await app.inject({ method: op.method, url: `${url}?${query}` });
        assert.equal(res.statusCode, 200, `${op.method} ${url}?${query}: ${res.body}`);
        checked++;
      }
    }
    assert.ok(checked >= 5, `${checked} examples checked`);
    assert.deepEqual(
      node.joinCalls.at(-1)?.map((a) => a.port),
      [7946, 7946],
    );
    assert.equal(node.origin("db")?.url, "tcp://10.0.0.5:5432");
  });
});

describe("GET /v1/openapi.json with an API token", () => {
  let app: FastifyInstance;

  before(async () => {
    app = buildServer({ node: new MemoryNode(), apiToken: "s3cret" });
    await app.ready();
  });

  after(async () => {
    await app.close();
  });

  test("needs the token, as every /v1 route, and declares the bearer scheme", async () => {
    const refused = await app.inject({ method: "GET", url: "/v1/openapi.json" });
    assert.equal(refused.statusCode, 401);
    const res = await app.inject({
      method: "GET",
      url: "/v1/openapi.json",
      headers: { authorization: "Bearer s3cret" },
    });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as Document;
    assert.deepEqual(doc.security, [{ bearer: [] }]);
    assert.deepEqual(doc.paths["/healthz"]?.get?.security, []);
    const responses = doc.paths["/v1/self"]?.get?.responses as Record<string, unknown> | undefined;
    assert.ok(responses !== undefined && "401" in responses);
  });
});
