import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { envName, resolveAgentConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";

describe("agent configuration", () => {
  const dir = mkdtempSync(join(tmpdir(), "heck-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (content: unknown) => {
    const path = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };

  test("defaults follow the contract", () => {
    const c = resolveAgentConfig({ name: "n1" }, {});
    assert.deepEqual(c.bind, { host: "127.0.0.1", port: 7946 });
    assert.deepEqual(c.advertise, c.bind);
    assert.deepEqual(c.http, { host: "127.0.0.1", port: 8700 });
    assert.equal(c.dataDir, join("heck-data", "n1"));
    assert.equal(c.profile, "lan");
    assert.equal(c.logLevel, "info");
    assert.deepEqual(c.join, []);
    assert.equal(c.encrypt, undefined);
    assert.equal(c.insecureGossip, false);
  });

  test("environment names are HECK_ plus the flag in upper snake case", () => {
    assert.equal(envName("dataDir"), "HECK_DATA_DIR");
    assert.equal(envName("apiToken"), "HECK_API_TOKEN");
    assert.equal(envName("name"), "HECK_NAME");
  });

  test("a flag beats the environment, which beats the file, which beats the default", () => {
    const config = file({ name: "from-file", profile: "wan", dataDir: "/file", logLevel: "warn" });
    const env = { HECK_PROFILE: "local", HECK_DATA_DIR: "/env" };
    const c = resolveAgentConfig({ config, dataDir: "/flag" }, env);
    assert.equal(c.dataDir, "/flag");
    assert.equal(c.profile, "local");
    assert.equal(c.name, "from-file");
    assert.equal(c.logLevel, "warn");
  });

  test("join takes repeated and comma separated addresses", () => {
    const c = resolveAgentConfig({ name: "n", join: ["127.0.0.1:1", "127.0.0.1:2,127.0.0.1:3"] }, {});
    assert.deepEqual(
      c.join.map((a) => a.port),
      [1, 2, 3],
    );
  });

  test("an unknown key in the config file is refused and named", () => {
    const config = file({ name: "n", dataDirectory: "/x" });
    assert.throws(
      () => resolveAgentConfig({ config }, {}),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /dataDirectory/);
        return true;
      },
    );
  });

  test("every invalid value names its field", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ name: "bad name!" }, /^name/],
      [{ name: "x".repeat(65) }, /^name/],
      [{ name: "n", bind: "nope" }, /^bind/],
      [{ name: "n", http: "127.0.0.1:99999" }, /^http/],
      [{ name: "n", profile: "fast" }, /^profile/],
      [{ name: "n", logLevel: "loud" }, /^logLevel/],
      [{ name: "n", encrypt: Buffer.alloc(10).toString("base64") }, /^encrypt/],
      [{ name: "n", advertise: "localhost:7946" }, /^advertise/],
    ];
    for (const [flags, pattern] of cases) {
      assert.throws(
        () => resolveAgentConfig(flags, {}),
        (err: Error) => err instanceof ConfigError && pattern.test(err.message),
        JSON.stringify(flags),
      );
    }
  });

  test("a 32-byte base64 key is accepted", () => {
    const key = Buffer.alloc(32, 7).toString("base64");
    assert.equal(resolveAgentConfig({ name: "n", encrypt: key }, {}).encrypt, key);
  });

  describe("plain-text gossip beyond loopback takes --insecure-gossip (issue 7, item 2)", () => {
    const wide = { name: "n", bind: "0.0.0.0:7946", advertise: "192.0.2.10:7946" };
    const key = Buffer.alloc(32, 7).toString("base64");

    test("without a key the agent refuses to start, and the error names both remedies", () => {
      for (const bind of ["0.0.0.0:7946", "192.0.2.10:7946", "[::]:7946"]) {
        assert.throws(
          () => resolveAgentConfig({ ...wide, bind }, {}),
          (err: Error) =>
            err instanceof ConfigError &&
            /^bind/.test(err.message) &&
            /--encrypt/.test(err.message) &&
            /--insecure-gossip/.test(err.message),
          bind,
        );
      }
    });

    test("a key, or an explicit --insecure-gossip from flag, environment or file, lets it start", () => {
      assert.equal(resolveAgentConfig({ ...wide, encrypt: key }, {}).insecureGossip, false);
      assert.equal(resolveAgentConfig({ ...wide, insecureGossip: true }, {}).insecureGossip, true);
      assert.equal(resolveAgentConfig(wide, { HECK_INSECURE_GOSSIP: "true" }).insecureGossip, true);
      const config = file({ insecureGossip: true });
      assert.equal(resolveAgentConfig({ ...wide, config }, {}).insecureGossip, true);
    });

    test("loopback binds need neither", () => {
      for (const bind of ["127.0.0.1:7946", "127.0.0.2:7946", "[::1]:7946"]) {
        assert.equal(resolveAgentConfig({ name: "n", bind }, {}).encrypt, undefined, bind);
      }
    });

    test("a value other than true or false is refused and named", () => {
      assert.throws(
        () => resolveAgentConfig(wide, { HECK_INSECURE_GOSSIP: "maybe" }),
        (err: Error) => err instanceof ConfigError && /^insecureGossip/.test(err.message),
      );
    });
  });

  test("denyPrivateTargets and maxOrigins come from flags, env or file, validated", () => {
    const d = resolveAgentConfig({ name: "n" }, {});
    assert.equal(d.denyPrivateTargets, false);
    assert.equal(d.maxOrigins, 1_000_000);
    assert.equal(resolveAgentConfig({ name: "n", denyPrivateTargets: true }, {}).denyPrivateTargets, true);
    const env = { HECK_DENY_PRIVATE_TARGETS: "true", HECK_MAX_ORIGINS: "5000" };
    const fromEnv = resolveAgentConfig({ name: "n" }, env);
    assert.equal(fromEnv.denyPrivateTargets, true);
    assert.equal(fromEnv.maxOrigins, 5000);
    const fromFile = resolveAgentConfig(
      { config: file({ name: "n", denyPrivateTargets: true, maxOrigins: 7 }) },
      {},
    );
    assert.deepEqual([fromFile.denyPrivateTargets, fromFile.maxOrigins], [true, 7]);
    assert.throws(() => resolveAgentConfig({ name: "n", maxOrigins: "0" }, {}), /maxOrigins/);
    assert.throws(() => resolveAgentConfig({ name: "n", maxOrigins: "1e3" }, {}), /maxOrigins/);
    assert.throws(
      () => resolveAgentConfig({ name: "n", denyPrivateTargets: "yes" }, {}),
      /denyPrivateTargets/,
    );
  });

  test("heapGrowthPercent: 20 by default, 0 to 300 from a flag, the environment or a file", () => {
    assert.equal(resolveAgentConfig({ name: "n" }, {}).heapGrowthPercent, 20);
    assert.equal(resolveAgentConfig({ name: "n", heapGrowthPercent: "0" }, {}).heapGrowthPercent, 0);
    assert.equal(resolveAgentConfig({ name: "n" }, { HECK_HEAP_GROWTH_PERCENT: "75" }).heapGrowthPercent, 75);
    assert.equal(
      resolveAgentConfig({ config: file({ name: "n", heapGrowthPercent: 300 }) }, {}).heapGrowthPercent,
      300,
    );
    for (const bad of ["301", "-1", "ten", "1.5", ""]) {
      assert.throws(
        () => resolveAgentConfig({ name: "n", heapGrowthPercent: bad }, {}),
        /heapGrowthPercent/,
        bad,
      );
    }
  });

  test("probeJitterPercent: 0 by default, 0 to 50 from a flag, the environment or a file", () => {
    assert.equal(resolveAgentConfig({ name: "n" }, {}).probeJitterPercent, 0);
    assert.equal(resolveAgentConfig({ name: "n", probeJitterPercent: "10" }, {}).probeJitterPercent, 10);
    assert.equal(
      resolveAgentConfig({ name: "n" }, { HECK_PROBE_JITTER_PERCENT: "2.5" }).probeJitterPercent,
      2.5,
    );
    assert.equal(
      resolveAgentConfig({ config: file({ name: "n", probeJitterPercent: 50 }) }, {}).probeJitterPercent,
      50,
    );
    for (const bad of ["51", "-1", "ten", "1e1", ""]) {
      assert.throws(
        () => resolveAgentConfig({ name: "n", probeJitterPercent: bad }, {}),
        /probeJitterPercent/,
        bad,
      );
    }
  });
});
