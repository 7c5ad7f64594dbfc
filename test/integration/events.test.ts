import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import {
  type AgentProcess,
  api,
  OriginFarm,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";

/** Health events (`/v1/events`, `/v1/events/recent`) of real agents: news, not state. */

const ORIGINS = 20;

interface RecentEvents {
  events: Array<{ kind: string; id?: string }>;
}

async function healthEvents(agent: AgentProcess): Promise<number> {
  const res = await api<RecentEvents>(agent, "GET", "/v1/events/recent?limit=500");
  assert.equal(res.status, 200);
  return res.body.events.filter((e) => e.kind === "health").length;
}

async function allHealthy(agent: AgentProcess): Promise<boolean> {
  const res = await api<{ origins: Array<{ health: { status: string } }> }>(agent, "GET", "/v1/origins");
  return res.body.origins.length === ORIGINS && res.body.origins.every((o) => o.health.status === "healthy");
}

describe("health events", { timeout: 90_000 }, () => {
  test("a new node takes in a catalog's fresh statuses without announcing them; the node that saw them change did", async () => {
    const dir = tempDir("heck-it-events-");
    const farm = new OriginFarm();
    const agents: AgentProcess[] = [];
    try {
      await farm.start();
      const a = await startAgent({ name: "ev-a", dataDir: `${dir.path}/a` });
      agents.push(a);
      for (let i = 0; i < ORIGINS; i++) {
        const res = await api(a, "PUT", `/v1/origins/ev-${i}`, {
          url: farm.url(`/ev-${i}`),
          intervalMs: 500,
          healthyThreshold: 1,
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
      await waitFor("every origin healthy on the first node", () => allHealthy(a));
      // Each status changed seconds ago, from unknown to healthy, on this node's own probes.
      assert.equal(await healthEvents(a), ORIGINS, "the first node announced each change");

      // A node that joins now learns every status within 30 s of its change, which alone would be
      // news by the age rule; but it learns them catching up, and every status is new to it.
      const b = await startAgent({ name: "ev-b", dataDir: `${dir.path}/b`, join: [a.gossip] });
      agents.push(b);
      await waitFor("every origin healthy on the new node", () => allHealthy(b));
      assert.equal(await healthEvents(b), 0, "the new node announced none of them");
    } finally {
      await Promise.all(agents.map((x) => stopAgent(x)));
      await farm.stop();
      dir.remove();
    }
  });
});
