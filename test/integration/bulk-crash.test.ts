import { strict as assert } from "node:assert";
import { after, describe, test } from "node:test";
import { api, startAgent, stopAgent, tempDir } from "../helpers/cluster.js";

/**
 * A bulk upsert is one transaction: killed with SIGKILL at any moment of the request, the agent
 * comes back with none of the batch or all of it, never a part.
 */
describe("a bulk upsert of 10,000 origins under kill -9", { timeout: 120_000 }, () => {
  const dir = tempDir("heck-bulk-crash-");
  after(() => dir.remove());

  const batch = (round: number) =>
    Array.from({ length: 10_000 }, (_, i) => ({ id: `r${round}-${i}`, url: `http://127.0.0.1:9/${i}` }));

  test("is on disk whole or not at all, whenever the kill lands", { timeout: 110_000 }, async (t) => {
    const outcomes: number[] = [];
    // The agents' process handles do not hold the test's event loop open: this does, until the end.
    const keepAlive = setInterval(() => {}, 1000);
    // Cleared however the test ends, a timeout included, so that the file's process can exit.
    t.after(() => clearInterval(keepAlive));
    // One unkilled batch first measures how long the request takes on this machine; the kills then
    // land at fractions of that: while the body is read and validated, and around the commit.
    const probe = await startAgent({ name: "bulk", dataDir: `${dir.path}/agent` });
    const t0 = Date.now();
    assert.equal((await api(probe, "POST", "/v1/origins", { origins: batch(99) })).status, 200);
    const requestMs = Date.now() - t0;
    await stopAgent(probe, "SIGKILL");
    const delays = [0.1, 0.4, 0.7, 0.8, 0.85, 0.9, 0.95, 1, 1.1, 1.3].map((f) => Math.round(f * requestMs));
    for (const [round, delayMs] of delays.entries()) {
      const dataDir = `${dir.path}/agent`;
      const agent = await startAgent({ name: "bulk", dataDir });
      const request = api(agent, "POST", "/v1/origins", { origins: batch(round) }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, delayMs));
      await stopAgent(agent, "SIGKILL");
      // A request cut by the kill settles with an error; should the socket linger, give up on it.
      const answer = await Promise.race([
        request,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
      ]);
      const back = await startAgent({ name: "bulk", dataDir });
      // This round's ids, through every page: earlier rounds' batches may be stored too.
      let held = 0;
      let cursor: string | null = null;
      do {
        const page: { body: { origins: Array<{ id: string }>; nextCursor: string | null } } = await api(
          back,
          "GET",
          `/v1/origins?limit=10000&q=r${round}-${cursor ? `&cursor=${cursor}` : ""}`,
        );
        held += page.body.origins.filter((o) => o.id.startsWith(`r${round}-`)).length;
        cursor = page.body.nextCursor;
      } while (cursor);
      await stopAgent(back, "SIGKILL");
      assert.ok(
        held === 0 || held === 10_000,
        `round ${round}, kill after ${delayMs} ms: ${held} of 10,000 stored`,
      );
      if (answer?.status === 200) assert.equal(held, 10_000, "an acknowledged batch is stored whole");
      outcomes.push(held);
    }
    console.log(
      `bulk kill -9 after ${delays.join(", ")} ms of a ${requestMs} ms request: ${outcomes.join(", ")} origins stored`,
    );
  });
});
