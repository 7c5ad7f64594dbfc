import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { type AgentProcess, api, startAgent, stopAgent, tempDir, waitFor } from "../helpers/cluster.js";

/** Gossip encryption and the API token on real agents. */

const memberNames = async (agent: AgentProcess, token?: string): Promise<string[]> => {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await api<{ members: Array<{ name: string; status: string }> }>(
    agent,
    "GET",
    "/v1/members",
    undefined,
    headers,
  );
  return res.body.members
    .filter((m) => m.status === "alive")
    .map((m) => m.name)
    .sort();
};

/** heck_malformed_packets_total from an agent's /metrics (refreshed by the agent every second). */
const malformedCount = async (agent: AgentProcess): Promise<number> => {
  const text = await (await fetch(`http://${agent.http}/metrics`)).text();
  const line = /^heck_malformed_packets_total (\S+)$/m.exec(text);
  if (!line) throw new Error("heck_malformed_packets_total missing from /metrics");
  return Number(line[1]);
};

describe("security on real agents", { timeout: 60_000 }, () => {
  const dir = tempDir("heck-sec-");
  const agents: AgentProcess[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => stopAgent(a, "SIGKILL")));
    dir.remove();
  });

  test("nodes sharing a gossip key form a cluster; a node with another key cannot join", async () => {
    const key = randomBytes(32).toString("base64");
    const other = randomBytes(16).toString("base64");
    const a = await startAgent({ name: "enc-a", dataDir: `${dir.path}/a`, extra: ["--encrypt", key] });
    agents.push(a);
    const b = await startAgent({
      name: "enc-b",
      dataDir: `${dir.path}/b`,
      join: [a.gossip],
      extra: ["--encrypt", key],
    });
    agents.push(b);
    const c = await startAgent({
      name: "enc-c",
      dataDir: `${dir.path}/c`,
      join: [a.gossip],
      env: { HECK_ENCRYPT: other },
    });
    agents.push(c);
    await waitFor("a and b see each other", async () => {
      const [ma, mb] = [await memberNames(a), await memberNames(b)];
      return ma.join() === "enc-a,enc-b" && mb.join() === "enc-a,enc-b";
    });
    // Witnesses that the outsider did try before checking that it is still out: a join from c to
    // a completes without success, and a counts c's traffic as undecryptable.
    const rejoin = await api<{ joined: number }>(c, "POST", "/v1/join", { addresses: [a.gossip] });
    assert.deepEqual(rejoin, { status: 200, body: { joined: 0 } });
    await waitFor("a drops c's traffic as undecryptable", async () => (await malformedCount(a)) > 0);
    assert.deepEqual(await memberNames(a), ["enc-a", "enc-b"], "the node with another key stays out");
    assert.deepEqual(await memberNames(b), ["enc-a", "enc-b"], "the node with another key stays out");
    assert.deepEqual(await memberNames(c), ["enc-c"]);
  });

  test("with --api-token every route but /healthz needs the bearer token", async () => {
    const token = "s3cret-token";
    const t = await startAgent({ name: "tok", dataDir: `${dir.path}/tok`, extra: ["--api-token", token] });
    agents.push(t);
    assert.equal((await api(t, "GET", "/healthz")).status, 200);
    const denied = await api<{ error: { code: string } }>(t, "GET", "/v1/members");
    assert.equal(denied.status, 401);
    assert.equal(typeof denied.body.error.code, "string");
    assert.equal(
      (await api(t, "GET", "/v1/members", undefined, { authorization: "Bearer nope" })).status,
      401,
    );
    assert.deepEqual(await memberNames(t, token), ["tok"]);
    const put = await api(t, "PUT", "/v1/origins/x", { url: "http://127.0.0.1:9/" });
    assert.equal(put.status, 401);
    const get = await api(t, "GET", "/v1/origins/x", undefined, { authorization: `Bearer ${token}` });
    assert.equal(get.status, 404, "the refused PUT changed nothing");
  });

  test("--deny-private-targets refuses private targets on a real agent, storing nothing", async () => {
    const g = await startAgent({
      name: "guard",
      dataDir: `${dir.path}/guard`,
      extra: ["--deny-private-targets"],
    });
    agents.push(g);
    for (const url of [
      "http://127.0.0.1:9/",
      "http://169.254.169.254/latest/meta-data/",
      "tcp://localhost:22",
    ]) {
      const refused = await api<{ error: { code: string; field: string } }>(g, "PUT", "/v1/origins/x", {
        url,
      });
      assert.equal(refused.status, 400, url);
      assert.deepEqual([refused.body.error.code, refused.body.error.field], ["target_denied", "url"], url);
    }
    assert.equal((await api(g, "GET", "/v1/origins/x")).status, 404);
  });

  test("--max-origins caps the origins a real agent takes, with 409 origin_limit_reached", async () => {
    const c = await startAgent({
      name: "capped",
      dataDir: `${dir.path}/capped`,
      extra: ["--max-origins", "2"],
    });
    agents.push(c);
    // A closed loopback port: the agent's probes of these go nowhere else.
    const spec = { url: "http://127.0.0.1:9/", intervalMs: 60_000 };
    assert.equal((await api(c, "PUT", "/v1/origins/a", spec)).status, 201);
    assert.equal((await api(c, "PUT", "/v1/origins/b", spec)).status, 201);
    const third = await api<{ error: { code: string } }>(c, "PUT", "/v1/origins/c", spec);
    assert.equal(third.status, 409);
    assert.equal(third.body.error.code, "origin_limit_reached");
    assert.equal((await api(c, "PUT", "/v1/origins/a", { ...spec, intervalMs: 30_000 })).status, 200);
  });
});
