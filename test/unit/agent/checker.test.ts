import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { Checker, type CheckerOptions, type CheckerState } from "../../../src/agent/checker.js";
import type { ProbeResult, Prober } from "../../../src/core/checks/prober.js";
import { phaseOffsetMs } from "../../../src/core/checks/schedule.js";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import { seededRng, type Timers } from "../../../src/core/env.js";
import { ownerOf } from "../../../src/core/ownership/rendezvous.js";
import { KeySpace } from "../../../src/core/state/key-space.js";
import type { HealthRecord, OriginEntry, OriginSpec } from "../../../src/core/state/types.js";
import { SimNetwork } from "../../sim/sim-network.js";

/**
 * The checker on virtual time, with a scripted prober standing in for undici (tested on its own).
 * Ownership is real rendezvous hashing over the members the test sets.
 */

const spec = (intervalMs: number, over: Partial<OriginSpec> = {}): OriginSpec =>
  parseOriginSpec({ url: "http://127.0.0.1:1/", intervalMs, ...over });

interface Call {
  url: string;
  at: number;
}

/** Answers after `delayMs` of virtual time (0: at once); records calls and the concurrency seen. */
class ScriptedProber implements Prober {
  readonly calls: Call[] = [];
  failing = new Set<string>();
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly inFlightByHost = new Map<string, number>();
  maxInFlightByHost = 0;
  aborted = 0;
  constructor(
    private readonly now: () => number,
    private readonly timers: Timers,
  ) {}
  probe(s: OriginSpec, signal?: AbortSignal): Promise<ProbeResult> {
    this.calls.push({ url: s.url, at: this.now() });
    const ok = !this.failing.has(s.url);
    const result = { ok, statusCode: ok ? 200 : 503, latencyMs: 3, error: ok ? null : "status 503" };
    if (this.delayMs === 0) return Promise.resolve(result);
    const host = new URL(s.url).host;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const perHost = (this.inFlightByHost.get(host) ?? 0) + 1;
    this.inFlightByHost.set(host, perHost);
    this.maxInFlightByHost = Math.max(this.maxInFlightByHost, perHost);
    return new Promise((resolve, reject) => {
      const done = () => {
        this.inFlight--;
        this.inFlightByHost.set(host, (this.inFlightByHost.get(host) ?? 1) - 1);
      };
      const handle = this.timers.setTimeout(() => {
        done();
        resolve(result);
      }, this.delayMs);
      signal?.addEventListener("abort", () => {
        this.timers.clearTimeout(handle);
        this.aborted++;
        done();
        reject(signal.reason);
      });
    });
  }
  urls(from = 0): string[] {
    return this.calls.slice(from).map((c) => c.url);
  }
}

class MemoryState implements CheckerState {
  readonly origins = new Map<string, OriginEntry>();
  readonly health = new Map<string, HealthRecord>();
  readonly writes: HealthRecord[] = [];
  #writes = 0;
  /** Puts `s` as a new catalog write (a new dot), as the replicated catalog does. */
  add(id: string, s: OriginSpec): void {
    this.origins.set(id, {
      id,
      spec: s,
      dot: { writer: "x", counter: ++this.#writes },
      target: { writer: "x", counter: 1 },
      wall: 1,
    });
  }
  liveOrigins(): Iterable<OriginEntry> {
    return [...this.origins.values()].filter((e) => e.spec !== null);
  }
  origin(id: string): OriginEntry | undefined {
    return this.origins.get(id);
  }
  isLive(id: string): boolean {
    return this.origins.get(id)?.spec != null;
  }
  /** Probe watermarks per member, as gossiped (one interval only here). */
  readonly marks = new Map<string, number>();
  healthOf(id: string, owner?: string): HealthRecord | undefined {
    const record = this.health.get(id);
    const mark = owner === undefined ? undefined : this.marks.get(owner);
    if (record === undefined || mark === undefined || mark <= (record.checkedAt ?? 0)) return record;
    return { ...record, checkedAt: mark };
  }
  recordHealth(id: string, fields: Omit<HealthRecord, "id">): void {
    const record = { id, ...fields };
    this.health.set(id, record);
    this.writes.push(record);
  }
}

/** Origin ids owned by `owner` when the members are `members`. */
function idsOwnedBy(owner: string, members: string[], n: number, prefix = "o"): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++)
    if (ownerOf(`${prefix}${i}`, members) === owner) out.push(`${prefix}${i}`);
  return out;
}

function setup(options: Partial<CheckerOptions> = {}) {
  const net = new SimNetwork({ seed: 1 });
  const host = net.addHost("self", { host: "10.0.0.1", port: 1 });
  const prober = new ScriptedProber(() => net.now, host.timers);
  const state = new MemoryState();
  let members = ["self"];
  const checker = new Checker({
    self: "self",
    prober,
    state,
    clock: net.clock,
    timers: host.timers,
    rng: seededRng(2),
    members: () => members,
    ...options,
  });
  const setMembers = (next: string[]) => {
    members = next;
    checker.membersChanged();
  };
  /** Advances virtual time in small steps, letting probe promises settle in between. */
  const run = async (ms: number, stepMs = 10) => {
    for (let t = 0; t < ms; t += stepMs) {
      net.runFor(stepMs);
      await new Promise((r) => setImmediate(r));
    }
  };
  return { net, host, prober, state, checker, run, setMembers };
}

describe("checker", () => {
  test("probes only the origins this node owns, about once per interval", async () => {
    const { prober, state, checker, run, setMembers } = setup();
    const [mine] = idsOwnedBy("self", ["self", "other"], 1);
    const [theirs] = idsOwnedBy("other", ["self", "other"], 1);
    state.add(mine!, spec(1000, { url: "http://127.0.0.1:1/mine" }));
    state.add(theirs!, spec(1000, { url: "http://127.0.0.1:1/theirs" }));
    setMembers(["self", "other"]);
    checker.reconcile();
    await run(10_000);
    const count = prober.urls().filter((u) => u.endsWith("/mine")).length;
    assert.ok(count >= 9 && count <= 11, `probed ${count} times in 10 intervals`);
    assert.equal(prober.urls().filter((u) => u.endsWith("/theirs")).length, 0);
    assert.equal(checker.owned(), 1);
    assert.equal(checker.ownerOf(theirs!), "other");
    checker.stop();
  });

  test("origins that moved away while waiting for their host do not hold up those still owned", async () => {
    // One host, at most 2 probes in flight to it, each taking 1 s: alone, this node owns every
    // origin and most wait in the host's line; then another member joins and takes most of them.
    // The ones this node keeps must start as slots free up, not wait behind the departed ones.
    const { net, prober, state, checker, run, setMembers } = setup({ maxProbesPerHost: 2 });
    prober.delayMs = 1000;
    const ids = Array.from({ length: 40 }, (_, i) => `w${i}`);
    for (const id of ids) state.add(id, spec(60_000, { url: `http://127.0.0.1:1/${id}` }));
    checker.reconcile();
    // Every first probe comes due within 2 s: by then two are in flight and the rest in line.
    await run(2100);
    assert.equal(prober.inFlightByHost.get("127.0.0.1:1"), 2, "two in flight, the rest in line");
    setMembers(["self", "other"]);
    await run(50);
    const kept = ids.filter((id) => ownerOf(id, ["self", "other"]) === "self");
    const from = net.now;
    await run(kept.length * 1000 + 3000);
    const firstProbe = (id: string) => prober.calls.find((c) => c.url.endsWith(`/${id}`))?.at;
    for (const id of kept) {
      const at = firstProbe(id);
      assert.ok(at !== undefined, `${id} was never probed`);
      // Two at a time, one second each: the last of them starts within about kept / 2 seconds.
      assert.ok(at - from <= (kept.length / 2) * 1000 + 1500, `${id} started ${at - from} ms after the join`);
    }
    checker.stop();
  });

  test("the probe watermark is, per interval, the oldest last probe of the origins owned and probed", async () => {
    const { net, prober, state, checker, run, setMembers } = setup();
    const members = ["self", "other"];
    setMembers(members);
    const [fast1, fast2] = idsOwnedBy("self", members, 2, "f");
    const [slow] = idsOwnedBy("self", members, 1, "s");
    const [theirs] = idsOwnedBy("other", members, 1, "t");
    state.add(fast1!, spec(1000, { url: "http://127.0.0.1:1/f1" }));
    state.add(fast2!, spec(1000, { url: "http://127.0.0.1:1/f2" }));
    state.add(slow!, spec(60_000, { url: "http://127.0.0.1:1/s" }));
    state.add(theirs!, spec(5000, { url: "http://127.0.0.1:1/t" }));
    checker.reconcile();
    assert.deepEqual([...checker.probeWatermark()], [], "nothing probed yet");
    await run(10_000);
    const marks = checker.probeWatermark();
    assert.deepEqual(
      [...marks.keys()].sort((a, b) => a - b),
      [1000, 60_000],
      "no mark for an origin owned elsewhere",
    );
    // The last probe of each: when its result was recorded (its checkedAt).
    const checked = (id: string) => state.health.get(id)?.checkedAt as number;
    assert.equal(marks.get(1000), Math.min(checked(fast1!), checked(fast2!)));
    assert.equal(marks.get(60_000), checked(slow!));
    assert.ok(prober.calls.length > 10);
    assert.ok(
      net.now - (marks.get(1000) as number) <= 1200,
      "the fast origins were probed within an interval",
    );
    checker.stop();
  });

  test("a new owner keeps the cadence of an origin probed lately, and probes an overdue one at once", async () => {
    const { net, prober, state, checker, run } = setup();
    // Start 20 s after one of the recent origin's grid instants, where its last probe was.
    const phase = phaseOffsetMs("recent", 60_000);
    await run((((phase + 20_000 - net.now) % 60_000) + 60_000) % 60_000);
    const now = net.now;
    state.add("recent", spec(60_000, { url: "http://127.0.0.1:1/recent" }));
    state.add("overdue", spec(60_000, { url: "http://127.0.0.1:1/overdue" }));
    state.add("new", spec(60_000, { url: "http://127.0.0.1:1/new" }));
    const health = (checkedAt: number): HealthRecord => ({
      id: "",
      status: "healthy",
      reporter: "gone",
      checkedAt,
      changedAt: checkedAt,
      latencyMs: 1,
      error: null,
      confirmedBy: null,
    });
    state.health.set("recent", health(now - 20_000));
    state.health.set("overdue", health(now - 120_000));
    checker.reconcile();
    await run(10);
    assert.deepEqual(prober.urls(), ["http://127.0.0.1:1/overdue"]);
    await run(2000);
    assert.deepEqual(prober.urls(1), ["http://127.0.0.1:1/new"], "a new origin within 2 s");
    await run(28_000);
    assert.ok(!prober.urls().includes("http://127.0.0.1:1/recent"), "the recent one waits for its grid");
    await run(15_000);
    // Due 60 s after its last probe, within the jitter (±3 s).
    assert.ok(prober.urls().includes("http://127.0.0.1:1/recent"));
    checker.stop();
  });

  test("an origin taken from a member goes by that member's probe watermark, not only by its last record", async () => {
    const { net, prober, state, checker, run, setMembers } = setup();
    const members = ["self", "other"];
    const [kept] = idsOwnedBy("other", members, 1);
    // Start 20 s after a grid instant of `kept`, where its owner last probed it.
    const phase = phaseOffsetMs(kept!, 60_000);
    await run((((phase + 20_000 - net.now) % 60_000) + 60_000) % 60_000);
    const now = net.now;
    for (const id of [kept!]) {
      state.add(id, spec(60_000, { url: `http://127.0.0.1:1/${id}` }));
      // The last status change was written two minutes ago; probes since changed nothing.
      state.health.set(id, {
        id,
        status: "healthy",
        reporter: "other",
        checkedAt: now - 120_000,
        changedAt: now - 120_000,
        latencyMs: 1,
        error: null,
        confirmedBy: null,
      });
    }
    setMembers(members);
    checker.reconcile();
    await run(10);
    assert.equal(checker.owned(), 0);
    // `other` had probed everything it owned by 20 s ago; then it goes.
    state.marks.set("other", now - 20_000);
    setMembers(["self"]);
    await run(2100);
    const probed = prober.urls().map((u) => u.slice(u.lastIndexOf("/") + 1));
    assert.ok(!probed.includes(kept!), "probed 20 s after its owner did: not overdue, it waits for its grid");
    await run(40_000);
    assert.ok(
      prober.urls().some((u) => u.endsWith(`/${kept}`)),
      "probed on its grid, 60 s after the last",
    );
    checker.stop();
  });

  test("a member that joins takes its origins at once, a probe in flight is aborted; they return when it leaves", async () => {
    const { prober, state, checker, run, setMembers } = setup();
    const ids = Array.from({ length: 40 }, (_, i) => `o${i}`);
    for (const id of ids) state.add(id, spec(500, { url: `http://127.0.0.1:1/${id}` }));
    checker.reconcile();
    await run(1000);
    assert.equal(checker.owned(), 40);
    prober.delayMs = 200;
    await run(600);
    const moving = new Set(ids.filter((id) => ownerOf(id, ["self", "joiner"]) === "joiner"));
    assert.ok(moving.size > 5 && moving.size < 35, `${moving.size} move`);
    setMembers(["self", "joiner"]);
    await run(10);
    assert.ok(prober.aborted > 0, "probes in flight for moved origins were aborted");
    assert.equal(checker.owned(), 40 - moving.size);
    const before = prober.calls.length;
    await run(3000);
    const after = prober.urls(before).map((u) => u.slice(u.lastIndexOf("/") + 1));
    assert.equal(after.filter((id) => moving.has(id)).length, 0, "moved origins no longer probed here");
    assert.ok(after.length > 0);
    setMembers(["self"]);
    await run(10);
    assert.equal(checker.owned(), 40);
    checker.stop();
  });

  test("an inherited origin is probed within min(interval, 2 s), staggered rather than all at once", async () => {
    const { net, prober, state, checker, run, setMembers } = setup();
    const members = ["self", "doomed"];
    setMembers(members);
    const inherited = idsOwnedBy("doomed", members, 3000);
    for (const id of inherited) state.add(id, spec(3_600_000, { url: `http://127.0.0.1:1/${id}` }));
    checker.reconcile();
    await run(5000, 50);
    assert.equal(prober.calls.length, 0, "the other member's origins are not probed here");
    const diedAt = net.now;
    setMembers(["self"]);
    // Small steps: probe results (promises) settle between steps, as they would within a few ms.
    await run(2100, 5);
    assert.equal(new Set(prober.urls()).size, 3000, "every inherited hourly origin probed within 2 s");
    const perWindow = new Map<number, number>();
    for (const c of prober.calls) {
      assert.ok(c.at - diedAt <= 2050, `probe at +${c.at - diedAt} ms`);
      const w = Math.floor((c.at - diedAt) / 100);
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    // 3000 spread evenly over 2 s is 150 per 100 ms; allow for hashing noise, never a burst.
    const busiest = Math.max(...perWindow.values());
    assert.ok(busiest < 300, `busiest 100 ms: ${busiest}`);
    checker.stop();
  });

  test("concurrency is bounded per node and per target host, and every origin still gets probed", async () => {
    const { prober, state, checker, run } = setup({ maxConcurrentProbes: 20, maxProbesPerHost: 3 });
    prober.delayMs = 300;
    for (let i = 0; i < 200; i++) {
      const host = `127.0.0.${1 + (i % 10)}`;
      state.add(`o${i}`, spec(1000, { url: `http://${host}:1/o${i}`, timeoutMs: 500 }));
    }
    checker.reconcile();
    await run(10_000);
    assert.ok(prober.maxInFlight <= 20, `max in flight ${prober.maxInFlight}`);
    assert.ok(prober.maxInFlightByHost <= 3, `max per host ${prober.maxInFlightByHost}`);
    assert.equal(prober.maxInFlight, 20, "the node limit is used, not undershot");
    assert.equal(new Set(prober.urls()).size, 200, "no origin starves");
    checker.stop();
  });

  test("under overload, a host's waiting probes take its free slots in turn: none waits without end", async () => {
    // 200 origins on 10 hosts; 20 probes of 300 ms at a time (3 per host): about 67 a second
    // against a demand of 200, so a round of every origin takes some 3 s.
    const { prober, state, checker, run } = setup({ maxConcurrentProbes: 20, maxProbesPerHost: 3 });
    prober.delayMs = 300;
    for (let i = 0; i < 200; i++) {
      state.add(`o${i}`, spec(1000, { url: `http://127.0.0.${1 + (i % 10)}:1/o${i}`, timeoutMs: 500 }));
    }
    checker.reconcile();
    await run(30_000);
    const times = new Map<string, number[]>();
    for (const c of prober.calls) times.set(c.url, [...(times.get(c.url) ?? []), c.at]);
    assert.equal(times.size, 200, "every origin probed");
    for (const [url, at] of times) {
      const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
      assert.ok(at.length >= 5 && Math.max(...gaps) <= 8000, `${url}: ${at.length} probes, gaps ${gaps}`);
    }
    checker.stop();
  });

  test("fastIntervalMs while the status changes, downIntervalMs while down", async () => {
    const { prober, state, checker, run } = setup({ jitterPercent: 0 });
    const url = "http://127.0.0.1:1/flaky";
    state.add(
      "flaky",
      spec(10_000, { url, fastIntervalMs: 1000, downIntervalMs: 30_000, unhealthyThreshold: 3 }),
    );
    state.health.set("flaky", {
      id: "flaky",
      status: "healthy",
      reporter: "old",
      checkedAt: 1,
      changedAt: 1,
      latencyMs: 1,
      error: null,
    });
    prober.failing.add(url);
    checker.reconcile();
    await run(100_000, 50);
    const at = prober.calls.map((c) => c.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // Healthy: the first failure comes after the handover; then two fast probes flip it; then down.
    // Each change of interval first moves to the origin's grid for the new interval (between half
    // an interval and one and a half), then keeps exactly one interval (no jitter here).
    assert.ok(gaps[0]! >= 500 && gaps[0]! < 1500, `gaps ${gaps}`);
    assert.equal(gaps[1], 1000, `gaps ${gaps}`);
    assert.ok(gaps[2]! >= 15_000 && gaps[2]! < 45_000, `gaps ${gaps}`);
    assert.equal(gaps[3], 30_000, `gaps ${gaps}`);
    assert.equal(state.health.get("flaky")?.status, "unhealthy");
    prober.failing.clear();
    const n = prober.calls.length;
    await run(35_000, 50);
    const recovering = prober.calls.slice(n - 1).map((c) => c.at);
    const recoveryGap = recovering[2]! - recovering[1]!;
    assert.ok(recoveryGap >= 500 && recoveryGap < 1500, `a success while down: fast again, ${recoveryGap}`);
    checker.stop();
  });

  test("a new owner carries on from the replicated status instead of starting at unknown", async () => {
    const { state, checker, run, prober } = setup();
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
    assert.equal(last.reporter, "self");
    assert.equal(last.error, "status 503");
    checker.stop();
  });

  test("a replaced spec takes effect; a deleted origin stops being probed", async () => {
    const { prober, state, checker, run } = setup({ jitterPercent: 0 });
    state.add("o", spec(1000, { url: "http://127.0.0.1:1/v1" }));
    checker.reconcile();
    await run(3000);
    state.add("o", spec(500, { url: "http://127.0.0.1:1/v2" }));
    checker.originChanged("o");
    const n = prober.calls.length;
    await run(3000);
    const v2 = prober.calls.slice(n).filter((c) => c.url.endsWith("/v2"));
    assert.ok(v2.length >= 5, `${v2.length} probes of the new spec`);
    state.origins.delete("o");
    checker.originChanged("o");
    await run(10);
    const m = prober.calls.length;
    await run(3000);
    assert.equal(prober.calls.length, m);
    assert.equal(checker.owned(), 0);
    checker.stop();
  });

  test("tasks ended while in line or in flight let go of their slots; a re-created origin gets a task of its own", async () => {
    const keySpace = new KeySpace();
    const { prober, state, checker, run } = setup({ keySpace, maxProbesPerHost: 1, jitterPercent: 0 });
    prober.delayMs = 400;
    const ids = ["a", "b", "c", "d", "e"];
    const deleteAll = () => {
      for (const id of ids) {
        state.origins.delete(id);
        checker.originChanged(id);
      }
    };
    for (const id of ids) state.add(id, spec(1000, { url: `http://127.0.0.1:1/${id}` }));
    checker.reconcile();
    // All five fall due within the 1 s window; one host slot: one probe runs, the rest wait in line.
    await run(1100);
    assert.equal(prober.inFlight, 1);
    assert.equal(keySpace.size, 5);
    deleteAll();
    await run(20);
    assert.equal(checker.owned(), 0);
    assert.equal(prober.aborted, 1, "the probe in flight is aborted");
    // Re-created at once, while the old tasks may still sit in the host's line.
    for (const id of ids) state.add(id, spec(1000, { url: `http://127.0.0.1:1/${id}/new` }));
    for (const id of ids) checker.originChanged(id);
    const from = prober.calls.length;
    await run(5000);
    assert.equal(checker.owned(), 5);
    assert.deepEqual(
      new Set(prober.urls(from).map((u) => u.split("/").slice(-2).join("/"))),
      new Set(ids.map((id) => `${id}/new`)),
      "only the new specs are probed",
    );
    assert.equal(prober.maxInFlightByHost, 1);
    deleteAll();
    await run(2000);
    assert.equal(checker.owned(), 0);
    assert.equal(prober.inFlight, 0);
    assert.equal(keySpace.size, 0, "no slot is held for a task that ended");
    checker.stop();
  });

  test("a replaced spec is probed soon even on a long interval; on such an interval each probe reads its spec", async () => {
    const { prober, state, checker, run } = setup({ jitterPercent: 0 });
    state.add("o", spec(3_600_000, { url: "http://127.0.0.1:1/v1" }));
    checker.reconcile();
    await run(2500);
    assert.deepEqual(prober.urls(), ["http://127.0.0.1:1/v1"]);
    state.add("o", spec(3_600_000, { url: "http://127.0.0.1:1/v2" }));
    checker.originChanged("o");
    await run(2500);
    assert.deepEqual(prober.urls(1), ["http://127.0.0.1:1/v2"], "within the 2 s handover window");
    // A write the checker has not been told of yet still applies to the next probe: on a long
    // interval the task does not hold its spec, which is read from the catalog when a probe starts.
    state.add("o", spec(1000, { url: "http://127.0.0.1:1/v3" }));
    await run(5_500_000, 60_000);
    assert.equal(prober.urls(2)[0], "http://127.0.0.1:1/v3");
    // Deleted before its next probe, the change not yet applied: no probe, and the task ends.
    state.origins.delete("o");
    const n = prober.calls.length;
    await run(5_500_000, 60_000);
    assert.equal(prober.calls.length, n);
    assert.equal(checker.owned(), 0);
    checker.stop();
  });

  /**
   * A checker alone owning `n` origins, whose timer callbacks note how many it owns after each:
   * `steps()` is how far each turn of ownership work got.
   */
  function sliced(n: number, options: Partial<CheckerOptions> = {}, onRead?: () => void) {
    const net = new SimNetwork({ seed: 1 });
    const host = net.addHost("self", { host: "10.0.0.1", port: 1 });
    const state = new MemoryState();
    if (onRead) {
      const isLive = state.isLive.bind(state);
      state.isLive = (id) => {
        onRead();
        return isLive(id);
      };
    }
    for (let i = 0; i < n; i++) state.add(`o${i}`, spec(60_000, { url: `http://127.0.0.1:1/${i}` }));
    const progress: number[] = [];
    let checker: Checker | undefined;
    const timers: Timers = {
      setTimeout: (fn, delayMs) =>
        host.timers.setTimeout(() => {
          fn();
          progress.push(checker?.owned() ?? 0);
        }, delayMs),
      clearTimeout: (handle) => host.timers.clearTimeout(handle),
    };
    checker = new Checker({
      self: "self",
      prober: new ScriptedProber(() => net.now, host.timers),
      state,
      clock: net.clock,
      timers,
      rng: seededRng(2),
      members: () => ["self"],
      ...options,
    });
    checker.reconcile();
    net.runFor(0);
    const steps = () => progress.filter((owned, i) => owned > (progress[i - 1] ?? 0));
    return { checker, steps };
  }

  test("a large catalog is taken in slices, one timer turn at a time", async () => {
    const { checker, steps } = sliced(5000, { ownershipHashesPerTurn: 1000 });
    assert.equal(checker.owned(), 5000);
    // 5000 origins at about 9 hashes' worth each, 1000 per turn: some 45 turns, none of them all.
    assert.ok(steps().length >= 30, `${steps().length} turns`);
    assert.ok((steps()[0] ?? 0) < 200, `first turn took ${steps()[0]}`);
    checker.stop();
  });

  test("a slice of ownership work also ends after 8 ms, however much of its hash budget is left", async () => {
    // A clock that moves a millisecond for each origin the checker reads, as if each took that long.
    let ms = 0;
    const { checker, steps } = sliced(500, { clock: { now: () => ms } }, () => {
      ms += 1;
    });
    assert.equal(checker.owned(), 500);
    // The default budget (2500 hashes) would take some 270 origins a turn; the clock is read every
    // 16 origins, so a turn takes 16 (its 8 ms are past at the first reading).
    assert.ok((steps()[0] ?? 0) <= 16, `first turn took ${steps()[0]}`);
    assert.ok(steps().length >= 25, `${steps().length} turns`);
    checker.stop();
  });

  test("stop() cancels every timer and is safe twice", async () => {
    const { net, host, prober, state, checker, run } = setup();
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

describe("checker: confirmation from a second member (issue 8, item 4)", () => {
  const failing = (over: Partial<OriginSpec> = {}) =>
    spec(1000, { url: "http://127.0.0.1:1/down", unhealthyThreshold: 1, ...over });

  async function turnDown(
    answer: { by: string; failed: boolean } | undefined,
    over: Partial<OriginSpec> = {},
  ) {
    const asked: string[] = [];
    const outcomes: string[] = [];
    const { prober, state, checker, run } = setup({
      confirm: (id) => {
        asked.push(id);
        return Promise.resolve(answer);
      },
      onConfirm: (o) => outcomes.push(o),
    });
    state.add("o", failing(over));
    state.health.set("o", {
      id: "o",
      status: "healthy",
      reporter: "self",
      checkedAt: 1,
      changedAt: 1,
      latencyMs: 1,
      error: null,
    });
    prober.failing.add("http://127.0.0.1:1/down");
    checker.reconcile();
    await run(3500);
    checker.stop();
    return { asked, outcomes, statuses: state.writes.map((w) => w.status), last: state.writes.at(-1) };
  }

  test("a failure the other member does not see turns nothing unhealthy", async () => {
    const r = await turnDown({ by: "peer", failed: false });
    assert.ok(r.asked.length >= 2, `asked ${r.asked.length} times`);
    assert.ok(r.outcomes.every((o) => o === "refuted"));
    assert.ok(!r.statuses.includes("unhealthy"), `writes: ${r.statuses.join(",")}`);
  });

  test("a failure the other member sees too turns the origin unhealthy, naming it", async () => {
    const r = await turnDown({ by: "peer", failed: true });
    assert.equal(r.asked.length, 1, "asked once, on the turn");
    assert.deepEqual(r.outcomes, ["confirmed"]);
    assert.equal(r.last?.status, "unhealthy");
    assert.equal(r.last?.confirmedBy, "peer");
  });

  test("with nobody to ask, the verdict stands on this node's probes", async () => {
    const r = await turnDown(undefined);
    assert.deepEqual(r.outcomes, ["unanswered"]);
    assert.equal(r.last?.status, "unhealthy");
    assert.equal(r.last?.confirmedBy, null);
  });

  test("confirm: false turns the origin unhealthy without asking", async () => {
    const r = await turnDown({ by: "peer", failed: false }, { confirm: false });
    assert.deepEqual(r.asked, []);
    assert.equal(r.last?.status, "unhealthy");
  });
});
