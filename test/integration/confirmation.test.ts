import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import {
  type AgentProcess,
  api,
  metricValue,
  OriginFarm,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";

/**
 * One node whose probes all fail (it refuses loopback targets, as an agent with a broken outbound
 * network would fail them) while the origins are fine: no origin turns unhealthy anywhere, because
 * its failures are checked from a second member first. A real outage is still reported.
 */

interface View {
  id: string;
  owner: string;
  health: { status: string; confirmedBy: string | null };
}

describe("confirmation from a second member, on real agents", { timeout: 90_000 }, () => {
  const dir = tempDir("heck-confirm-");
  const farm = new OriginFarm();
  const agents: AgentProcess[] = [];

  before(async () => {
    await farm.start();
    const a = await startAgent({ name: "a", dataDir: `${dir.path}/a` });
    agents.push(a);
    agents.push(await startAgent({ name: "b", dataDir: `${dir.path}/b`, join: [a.gossip] }));
    // c fails every probe of a loopback origin: its own view of the network is broken.
    agents.push(
      await startAgent({
        name: "c",
        dataDir: `${dir.path}/c`,
        join: [a.gossip],
        extra: ["--deny-private-targets"],
      }),
    );
    await waitFor(
      "three members",
      async () => (await api<{ members: unknown[] }>(a, "GET", "/v1/members")).body.members.length === 3,
      15_000,
    );
    const origins = Array.from({ length: 30 }, (_, i) => ({
      id: `c${i}`,
      url: farm.url(`/c${i}`),
      intervalMs: 300,
      unhealthyThreshold: 1,
    }));
    assert.equal((await api(a, "POST", "/v1/origins", { origins })).status, 200);
  });

  after(async () => {
    await Promise.all(agents.map((x) => stopAgent(x, "SIGKILL")));
    await farm.stop();
    dir.remove();
  });

  const views = async (agent: AgentProcess) =>
    (await api<{ origins: View[] }>(agent, "GET", "/v1/origins?limit=100")).body.origins;

  test("a node whose probes all fail turns no healthy origin unhealthy, on any node", async () => {
    const c = agents[2] as AgentProcess;
    // The witness: c has asked, several times, and been told the origins answer elsewhere.
    await waitFor(
      "c's failures refuted by a second member",
      async () => (await metricValue(c, "heck_confirmations_total", '{outcome="refuted"}')) >= 5,
      20_000,
    );
    for (const agent of agents) {
      const bad = (await views(agent)).filter((v) => v.health.status === "unhealthy");
      assert.deepEqual(
        bad.map((v) => v.id),
        [],
        `unhealthy on ${agent.name}`,
      );
    }
  });

  test("an origin that is down for every member turns unhealthy, and says who confirmed it", async () => {
    const owned = (await views(agents[0] as AgentProcess)).find((v) => v.owner === "a" || v.owner === "b");
    assert.ok(owned, "an origin owned by a node that can probe");
    farm.fail(`/${owned.id}`);
    const seen = await waitFor(
      `${owned.id} unhealthy on every node`,
      async () => {
        const all = await Promise.all(
          agents.map(async (x) => (await views(x)).find((v) => v.id === owned.id)),
        );
        return all.every((v) => v?.health.status === "unhealthy") ? all : undefined;
      },
      15_000,
    );
    for (const v of seen) assert.ok(v?.health.confirmedBy, "the confirming member is named");
    assert.notEqual(seen[0]?.health.confirmedBy, owned.owner, "by another member than the owner");
  });
});
