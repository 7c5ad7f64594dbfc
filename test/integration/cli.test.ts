import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import {
  type AgentProcess,
  OriginFarm,
  runHeck,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";

/** The CLI as a user runs it (`node bin/heck.js ...`) against a real agent process. */

const heck = runHeck;

describe("the CLI against a real agent", { timeout: 60_000 }, () => {
  const dir = tempDir("heck-cli-");
  const farm = new OriginFarm();
  let agent: AgentProcess;
  let http: string[];

  before(async () => {
    await farm.start();
    agent = await startAgent({ name: "cli-a", dataDir: `${dir.path}/a` });
    http = ["--http", agent.http];
  });

  after(async () => {
    await stopAgent(agent, "SIGKILL");
    await farm.stop();
    dir.remove();
  });

  test("origins add, ls, get and health report the origin and its health", async () => {
    const add = await heck([
      "origins",
      "add",
      "web",
      "--url",
      farm.url("/web"),
      "--interval-ms",
      "200",
      ...http,
    ]);
    assert.equal(add.code, 0, add.stderr);
    await waitFor("web healthy", async () => {
      const res = await heck(["health", "web", "--json", ...http]);
      return (
        res.code === 0 &&
        (JSON.parse(res.stdout) as { health: { status: string } }).health.status === "healthy"
      );
    });
    const ls = await heck(["origins", "ls", "--json", ...http]);
    assert.equal(ls.code, 0);
    const listed = JSON.parse(ls.stdout) as { origins: Array<{ id: string; owner: string }> };
    assert.deepEqual(
      listed.origins.map((o) => [o.id, o.owner]),
      [["web", "cli-a"]],
    );
    const human = await heck(["health", ...http]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /web\s+healthy/);
  });

  test("members --json lists the agent itself; HECK_HTTP_ADDR works in place of --http", async () => {
    const res = await heck(["members", "--json"], { HECK_HTTP_ADDR: agent.http });
    assert.equal(res.code, 0, res.stderr);
    const members = (JSON.parse(res.stdout) as { members: Array<{ name: string; status: string }> }).members;
    assert.deepEqual(
      members.map((m) => [m.name, m.status]),
      [["cli-a", "alive"]],
    );
  });

  test("a refused request exits 1 with the server's message, bad usage 2, no agent 3", async () => {
    const refused = await heck(["origins", "add", "bad", "--url", "ftp://x/", ...http]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /url/);
    const missing = await heck(["origins", "get", "nope", ...http]);
    assert.equal(missing.code, 1);
    const usage = await heck(["origins", "add"]);
    assert.equal(usage.code, 2);
    const unreachable = await heck(["members", "--http", "127.0.0.1:9"]);
    assert.equal(unreachable.code, 3);
  });

  test("origins rm removes it, and leave stops the agent with exit code 0", async () => {
    assert.equal((await heck(["origins", "rm", "web", ...http])).code, 0);
    assert.equal((await heck(["origins", "get", "web", ...http])).code, 1);
    const exited = new Promise<number | null>((resolve) => agent.child.once("exit", (code) => resolve(code)));
    assert.equal((await heck(["leave", ...http])).code, 0);
    assert.equal(await exited, 0);
  });
});

test("an agent binding beyond loopback without a key refuses to start, exit code 2, naming --insecure-gossip", async () => {
  const dir = tempDir("heck-insecure-");
  after(() => dir.remove());
  const res = await heck([
    "agent",
    "--name",
    "wide",
    "--bind",
    "0.0.0.0:0",
    "--advertise",
    "192.0.2.10:7946",
    "--data-dir",
    dir.path,
  ]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--insecure-gossip/);
});
