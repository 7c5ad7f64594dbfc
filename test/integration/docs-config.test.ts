import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { envName } from "../../src/config.js";
import { HECK_BIN } from "../helpers/cluster.js";

/** docs/configuration.md covers every option that the real `heck agent --help` lists. */

const DOC = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");

function agentHelp(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [HECK_BIN, "agent", "--help"], { timeout: 20_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

describe("docs/configuration.md", () => {
  test("names every flag of heck agent --help, with its environment variable and file key", async () => {
    const help = await agentHelp();
    const flags = [...help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)]
      .map((m) => m[1]!)
      .filter((flag) => flag !== "--help");
    assert.ok(flags.length >= 14, `too few flags read from the help:\n${help}`);
    for (const flag of flags) {
      assert.ok(DOC.includes(`\`${flag}`), `${flag} is not documented`);
      const key = flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      assert.ok(DOC.includes(`\`${envName(key)}\``), `${flag}: ${envName(key)} is not documented`);
      if (flag !== "--config")
        assert.ok(DOC.includes(`\`${key}\``), `${flag}: file key ${key} is not documented`);
      if (flag !== "--config")
        assert.ok(DOC.includes(`### \`${flag}\``), `${flag} has no section of its own`);
    }
  });
});
