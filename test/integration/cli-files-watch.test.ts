import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { HeckClient } from "../../src/client/index.js";
import {
  type AgentProcess,
  HECK_BIN,
  OriginFarm,
  runHeck,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";

/** `heck health --watch`, `origins add -f` and `origins export` as a user runs them, against real agents. */

const heck = (args: string[]) => runHeck(args);

describe("origin files and the event stream through the CLI", { timeout: 120_000 }, () => {
  const dir = tempDir("heck-cli-files-");
  const farm = new OriginFarm();
  let a: AgentProcess;
  let b: AgentProcess;
  let clientA: HeckClient;
  let clientB: HeckClient;

  before(async () => {
    await farm.start();
    // Two agents that never join: B receives what A exported.
    [a, b] = await Promise.all([
      startAgent({ name: "files-a", dataDir: `${dir.path}/a` }),
      startAgent({ name: "files-b", dataDir: `${dir.path}/b` }),
    ]);
    clientA = new HeckClient({ baseUrl: a.http });
    clientB = new HeckClient({ baseUrl: b.http });
  });

  after(async () => {
    await clientA.close();
    await clientB.close();
    await Promise.all([stopAgent(a, "SIGKILL"), stopAgent(b, "SIGKILL")]);
    await farm.stop();
    dir.remove();
  });

  test("health --watch --json prints each status change as a JSON line and exits 0 on SIGINT", async () => {
    const child = spawn(process.execPath, [HECK_BIN, "health", "--watch", "--json", "--http", a.http], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    let stderr = "";
    createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
    child.stderr!.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await waitFor("the watch to connect", () => stderr.includes("Ctrl-C stops"), 15_000);
      farm.fail("/watched");
      await clientA.putOrigin("watched", { url: farm.url("/watched"), intervalMs: 200, confirm: false });
      const events = () => lines.map((l) => JSON.parse(l) as { kind: string; id?: string; status?: string });
      await waitFor("unhealthy on the watch", () =>
        events().some((e) => e.kind === "health" && e.id === "watched" && e.status === "unhealthy"),
      );
      farm.fail("/watched", false);
      await waitFor("healthy again on the watch", () =>
        events().some((e) => e.kind === "health" && e.id === "watched" && e.status === "healthy"),
      );
      child.kill("SIGINT");
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await clientA.deleteOrigin("watched").catch(() => {});
    }
  });

  test("health ID --watch prints table rows of that origin only", async () => {
    await clientA.putOrigin("other", { url: farm.url("/other"), intervalMs: 200, confirm: false });
    const child = spawn(process.execPath, [HECK_BIN, "health", "row", "--watch", "--http", a.http], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr!.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await waitFor("the watch to connect", () => stderr.includes("Ctrl-C stops"), 15_000);
      assert.match(stdout, /^TIME\s+EVENT\s+NAME\s+STATUS\s+PREVIOUS\s+REPORTER$/m);
      farm.fail("/other");
      farm.fail("/row");
      await clientA.putOrigin("row", { url: farm.url("/row"), intervalMs: 200, confirm: false });
      await waitFor("the row's change", () => /health\s+row\s+unhealthy\s+unknown\s+files-a/.test(stdout));
      child.kill("SIGINT");
      assert.equal(await exited, 0, stderr);
      assert.doesNotMatch(stdout, /other/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      for (const id of ["row", "other"]) await clientA.deleteOrigin(id).catch(() => {});
    }
  });

  test("origins add -f takes YAML in chunks and JSON, and export round-trips to another agent", async () => {
    const many = Array.from({ length: 2500 }, (_, i) => ({
      id: `bulk-${String(i).padStart(4, "0")}`,
      url: farm.url(`/bulk/${i}`),
      intervalMs: 3_600_000,
      ...(i % 3 === 0 ? { expectStatus: [200, "300-399"], headers: { "X-N": String(i) } } : {}),
      ...(i % 5 === 0 ? { method: "HEAD", healthyThreshold: 4 } : {}),
    }));
    const yamlFile = `${dir.path}/many.yaml`;
    writeFileSync(yamlFile, stringify({ origins: many }));
    const added = await heck(["origins", "add", "-f", yamlFile, "--json", "--http", a.http]);
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual(JSON.parse(added.stdout), { upserted: 2500, requests: 3 });
    assert.doesNotMatch(added.stderr, /\r/, "no progress bar off a terminal");

    const jsonFile = `${dir.path}/few.json`;
    writeFileSync(
      jsonFile,
      JSON.stringify([
        { id: "json-1", url: farm.url("/j1"), intervalMs: 3_600_000 },
        { id: "json-2", url: `tcp://127.0.0.1:${farm.port}`, intervalMs: 3_600_000 },
      ]),
    );
    const human = await heck(["origins", "add", "--file", jsonFile, "--http", a.http]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /added or replaced 2 origins from .*few\.json in 1 request/);
    assert.equal((await clientA.self()).origins, 2502);
    assert.equal((await clientA.getOrigin("bulk-0015")).method, "HEAD");

    for (const format of ["yaml", "json"] as const) {
      const out = `${dir.path}/export-a.${format}`;
      const exported = await heck(["origins", "export", "-o", out, "--http", a.http]);
      assert.equal(exported.code, 0, exported.stderr);
      assert.match(exported.stdout, /exported 2502 origins/);
      const intoB = await heck(["origins", "add", "-f", out, "--http", b.http]);
      assert.equal(intoB.code, 0, intoB.stderr);
      const again = await heck(["origins", "export", "--format", format, "--http", b.http]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, readFileSync(out, "utf8"), `${format} export of B equals A's`);
    }
  });

  test("a bad file exits 2 naming the line, a refused entry 1 with nothing stored, no agent 3", async () => {
    const before = (await clientA.self()).origins;
    const noId = `${dir.path}/no-id.yaml`;
    writeFileSync(
      noId,
      "origins:\n  - id: fine\n    url: http://127.0.0.1:9/\n  - url: http://127.0.0.1:9/\n",
    );
    const bad = await heck(["origins", "add", "-f", noId, "--http", a.http]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no-id\.yaml:4: origins\[1\] needs an "id"/);

    const broken = `${dir.path}/broken.json`;
    writeFileSync(broken, '{"origins": [\n  {"id": "x", "url": "http://h/"}\n');
    const unparsed = await heck(["origins", "add", "-f", broken, "--http", a.http]);
    assert.equal(unparsed.code, 2);
    assert.match(unparsed.stderr, /broken\.json: not valid JSON: .*line 3/);

    const refusedFile = `${dir.path}/refused.yaml`;
    writeFileSync(
      refusedFile,
      stringify({
        origins: [
          { id: "r-1", url: "http://127.0.0.1:9/" },
          { id: "r-2", url: "http://127.0.0.1:9/", intervalMS: 1000 },
          { id: "r-3", url: "http://127.0.0.1:9/" },
        ],
      }),
    );
    const refused = await heck(["origins", "add", "-f", refusedFile, "--http", a.http]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused\.yaml:4: origins\[1\] \(id "r-2"\): .*intervalMS/);
    assert.match(refused.stderr, /nothing of origins\[0\]\.\.origins\[2\] was stored/);
    assert.equal((await clientA.self()).origins, before);

    const missing = await heck(["origins", "add", "-f", `${dir.path}/absent.yaml`, "--http", a.http]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--file: cannot read/);

    const unreachable = await heck(["origins", "add", "-f", refusedFile, "--http", "127.0.0.1:9"]);
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /no agent reachable/);
    const watchNobody = await heck(["health", "--watch", "--http", "127.0.0.1:9"]);
    assert.equal(watchNobody.code, 3);
    const exportNobody = await heck(["origins", "export", "--http", "127.0.0.1:9"]);
    assert.equal(exportNobody.code, 3);
  });
});
