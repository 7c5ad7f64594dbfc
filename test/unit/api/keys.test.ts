import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

/** The keyring routes over a one-member cluster: the real key manager and keyring behind them. */

const K1 = randomBytes(16);
const K2 = randomBytes(32);
const b64 = (k: Uint8Array) => Buffer.from(k).toString("base64");

let node: MemoryNode;
let app: FastifyInstance;

beforeEach(() => {
  node = new MemoryNode("node-1");
  node.useKeyring([K1]);
  app = buildServer({ node });
});

afterEach(async () => {
  await app.close();
});

const post = (op: string, payload: unknown) =>
  app.inject({ method: "POST", url: `/v1/keys/${op}`, payload: payload as object });

describe("GET /v1/keys and POST /v1/keys/{install,use,remove}", () => {
  test("a rotation: install, use, remove, each with the members' report", async () => {
    const installed = await post("install", { key: b64(K2) });
    assert.equal(installed.statusCode, 200);
    assert.deepEqual(installed.json(), {
      operation: "install",
      ok: true,
      members: 1,
      responses: 1,
      failures: [],
      messages: [],
      keys: [],
    });
    const listed = await app.inject({ method: "GET", url: "/v1/keys" });
    assert.equal(listed.statusCode, 200);
    assert.deepEqual(listed.json().keys, [
      { key: b64(K1), members: 1, primary: 1 },
      { key: b64(K2), members: 1, primary: 0 },
    ]);
    assert.equal((await post("use", { key: b64(K2) })).json().ok, true);
    assert.equal((await post("remove", { key: b64(K1) })).json().ok, true);
    assert.deepEqual(node.keyRing?.list().map(b64), [b64(K2)]);
    assert.deepEqual(
      node.savedKeyrings.map((ks) => ks.map(b64)),
      [[b64(K1), b64(K2)], [b64(K2), b64(K1)], [b64(K2)]],
    );
  });

  const refusals: Array<[string, string, unknown, RegExp, string]> = [
    ["bad base64", "install", { key: "not*base64" }, /base64/, "invalid_input"],
    [
      "a key of the wrong length",
      "install",
      { key: b64(randomBytes(20)) },
      /16, 24 or 32 bytes/,
      "invalid_input",
    ],
    ["a key that is not a string", "install", { key: 16 }, /base64 string/, "invalid_input"],
    ["no key", "use", {}, /base64 string/, "invalid_input"],
    ["an unknown field", "install", { key: b64(K2), primary: true }, /unknown field/, "unknown_field"],
    ["no body", "remove", undefined, /JSON object/, "invalid_input"],
    ["use of a key not installed", "use", { key: b64(K2) }, /not installed/, "invalid_input"],
    ["removal of the primary key", "remove", { key: b64(K1) }, /primary key/, "invalid_input"],
  ];
  for (const [what, op, body, message, code] of refusals) {
    test(`${what} gets a 400 that says why, and changes nothing`, async () => {
      const res = await post(op, body);
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().error.code, code);
      assert.match(res.json().error.message, message);
      assert.deepEqual(node.keyRing?.list().map(b64), [b64(K1)]);
      assert.deepEqual(node.savedKeyrings, []);
    });
  }

  test("a node without gossip encryption answers 409 keyring_unavailable", async () => {
    const plain = new MemoryNode("plain");
    const plainApp = buildServer({ node: plain });
    try {
      const list = await plainApp.inject({ method: "GET", url: "/v1/keys" });
      assert.equal(list.statusCode, 409);
      assert.equal(list.json().error.code, "keyring_unavailable");
      const install = await plainApp.inject({
        method: "POST",
        url: "/v1/keys/install",
        payload: { key: b64(K2) },
      });
      assert.equal(install.statusCode, 409);
    } finally {
      await plainApp.close();
    }
  });

  test("with --api-token the routes need the token", async () => {
    const guarded = buildServer({ node, apiToken: "s3cret" });
    try {
      assert.equal((await guarded.inject({ method: "GET", url: "/v1/keys" })).statusCode, 401);
      const res = await guarded.inject({
        method: "POST",
        url: "/v1/keys/install",
        payload: { key: b64(K2) },
        headers: { authorization: "Bearer s3cret" },
      });
      assert.equal(res.statusCode, 200);
    } finally {
      await guarded.close();
    }
  });
});
