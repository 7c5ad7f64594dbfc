import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import { VERSION } from "../../src/version.js";
import {
  type AgentProcess,
  api,
  isRunning,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";
import { requireProgram } from "../helpers/require-program.js";
import { type SerfAgent, serfLeave, serfMembers, serfTags, startSerf, stopSerf } from "../helpers/serf.js";

/**
 * Issue 7, item 1: heck agents and HashiCorp Serf agents (Debian's `serf` 0.9.4) in one cluster
 * on loopback, both with the `local` profile, plain and with a shared key. Joins go both ways,
 * graceful leaves show as `left` on the other side (heck sends Serf's leave intent), and a kill -9
 * is seen on both sides.
 */

const skip = requireProgram("serf", "serf");

async function heckStatuses(agent: AgentProcess): Promise<Map<string, string>> {
  const res = await api<{ members: Array<{ name: string; status: string }> }>(agent, "GET", "/v1/members");
  return new Map(res.body.members.map((m) => [m.name, m.status]));
}

/** True when `view` holds every name in `names` with `status`. */
function shows(view: Map<string, string>, names: string[], status: string): boolean {
  return names.every((n) => view.get(n) === status);
}

/** A fixed 16-byte key, base64, as both `heck agent --encrypt` and `serf agent -encrypt` take it. */
const KEY = Buffer.from(Array.from({ length: 16 }, (_, i) => i * 11 + 3)).toString("base64");

for (const mode of ["plain", "encrypted"] as const) {
  describe(`heck and Serf in one cluster, ${mode}`, { skip, timeout: 180_000 }, () => {
    const dir = tempDir(`heck-serf-${mode}-`);
    const heck: AgentProcess[] = [];
    const serf: SerfAgent[] = [];
    const encrypt = mode === "encrypted" ? KEY : undefined;
    const heckAgent = (name: string, join: string[]) =>
      startAgent({
        name,
        dataDir: `${dir.path}/${name}`,
        join,
        ...(encrypt ? { extra: ["--encrypt", encrypt] } : {}),
      });
    const serfAgent = (name: string, join: string[]) =>
      startSerf({ name, join, ...(encrypt ? { encrypt } : {}) });
    const names = ["heck-1", "heck-2", "heck-3", "serf-1", "serf-2", "serf-3"];

    before(async () => {
      // heck joins Serf (heck-1 through serf-1) and Serf joins heck (serf-2 through heck-1).
      serf.push(await serfAgent("serf-1", []));
      heck.push(await heckAgent("heck-1", [serf[0]!.gossip]));
      heck.push(await heckAgent("heck-2", [heck[0]!.gossip]));
      heck.push(await heckAgent("heck-3", [serf[0]!.gossip]));
      serf.push(await serfAgent("serf-2", [heck[0]!.gossip]));
      serf.push(await serfAgent("serf-3", [heck[1]!.gossip]));
    });

    after(async () => {
      await Promise.all([...heck.map((a) => stopAgent(a, "SIGKILL")), ...serf.map((s) => stopSerf(s))]);
      dir.remove();
    });

    test("joins go both ways: every heck and every Serf agent lists all six alive", async () => {
      await waitFor(
        "six alive members on every agent",
        async () => {
          for (const s of serf) if (!shows(await serfMembers(s), names, "alive")) return false;
          for (const h of heck) if (!shows(await heckStatuses(h), names, "alive")) return false;
          return true;
        },
        // Serf gossips a join only twice under its local profile: a member that misses both
        // learns of the newcomer at the next push-pull (15 s), later still on a busy machine.
        40_000,
      );
    });

    test("only heck agents own origins, and Serf lists them with their heck tag", async () => {
      const origins = Array.from({ length: 30 }, (_, i) => ({
        id: `mixed-${i}`,
        url: "http://127.0.0.1:9/",
      }));
      assert.equal((await api(heck[0]!, "POST", "/v1/origins", { origins })).status, 200);
      const owners = await waitFor(
        "the origins on heck-2",
        async () => {
          const page = await api<{ origins: Array<{ owner: string }> }>(
            heck[1]!,
            "GET",
            "/v1/origins?limit=100",
          );
          return page.body.origins.length === 30 ? new Set(page.body.origins.map((o) => o.owner)) : undefined;
        },
        10_000,
      );
      for (const owner of owners) assert.match(owner, /^heck-/);
      const tags = await serfTags(serf[0]!);
      assert.equal(tags.get("heck-1")?.heck, VERSION);
      assert.equal(tags.get("serf-2")?.heck, undefined);
    });

    test("a heck agent's SIGTERM shows as left in serf members, and in heck", async () => {
      const leaver = heck[2]!;
      assert.equal(await stopAgent(leaver, "SIGTERM"), 0);
      await waitFor(
        "heck-3 left on every agent",
        async () => {
          for (const s of serf) if (!shows(await serfMembers(s), ["heck-3"], "left")) return false;
          for (const h of heck.filter(isRunning))
            if (!shows(await heckStatuses(h), ["heck-3"], "left")) return false;
          return true;
        },
        5_000,
      );
    });

    test("serf leave shows as left in heck", async () => {
      // Serf only gossips its leave, a limited number of times: a heck agent that misses every
      // copy learns it from its next push-pull (15 s under local), which the wait allows for.
      await serfLeave(serf[2]!);
      await waitFor(
        "serf-3 left on every heck agent",
        async () => {
          for (const h of heck.filter(isRunning))
            if (!shows(await heckStatuses(h), ["serf-3"], "left")) return false;
          return true;
        },
        20_000,
      );
    });

    test("kill -9 is seen both ways: Serf marks the heck agent failed, heck marks the Serf agent dead", async () => {
      await Promise.all([stopAgent(heck[1]!, "SIGKILL"), stopSerf(serf[1]!, "SIGKILL")]);
      await waitFor(
        "heck-2 failed in serf-1 and serf-2 dead in heck-1",
        async () =>
          (await serfMembers(serf[0]!)).get("heck-2") === "failed" &&
          (await heckStatuses(heck[0]!)).get("serf-2") === "dead",
        40_000,
        250,
      );
      // The graceful leaves stay leaves: neither side turned them into failures meanwhile.
      assert.equal((await serfMembers(serf[0]!)).get("heck-3"), "left");
      assert.equal((await heckStatuses(heck[0]!)).get("serf-3"), "left");
    });
  });
}
