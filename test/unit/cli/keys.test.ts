import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { main } from "../../../src/cli/main.js";
import { MemoryNode } from "../../helpers/memory-node.js";

const K1 = randomBytes(16);
const K2 = randomBytes(16);
const b64 = (k: Uint8Array) => Buffer.from(k).toString("base64");

async function heck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: {},
    readStdin: async () => "",
  });
  return { code, stdout, stderr };
}

describe("heck keys", () => {
  let node: MemoryNode;
  let app: FastifyInstance;
  let http: string;

  beforeEach(async () => {
    node = new MemoryNode("node-1");
    node.useKeyring([K1]);
    app = buildServer({ node });
    await app.listen({ host: "127.0.0.1", port: 0 });
    http = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    await app.close();
  });

  test("install, use, remove and list rotate the key and say on how many members", async () => {
    const install = await heck(["keys", "install", b64(K2), "--http", http]);
    assert.equal(install.code, 0, install.stderr);
    assert.equal(install.stdout, "installed the key on 1 of 1 members\n");
    const list = await heck(["keys", "list", "--http", http]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^KEY\s+INSTALLED\s+PRIMARY$/m);
    assert.match(list.stdout, new RegExp(`^${b64(K1).replace(/[+/]/g, "\\$&")}\\s+1/1\\s+1/1$`, "m"));
    assert.match(list.stdout, new RegExp(`^${b64(K2).replace(/[+/]/g, "\\$&")}\\s+1/1\\s+0/1$`, "m"));
    assert.equal(
      (await heck(["keys", "use", b64(K2), "--http", http])).stdout,
      "made the key primary on 1 of 1 members\n",
    );
    assert.equal(
      (await heck(["keys", "remove", b64(K1), "--http", http])).stdout,
      "removed the key from 1 of 1 members\n",
    );
    const json = await heck(["keys", "list", "--http", http, "--json"]);
    assert.deepEqual(JSON.parse(json.stdout).keys, [{ key: b64(K2), members: 1, primary: 1 }]);
  });

  test("a refused change exits 1 with the agent's reason, and a missing key is a usage error", async () => {
    const refused = await heck(["keys", "remove", b64(K1), "--http", http]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /primary key/);
    const usage = await heck(["keys", "install", "--http", http]);
    assert.equal(usage.code, 2);
    assert.deepEqual(node.keyRing?.list().map(b64), [b64(K1)]);
  });
});
