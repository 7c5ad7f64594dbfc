import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KeyReport } from "../../src/agent/keys.js";
import { type AgentProcess, api, startAgent, stopAgent, tempDir, waitFor } from "../helpers/cluster.js";
import { requireProgram } from "../helpers/require-program.js";
import { type SerfAgent, serfKeys, serfMembers, startSerf, stopSerf } from "../helpers/serf.js";

/**
 * Issue 7, item 1: key rotation across a cluster of heck agents and HashiCorp Serf agents
 * (Debian's `serf` 0.9.4). `serf keys` reaches the heck agents, which answer Serf's key queries,
 * and `heck keys` reaches the Serf agents, which answer heck's; `serf keys -list` shows the
 * result on every member.
 */

const skip = requireProgram("serf", "serf");

const K1 = randomBytes(16).toString("base64");
const K2 = randomBytes(16).toString("base64");
const K3 = randomBytes(32).toString("base64");

describe("key rotation across heck and Serf", { skip, timeout: 180_000 }, () => {
  const dir = tempDir("heck-serf-keys-");
  const heck: AgentProcess[] = [];
  const serf: SerfAgent[] = [];
  const names = ["heck-1", "heck-2", "serf-1", "serf-2"];

  before(async () => {
    serf.push(await startSerf({ name: "serf-1", encrypt: K1 }));
    heck.push(
      await startAgent({
        name: "heck-1",
        dataDir: `${dir.path}/heck-1`,
        join: [serf[0]!.gossip],
        extra: ["--encrypt", K1],
      }),
    );
    heck.push(
      await startAgent({
        name: "heck-2",
        dataDir: `${dir.path}/heck-2`,
        join: [heck[0]!.gossip],
        extra: ["--encrypt", K1],
      }),
    );
    serf.push(await startSerf({ name: "serf-2", encrypt: K1, join: [heck[1]!.gossip] }));
    await waitFor(
      "four alive members on every agent",
      async () => {
        for (const s of serf) {
          const view = await serfMembers(s);
          if (!names.every((n) => view.get(n) === "alive")) return false;
        }
        for (const h of heck) {
          const res = await api<{ members: Array<{ name: string; status: string }> }>(
            h,
            "GET",
            "/v1/members",
          );
          const view = new Map(res.body.members.map((m) => [m.name, m.status]));
          if (!names.every((n) => view.get(n) === "alive")) return false;
        }
        return true;
      },
      // Serf gossips a join only twice under its local profile: a member that misses both
      // learns of the newcomer at the next push-pull (15 s).
      40_000,
    );
  });

  after(async () => {
    await Promise.all([...heck.map((a) => stopAgent(a, "SIGKILL")), ...serf.map((s) => stopSerf(s))]);
    dir.remove();
  });

  test("serf keys -install, -use, -remove rotate the heck agents too", async () => {
    // Serf's key manager fails unless every member answers: the heck agents' answers are needed.
    const install = await serfKeys(serf[0]!, ["-install", K2]);
    assert.equal(install.code, 0, install.stdout + install.stderr);
    const onHeck = await api<KeyReport>(heck[1]!, "GET", "/v1/keys");
    assert.deepEqual(onHeck.body.keys, [
      { key: K1, members: 4, primary: 4 },
      { key: K2, members: 4, primary: 0 },
    ]);
    const use = await serfKeys(serf[1]!, ["-use", K2]);
    assert.equal(use.code, 0, use.stdout + use.stderr);
    const remove = await serfKeys(serf[0]!, ["-remove", K1]);
    assert.equal(remove.code, 0, remove.stdout + remove.stderr);
    const list = await serfKeys(serf[1]!, ["-list"]);
    assert.equal(list.code, 0, list.stdout + list.stderr);
    assert.deepEqual([...list.keys], [[K2, "[4/4]"]]);
    const heckView = await api<KeyReport>(heck[0]!, "GET", "/v1/keys");
    assert.deepEqual(heckView.body.keys, [{ key: K2, members: 4, primary: 4 }]);
  });

  test("serf keys -remove of the primary key fails on every member, heck agents included", async () => {
    const remove = await serfKeys(serf[0]!, ["-remove", K2]);
    assert.equal(remove.code, 1);
    for (const name of names) {
      assert.match(
        remove.stderr + remove.stdout,
        new RegExp(`${name}\\s+Removing the primary key is not allowed`),
      );
    }
  });

  test("heck keys install, use, remove rotate the Serf agents too", async () => {
    for (const [op, key] of [
      ["install", K3],
      ["use", K3],
      ["remove", K2],
    ] as const) {
      const res = await api<KeyReport>(heck[0]!, "POST", `/v1/keys/${op}`, { key });
      assert.equal(res.status, 200);
      assert.equal(res.body.ok, true, `${op}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.responses, 4, op);
    }
    for (const s of serf) {
      const list = await serfKeys(s, ["-list"]);
      assert.equal(list.code, 0, list.stdout + list.stderr);
      assert.deepEqual([...list.keys], [[K3, "[4/4]"]], s.name);
    }
  });

  test("after both rotations every agent still lists all four alive", async () => {
    await waitFor(
      "four alive members on every Serf agent",
      async () => {
        for (const s of serf) {
          const view = await serfMembers(s);
          if (!names.every((n) => view.get(n) === "alive")) return false;
        }
        return true;
      },
      10_000,
    );
    for (const h of heck) {
      const res = await api<{ members: Array<{ name: string; status: string }> }>(h, "GET", "/v1/members");
      for (const m of res.body.members)
        assert.equal(m.status, "alive", `${h.name} sees ${m.name} ${m.status}`);
    }
  });
});
