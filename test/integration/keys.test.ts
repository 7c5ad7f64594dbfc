import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { KeyReport } from "../../src/agent/keys.js";
import {
  type AgentProcess,
  api,
  type CliResult,
  isRunning,
  runHeck,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";

/**
 * Issue 7, item 2: the gossip key rotated in a running heck cluster, without a restart: install
 * the new key, use it, remove the old one. The members keep talking throughout, a node that has
 * only the old key is shut out afterwards, and a restarted node keeps the rotated keys.
 */

const OLD = randomBytes(16).toString("base64");
const NEW = randomBytes(32).toString("base64");

/** `heck keys ...` through bin/heck.js, as an operator runs it. */
function heckKeys(agent: AgentProcess, args: string[]): Promise<CliResult> {
  return runHeck(["keys", ...args, "--http", agent.http]);
}

async function statuses(agent: AgentProcess): Promise<Map<string, string>> {
  const res = await api<{ members: Array<{ name: string; status: string }> }>(agent, "GET", "/v1/members");
  return new Map(res.body.members.map((m) => [m.name, m.status]));
}

describe("heck keys rotates the gossip key of a running cluster", { timeout: 180_000 }, () => {
  const dir = tempDir("heck-keys-");
  const agents: AgentProcess[] = [];
  const names = ["k-1", "k-2", "k-3"];
  const start = (name: string, key: string, join: string[] = []) =>
    startAgent({ name, dataDir: `${dir.path}/${name}`, join, extra: ["--encrypt", key] });

  before(async () => {
    agents.push(await start("k-1", OLD));
    agents.push(await start("k-2", OLD, [agents[0]!.gossip]));
    agents.push(await start("k-3", OLD, [agents[0]!.gossip]));
    await waitFor(
      "three alive members on every agent",
      async () => {
        for (const a of agents) {
          const view = await statuses(a);
          if (!names.every((n) => view.get(n) === "alive")) return false;
        }
        return true;
      },
      30_000,
    );
  });

  after(async () => {
    await Promise.all(agents.map((a) => stopAgent(a, "SIGKILL")));
    dir.remove();
  });

  test("install, use and remove: every member answers each step, and ends with the new key alone", async () => {
    const installed = await api<KeyReport>(agents[0]!, "POST", "/v1/keys/install", { key: NEW });
    assert.equal(installed.status, 200);
    assert.equal(installed.body.ok, true, JSON.stringify(installed.body));
    assert.equal(installed.body.responses, 3);

    const listed = await heckKeys(agents[1]!, ["list", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).keys, [
      { key: OLD, members: 3, primary: 3 },
      { key: NEW, members: 3, primary: 0 },
    ]);

    const used = await heckKeys(agents[2]!, ["use", NEW]);
    assert.equal(used.code, 0, used.stderr);
    assert.equal(used.stdout, "made the key primary on 3 of 3 members\n");

    const removed = await api<KeyReport>(agents[1]!, "POST", "/v1/keys/remove", { key: OLD });
    assert.equal(removed.body.ok, true, JSON.stringify(removed.body));

    const after = await api<KeyReport>(agents[0]!, "GET", "/v1/keys");
    assert.deepEqual(after.body.keys, [{ key: NEW, members: 3, primary: 3 }]);
    // Each member saved its keyring in its data dir.
    for (const name of names) {
      assert.deepEqual(JSON.parse(readFileSync(`${dir.path}/${name}/keyring.json`, "utf8")), [NEW]);
    }
  });

  test("bad input is refused with 400 and changes nothing", async () => {
    const primary = await api<{ error: { message: string } }>(agents[0]!, "POST", "/v1/keys/remove", {
      key: NEW,
    });
    assert.equal(primary.status, 400);
    assert.match(primary.body.error.message, /primary key/);
    const short = await api(agents[0]!, "POST", "/v1/keys/install", {
      key: randomBytes(8).toString("base64"),
    });
    assert.equal(short.status, 400);
    const bad = await heckKeys(agents[0]!, ["install", "%%%"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /base64/);
    const keys = await api<KeyReport>(agents[2]!, "GET", "/v1/keys");
    assert.deepEqual(keys.body.keys, [{ key: NEW, members: 3, primary: 3 }]);
  });

  test("the members still talk under the new key: an origin written on one reaches the others", async () => {
    assert.equal(
      (await api(agents[0]!, "PUT", "/v1/origins/after-rotation", { url: "http://127.0.0.1:9/" })).status,
      201,
    );
    await waitFor(
      "the origin on k-3",
      async () => (await api(agents[2]!, "GET", "/v1/origins/after-rotation")).status === 200,
      15_000,
    );
    for (const a of agents) {
      const view = await statuses(a);
      assert.ok(
        names.every((n) => view.get(n) === "alive"),
        `${a.name} sees ${JSON.stringify([...view])}`,
      );
    }
  });

  test("a node with only the old key is shut out; one with the new key gets in", async () => {
    const stale = await start("k-stale", OLD);
    agents.push(stale);
    const refused = await api<{ joined: number }>(stale, "POST", "/v1/join", {
      addresses: [agents[0]!.gossip],
    });
    assert.deepEqual(refused.body, { joined: 0 });
    assert.deepEqual([...(await statuses(stale)).keys()], ["k-stale"]);
    await stopAgent(stale, "SIGKILL");

    const fresh = await start("k-fresh", NEW);
    agents.push(fresh);
    const joined = await api<{ joined: number }>(fresh, "POST", "/v1/join", {
      addresses: [agents[0]!.gossip],
    });
    assert.deepEqual(joined.body, { joined: 1 });
    await stopAgent(fresh, "SIGTERM");
  });

  test("a restarted member keeps the rotated keys, though its command line still names the old key", async () => {
    const k2 = agents[1]!;
    assert.equal(await stopAgent(k2, "SIGTERM"), 0);
    const back = await start("k-2", OLD);
    agents[1] = back;
    const joined = await api<{ joined: number }>(back, "POST", "/v1/join", {
      addresses: [agents[0]!.gossip],
    });
    assert.deepEqual(joined.body, { joined: 1 });
    const keys = await api<KeyReport>(back, "GET", "/v1/keys");
    assert.equal(keys.body.ok, true, JSON.stringify(keys.body));
    assert.deepEqual(keys.body.keys, [{ key: NEW, members: 3, primary: 3 }]);
    assert.ok(agents.filter(isRunning).length >= 3);
  });
});
