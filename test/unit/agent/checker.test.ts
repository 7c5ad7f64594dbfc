import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { Checker, type CheckerState } from "../../../src/agent/checker.js";
import type { ProbeResult, Prober } from "../../../src/core/checks/prober.js";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import { seededRng } from "../../../src/core/env.js";
import type { HealthRecord, OriginEntry, OriginSpec } from "../../../src/core/state/types.js";
import { SimNetwork } from "../../sim/sim-network.js";

/** The checker on virtual time, with a scripted prober standing in for undici (tested on its own). */

const spec = (intervalMs: number, over: Partial<OriginSpec> = {}): OriginSpec =>
  parseOriginSpec({ url: "http://127.0.0.1:1/", intervalMs, ...over });

class ScriptedProber implements Prober {
  readonly calls: string[] = [];
  failing = new Set<string>();
  probe(s: OriginSpec): Promise<ProbeResult> {
    this.calls.push(s.url);
    const ok = !this.failing.has(s.url);
    return Promise.resolve({ ok, statusCode: ok ? 200 : 503, latencyMs: 3, error: ok ? null : "status 503" });
  }
}

class MemoryState implements CheckerState {
  readonly origins = new Map<string, OriginEntry>();
  readonly health = new Map<string, HealthRecord>();
  readonly writes: HealthRecord[] = [];
  add(id: string, s: OriginSpec): void {
    this.origins.set(id, {
      id,
      spec: s,
      dot: { writer: "x", counter: 1 },
      target: { writer: "x", counter: 1 },
      wall: 1,
    });
  }
  liveOrigins(): Iterable<OriginEntry> {
    return this.origins.values();
  }
  healthOf(id: string): HealthRecord | undefined {
    return this.health.get(id);
  }
  recordHealth(id: string, fields: Omit<HealthRecord, "id">): void {
    const record = { id, ...fields };
    this.health.set(id, record);
    this.writes.push(record);
  }
}

function setup(owner: (id: string) => string) {
  const net = new SimNetwork({ seed: 1 });
  const host = net.addHost("self", { host: "10.0.0.1", port: 1 });
  const prober = new ScriptedProber();
  const state = new MemoryState();
  const checker = new Checker({
    self: "self",
    prober,
    state,
    clock: net.clock,
    timers: host.timers,
    rng: seededRng(2),
    ownerOf: owner,
  });
  /** Advances virtual time in small steps, letting probe promises settle in between. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      net.runFor(10);
      await new Promise((r) => setImmediate(r));
    }
  };
  return { net, host, prober, state, checker, run };
}

describe("checker", () => {
  test("probes only the origins this node owns, about once per interval", async () => {
    const owners: Record<string, string> = { mine: "self", theirs: "other" };
    const { prober, state, checker, run } = setup((id) => owners[id]!);
    state.add("mine", spec(1000, { url: "http://127.0.0.1:1/mine" }));
    state.add("theirs", spec(1000, { url: "http://127.0.0.1:1/theirs" }));
    checker.reconcile();
    await run(10_000);
    const mine = prober.calls.filter((u) => u.endsWith("/mine")).length;
    assert.ok(mine >= 9 && mine <= 11, `probed ${mine} times in 10 intervals`);
    assert.equal(prober.calls.filter((u) => u.endsWith("/theirs")).length, 0);
    assert.equal(checker.owned(), 1);
    checker.stop();
  });

  test("an origin that moves away stops being probed here; one that moves here starts", async () => {
    const owners: Record<string, string> = { a: "self", b: "other" };
    const { prober, state, checker, run } = setup((id) => owners[id]!);
    state.add("a", spec(500, { url: "http://127.0.0.1:1/a" }));
    state.add("b", spec(500, { url: "http://127.0.0.1:1/b" }));
    checker.reconcile();
    await run(2000);
    owners.a = "other";
    owners.b = "self";
    checker.reconcile();
    await run(10);
    const before = prober.calls.length;
    await run(3000);
    const after = prober.calls.slice(before);
    assert.equal(after.filter((u) => u.endsWith("/a")).length, 0, "a no longer probed");
    assert.ok(after.filter((u) => u.endsWith("/b")).length >= 5, "b probed by its new owner");
    checker.stop();
  });

  test("a new owner carries on from the replicated status instead of starting at unknown", async () => {
    const { prober, state, checker, run } = setup(() => "self");
    state.add("o", spec(1000, { url: "http://127.0.0.1:1/o", unhealthyThreshold: 3 }));
    state.health.set("o", {
      id: "o",
      status: "healthy",
      reporter: "old-owner",
      checkedAt: 1,
      changedAt: 1,
      latencyMs: 1,
      error: null,
    });
    prober.failing.add("http://127.0.0.1:1/o");
    checker.reconcile();
    while (state.writes.length < 3) await run(100);
    assert.deepEqual(
      state.writes.map((w) => w.status),
      ["healthy", "healthy", "unhealthy"],
      "two failures stay healthy below the threshold of three; the third flips it",
    );
    assert.equal(state.writes[0]!.changedAt, 1, "changedAt kept while the status holds");
    const last = state.writes.at(-1)!;
    assert.equal(last.status, "unhealthy");
    assert.equal(last.reporter, "self");
    assert.equal(last.error, "status 503");
    checker.stop();
  });

  test("stop() cancels every timer and is safe twice", async () => {
    const { net, host, prober, state, checker, run } = setup(() => "self");
    for (let i = 0; i < 5; i++) state.add(`o${i}`, spec(200, { url: `http://127.0.0.1:1/${i}` }));
    checker.reconcile();
    await run(1000);
    checker.stop();
    checker.stop();
    assert.equal(net.pendingFor(host), 0);
    const calls = prober.calls.length;
    await run(1000);
    assert.equal(prober.calls.length, calls);
    assert.equal(checker.owned(), 0);
  });
});
