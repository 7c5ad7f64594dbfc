import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { UndiciProber } from "../../src/adapters/undici-prober.js";
import { parseOriginSpec } from "../../src/core/checks/spec.js";

/**
 * Issue 8, item 5: a blackholed origin (packets silently dropped, the commonest way a host dies)
 * must fail after timeoutMs, not after a minute in connect. The black hole is real: a veth pair
 * whose far end sits in a network namespace this test creates, and a permanent neighbour entry
 * that sends the origin's packets to a MAC address nobody has, so every SYN is dropped unanswered.
 * Needs root and iproute2; skipped with a reason otherwise, except under CI=true, where it fails.
 */

const tag = `${process.pid % 100_000}`;
const NETNS = `heck-bh-${tag}`;
const HOST_END = `hbh${tag}a`;
const FAR_END = `hbh${tag}b`;
const SUBNET_BYTE = process.pid % 250;
const LOCAL = `10.213.${SUBNET_BYTE}.1`;
const BLACKHOLE = `10.213.${SUBNET_BYTE}.2`;

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function unavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to create a network namespace";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "needs the ip command (iproute2)";
  }
  return undefined;
}

const reason = unavailableReason();
if (reason !== undefined && process.env.CI === "true") {
  test("a blackholed origin can be built on CI", () => assert.fail(`blackhole test cannot run: ${reason}`));
}

describe("a blackholed origin", { skip: reason ?? false }, () => {
  before(() => {
    ip("netns", "add", NETNS);
    ip("link", "add", HOST_END, "type", "veth", "peer", "name", FAR_END);
    ip("link", "set", FAR_END, "netns", NETNS);
    ip("addr", "add", `${LOCAL}/30`, "dev", HOST_END);
    ip("link", "set", HOST_END, "up");
    ip("-n", NETNS, "link", "set", FAR_END, "up");
    ip("neigh", "replace", BLACKHOLE, "lladdr", "02:00:00:00:00:99", "dev", HOST_END, "nud", "permanent");
  });

  after(() => {
    // Deleting the namespace deletes the veth pair with it.
    try {
      ip("netns", "del", NETNS);
    } catch {}
    try {
      ip("link", "del", HOST_END);
    } catch {}
  });

  const prober = new UndiciProber({ nodeName: "n", version: "1.0.0" });
  after(() => prober.close());

  for (const url of [
    `http://${BLACKHOLE}:80/health`,
    `https://${BLACKHOLE}:443/`,
    `tcp://${BLACKHOLE}:5432`,
  ]) {
    test(`${url} fails after timeoutMs, naming connect`, async () => {
      const result = await prober.probe(parseOriginSpec({ url, intervalMs: 1000, timeoutMs: 300 }));
      assert.equal(result.ok, false);
      assert.equal(result.error, "connect timeout after 300 ms");
      // Before issue 8 this took 60 s; the bound is loose on purpose (a shared, busy machine).
      assert.ok(result.latencyMs < 3000, `latency ${result.latencyMs} ms`);
    });
  }

  test("a second probe of the same blackholed origin is not stuck behind the first", async () => {
    const spec = parseOriginSpec({ url: `http://${BLACKHOLE}:8080/`, intervalMs: 1000, timeoutMs: 200 });
    const results = await Promise.all([prober.probe(spec), prober.probe(spec)]);
    for (const r of results) assert.equal(r.error, "connect timeout after 200 ms");
  });
});
