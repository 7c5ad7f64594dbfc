import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pack } from "msgpackr";
import { parseOriginSpec } from "../../../src/core/checks/spec.js";
import { compareVersions, type Version } from "../../../src/core/state/causal-map.js";
import type { Dot } from "../../../src/core/state/dots.js";
import type { HealthFields, Replicator, StateChange } from "../../../src/core/state/replication.js";
import {
  decodeFrame,
  encodeVector,
  frame,
  KIND_DIGEST,
  WIRE_FORMAT_VERSION,
  WIRE_MAGIC,
} from "../../../src/core/state/state-wire.js";
import type { CatalogValue } from "../../../src/core/state/types.js";
import { Mesh, spec, specB, T0, visible } from "./mesh.js";

const unhealthy: HealthFields = {
  status: "unhealthy",
  reporter: "a",
  checkedAt: T0,
  changedAt: T0,
  latencyMs: 12,
  error: "status 503",
};
const healthy: HealthFields = { ...unhealthy, status: "healthy", error: null };

function framed(value: unknown, version = WIRE_FORMAT_VERSION): Uint8Array {
  const body = pack(value);
  const out = new Uint8Array(body.length + 2);
  out.set([WIRE_MAGIC, version]);
  out.set(body, 2);
  return out;
}

/**
 * A node whose clock moves 4 ms each time it is read (the merge reads it every 8 items) and whose
 * next turns wait in `turns` until the test runs them.
 */
function slicedNode(mesh: Mesh, name: string): { node: Replicator; turns: Array<() => void> } {
  let t = T0;
  const turns: Array<() => void> = [];
  const node = mesh.add(name, {
    clock: { now: () => (t += 4) },
    timers: { setTimeout: () => ({}), clearTimeout: () => {}, soon: (fn) => turns.push(fn) },
  });
  return { node, turns };
}

describe("Replicator: local writes", () => {
  it("putOrigin creates, then replaces, and an identical put writes nothing", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    assert.equal(a.putOrigin("o1", spec).created, true);
    const vvAfterFirst = a.context.vv.get("w-a");
    assert.equal(a.putOrigin("o1", spec).created, false);
    assert.equal(a.context.vv.get("w-a"), vvAfterFirst, "no new dot for an identical spec");
    const replaced = a.putOrigin("o1", specB);
    assert.equal(replaced.created, false);
    assert.equal(a.origin("o1")?.spec.url, specB.url);
    assert.equal(a.originCount, 1);
  });

  it("a delete leaves a tombstone and a re-created id starts unknown", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    a.putOrigin("o1", spec);
    a.recordHealth("o1", unhealthy);
    assert.equal(a.healthOf("o1")?.status, "unhealthy");
    assert.equal(a.deleteOrigin("o1"), true);
    assert.equal(a.deleteOrigin("o1"), false, "nothing live to delete");
    assert.equal(a.origin("o1"), undefined);
    assert.equal(a.tombstones(), 1);
    assert.equal(a.health.get("o1"), undefined, "health of a deleted origin goes with it");
    assert.equal(a.putOrigin("o1", spec).created, true);
    assert.equal(a.healthOf("o1"), undefined, "re-created: no status carried over");
  });

  it("a spec whose target changed starts unknown; a new interval keeps the status", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    a.putOrigin("o1", spec);
    a.recordHealth("o1", unhealthy);
    a.putOrigin("o1", parseOriginSpec({ url: spec.url, intervalMs: 1000 }));
    assert.equal(a.healthOf("o1")?.status, "unhealthy", "same URL, method and headers");
    a.putOrigin("o1", parseOriginSpec({ url: spec.url, intervalMs: 1000, headers: { Host: "x" } }));
    assert.equal(a.healthOf("o1"), undefined, "new headers: a new target");
  });

  it("a probe that confirms the status writes no new version and gossips nothing", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    a.putOrigin("o1", spec);
    mesh.gossip("a", "a");
    a.recordHealth("o1", healthy);
    const top = a.context.vv.get("w-a");
    assert.equal(a.pendingBroadcasts, 1, "the status change is queued");
    mesh.gossip("a", "a");
    a.recordHealth("o1", { ...healthy, checkedAt: T0 + 5000, latencyMs: 7 });
    assert.equal(a.context.vv.get("w-a"), top);
    assert.equal(a.pendingBroadcasts, 0);
    assert.equal(a.healthOf("o1")?.checkedAt, T0 + 5000, "the owner's own view is fresh");
    assert.equal(a.healthOf("o1")?.latencyMs, 7);
  });

  it("fires onChange for what readers see, and a throwing listener harms nothing", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const seen: StateChange[] = [];
    a.onChange(() => {
      throw new Error("boom");
    });
    const off = a.onChange((c) => seen.push(c));
    a.putOrigin("o1", spec);
    a.recordHealth("o1", unhealthy);
    a.recordHealth("o1", { ...unhealthy, checkedAt: T0 + 1 });
    a.deleteOrigin("o1");
    off();
    a.putOrigin("o2", spec);
    assert.deepEqual(
      seen.map((c) => `${c.kind}:${c.id}:${c.kind === "origin" ? Boolean(c.entry) : c.record?.status}`),
      ["origin:o1:true", "health:o1:unhealthy", "origin:o1:false"],
    );
  });
});

describe("Replicator: gossip", () => {
  it("a delta reaches a peer and is forwarded by it to a third node", () => {
    const mesh = new Mesh();
    mesh.add("a").putOrigin("o1", spec);
    mesh.add("b");
    mesh.add("c");
    mesh.gossip("a", "b");
    mesh.gossip("b", "c");
    assert.equal(mesh.node("c").origin("o1")?.spec.url, spec.url);
    assert.deepEqual(visible(mesh.node("c")), visible(mesh.node("a")));
  });

  it("every gossip payload fits the packet room", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    mesh.add("b");
    for (let i = 0; i < 40; i++) a.putOrigin(`origin-${i}`, spec);
    for (const limit of [200, 600, 1400]) {
      const payloads = a.getBroadcasts(2, limit);
      for (const p of payloads) assert.ok(p.length + 2 <= limit, `${p.length} within ${limit}`);
      for (const p of payloads) mesh.node("b").notifyUserMessage(p, undefined);
    }
    mesh.gossip("a", "b");
    assert.equal(mesh.node("b").originCount, 40);
  });

  it("a put concurrent with a delete survives it (add-wins)", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const b = mesh.add("b");
    a.putOrigin("o1", spec);
    mesh.gossip("a", "b");
    // Neither has seen the other's write: b deletes what it saw, a replaces it meanwhile.
    b.deleteOrigin("o1");
    a.putOrigin("o1", specB);
    mesh.gossip("a", "b");
    mesh.gossip("b", "a");
    for (const r of [a, b]) assert.equal(r.origin("o1")?.spec.url, specB.url, `${r.node} keeps the put`);
    // A delete that has seen the put removes it everywhere.
    b.deleteOrigin("o1");
    mesh.gossip("b", "a");
    assert.equal(a.origin("o1"), undefined);
  });

  it("a causally later write wins even when its writer's clock is 5 minutes behind", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const slow = mesh.add("slow", {}, -5 * 60_000);
    a.putOrigin("o1", spec);
    mesh.gossip("a", "slow");
    slow.putOrigin("o1", specB);
    mesh.gossip("slow", "a");
    for (const r of [a, slow]) assert.equal(r.origin("o1")?.spec.url, specB.url);
  });

  it("a node whose clock is 5 minutes ahead neither drags others' clocks nor beats a later write", () => {
    const mesh = new Mesh();
    const fast = mesh.add("fast", {}, 5 * 60_000);
    const b = mesh.add("b");
    fast.putOrigin("o1", spec);
    mesh.gossip("fast", "b");
    assert.equal(b.origin("o1")?.spec.url, spec.url, "its write is not lost");
    assert.ok(b.clock.last().wall < T0 + 60_000, "b's clock did not follow");
    b.putOrigin("o1", specB);
    mesh.gossip("b", "fast");
    for (const r of [fast, b]) assert.equal(r.origin("o1")?.spec.url, specB.url, "the later write wins");
  });

  it("refuses writes stamped a day ahead, counts them, and takes them once the clock is within reach", () => {
    const mesh = new Mesh();
    const wild = mesh.add("wild", {}, 2 * 24 * 3600_000);
    const b = mesh.add("b");
    wild.putOrigin("o1", spec);
    mesh.gossip("wild", "b");
    assert.equal(b.origin("o1"), undefined);
    assert.ok(b.stats.refusedWrites > 0);
    assert.equal(b.context.has({ writer: "w-wild", counter: 1 }), false, "a refused dot is not seen");
    mesh.pushPull("wild", "b");
    assert.equal(b.origin("o1"), undefined, "still refused by anti-entropy");
    mesh.advance(2 * 24 * 3600_000);
    mesh.pushPull("wild", "b");
    assert.equal(b.origin("o1")?.spec.url, spec.url, "nothing was lost");
  });
});

/** Node "a" of `mesh`, holding origins o0 .. o<n - 1>, sending chunks of `chunkKeys` keys. */
function seededNode(mesh: Mesh, n: number, chunkKeys: number): Replicator {
  const a = mesh.add("a", { chunkKeys });
  a.putOrigins(Array.from({ length: n }, (_, i) => ({ id: `o${i}`, spec })));
  return a;
}

describe("Replicator: anti-entropy", () => {
  it("the digest's size follows the writers, not the origins", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const small = a.localState(false).length;
    a.putOrigins(Array.from({ length: 5000 }, (_, i) => ({ id: `o${i}`, spec })));
    assert.ok(a.localState(false).length - small < 32, "one writer more, whatever the origin count");
  });

  it("repairs a node that missed some writes with exactly those records", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const b = mesh.add("b");
    a.putOrigins(Array.from({ length: 2000 }, (_, i) => ({ id: `o${i}`, spec })));
    mesh.pushPull("a", "b");
    assert.equal(b.originCount, 2000);
    mesh.down.add("b");
    a.putOrigins(Array.from({ length: 20 }, (_, i) => ({ id: `new${i}`, spec: specB })));
    a.deleteOrigin("o5");
    mesh.down.delete("b");
    const recordsBefore = a.stats.recordsOut;
    mesh.pushPull("a", "b");
    assert.equal(a.stats.recordsOut - recordsBefore, 21, "the 20 new origins and the delete");
    assert.deepEqual(visible(b), visible(a));
  });

  it("bootstraps a new node in bounded chunks, and one delivered in any order still converges", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 1050, 100);
    const b = mesh.add("b");
    b.mergeRemoteState(a.localState(false), false);
    a.mergeRemoteState(b.localState(false), false);
    // A few chunks are in flight at a time: each step delivers the newest queued stream first.
    let chunks = 0;
    while (mesh.queue.length > 0) {
      mesh.queue.reverse();
      chunks += mesh.settle(1);
    }
    assert.equal(chunks >= 11, true, `${chunks} chunks of at most 100 keys`);
    assert.equal(b.originCount, 1050);
    assert.ok(b.context.covers(a.context), "the final chunk brings the sender's context");
  });

  it("the sender's cloud travels in the first chunk only, and chunks that come before it wait", () => {
    // a has seen every other write of a writer now gone (gossip lost on the way): a cloud of 3,000.
    const bootstrap = (cloud: boolean) => {
      const mesh = new Mesh();
      const a = seededNode(mesh, 1000, 100);
      if (cloud) for (let k = 1; k <= 3000; k++) a.context.add({ writer: "w-gone", counter: 2 * k });
      const b = mesh.add("b");
      b.mergeRemoteState(a.localState(false), false);
      mesh.settle(1); // the pull request: the first three chunks go out
      mesh.queue.reverse();
      mesh.settle(2); // the third and the second chunk arrive first
      const early = b.originCount;
      const inbound = b.sessions.inbound;
      mesh.settle(1); // then the first
      const withFirst = b.originCount;
      mesh.settle();
      assert.equal(b.originCount, 1000);
      assert.ok(b.context.covers(a.context), "b claims all a has seen, its cloud included");
      return { bytes: mesh.streamBytes, early, inbound, withFirst };
    };
    const plain = bootstrap(false);
    const clouded = bootstrap(true);
    assert.equal(clouded.early, 0, "no chunk is merged before the one with the context");
    assert.equal(clouded.inbound, 1);
    assert.equal(clouded.withFirst, 300, "the first chunk, then the two that waited for it");
    const cloudBytes = pack(Array.from({ length: 3000 }, (_, k) => 2 * k + 2)).length;
    const extra = clouded.bytes - plain.bytes;
    // Once in the first chunk, and the digest's bounded part of it: not once per chunk (11 chunks).
    assert.ok(extra < 2.5 * cloudBytes, `${extra} B more for a cloud of ${cloudBytes} B`);
  });

  it("a puller of an older version, whose digest does not ask for the cloud once, gets it in every chunk", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 500, 100);
    for (let k = 1; k <= 50; k++) a.context.add({ writer: "w-gone", counter: 2 * k });
    const b = mesh.add("b");
    const clouds = () => {
      const out: unknown[] = [];
      for (const p of mesh.queue) {
        const decoded = decodeFrame(p.payload);
        if (decoded.ok === true) out.push(decoded.message[7]);
      }
      return out;
    };
    // A pull as an older version sends it: flags 1 (pull), nothing else.
    a.notifyUserMessage(frame([KIND_DIGEST, "b", encodeVector(b.context.vv), [], [], 1]), undefined);
    const legacy = clouds();
    assert.equal(legacy.length, 3, "three chunks in flight");
    for (const c of legacy)
      assert.ok(Array.isArray(c) && c.length === 2, "the cloud in each, as old pullers expect");
    mesh.settle(); // b, of this version, takes them too
    assert.equal(b.originCount, 500);
    assert.ok(b.context.covers(a.context));
    // This version's pull asks for the cloud once.
    const c = mesh.add("c");
    c.mergeRemoteState(a.localState(false), false);
    mesh.settle(1);
    const once = clouds();
    assert.equal(once.length, 3);
    assert.ok(Array.isArray(once[0]) && once.slice(1).every((x) => x === null), "in the first chunk only");
    mesh.settle();
    assert.ok(c.context.covers(a.context));
  });

  it("chunks held for a missing first chunk are bounded, and the next pull brings everything", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 1000, 10);
    const b = mesh.add("b");
    b.mergeRemoteState(a.localState(false), false);
    mesh.settle(1); // the pull request
    // The first chunk's stream hangs: it is neither read nor failed, and the sender goes on.
    const first = mesh.queue.shift();
    let most = 0;
    while (mesh.queue.length > 0) {
      mesh.settle(1);
      most = Math.max(most, b.sessions.waiting);
    }
    assert.ok(most >= 2 && most <= 32, `at most 32 chunks held (${most})`);
    assert.equal(b.originCount, 0, "nothing merged without the sender's context");
    first?.done(new Error("timed out"));
    mesh.advance(61_000); // the sender's retries go; whatever b holds of that session expires
    mesh.settle();
    mesh.advance(61_000);
    mesh.pushPull("a", "b");
    assert.equal(b.originCount, 1000);
    assert.equal(b.sessions.waiting, 0);
  });

  it("a bootstrap sends each spec and each status once, the status right after its spec", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 600, 50);
    for (let i = 0; i < 600; i += 2) a.recordHealth(`o${i}`, unhealthy);
    // Other writers' health too: their dots come after every spec in the session's order.
    const c = mesh.add("c");
    mesh.pushPull("a", "c");
    for (let i = 1; i < 600; i += 4) c.recordHealth(`o${i}`, healthy);
    // And one whose writer id sorts before the catalog's: its dots come before every spec.
    const first = mesh.add("0");
    mesh.pushPull("a", "0");
    for (let i = 3; i < 600; i += 4) first.recordHealth(`o${i}`, healthy);
    mesh.pushPull("c", "a");
    mesh.pushPull("0", "a");
    const b = mesh.add("b");
    const before = a.stats.recordsOut;
    b.mergeRemoteState(a.localState(false), false);
    a.mergeRemoteState(b.localState(false), false);
    mesh.settle();
    assert.equal(a.stats.recordsOut - before, 1200, "600 specs and 600 statuses, none twice");
    assert.deepEqual(visible(b), visible(a));
    for (let i = 0; i < 600; i++) assert.equal(b.statusOf(`o${i}`), i % 2 === 0 ? "unhealthy" : "healthy");
  });

  it("a new node is catching up while its bootstrap arrives; a node that missed a little is not", () => {
    const mesh = new Mesh();
    const told: boolean[] = [];
    const a = seededNode(mesh, 1000, 100);
    const b: Replicator = mesh.add("b", { sessionsChanged: () => told.push(b.catchingUp) });
    assert.equal(b.catchingUp, false);
    b.mergeRemoteState(a.localState(false), false);
    mesh.settle(4); // the pull request, then three chunks of 100
    assert.equal(b.receiving, true);
    assert.equal(b.catchingUp, true, "b had seen none of a's writes");
    mesh.settle();
    assert.equal(b.originCount, 1000);
    assert.equal(b.catchingUp, false, "the session ended");
    // b now holds everything but 300 new origins: a repair, not a catch-up.
    a.putOrigins(Array.from({ length: 300 }, (_, i) => ({ id: `n${i}`, spec })));
    b.mergeRemoteState(a.localState(false), false);
    mesh.settle(2); // the pull request, then the first chunk
    assert.equal(b.receiving, true);
    assert.equal(b.catchingUp, false);
    mesh.settle();
    assert.equal(b.originCount, 1300);
    // b was told when the bootstrap began and ended, and not of the repair.
    assert.deepEqual(told, [true, false]);
  });

  it("arriving chunks are merged a slice per turn, and a chunk is claimed only once merged whole", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 300, 100);
    // b's clock moves 4 ms each time it is read (the merge reads it every 8 records), so that its
    // 8 ms budget runs out after 16 records; its next turns wait in \`turns\` until the test runs them.
    const { node: b, turns } = slicedNode(mesh, "b");
    b.mergeRemoteState(a.localState(false), false);
    mesh.settle(2); // the pull request, then the first chunk
    assert.equal(b.originCount, 0, "merged once the turn's I/O is done, not on arrival");
    assert.equal(turns.length, 1);
    (turns.shift() as () => void)();
    assert.ok(b.originCount > 0 && b.originCount < 100, `${b.originCount} origins merged in the first turn`);
    assert.equal(turns.length, 1, "the rest waits for the next turn");
    assert.equal(b.receiving, true);
    assert.equal(
      b.context.vv.get("w-a") ?? 0,
      b.originCount,
      "the dots of the merged records, nothing claimed of the chunk before it is whole",
    );
    let slices = 1;
    while (turns.length > 0) {
      const before = b.originCount;
      (turns.shift() as () => void)();
      slices++;
      assert.ok(b.originCount - before <= 16, "each turn merges a bounded slice");
    }
    assert.equal(b.originCount, 100);
    assert.ok((b.context.vv.get("w-a") ?? 0) >= 100, "the whole chunk is claimed");
    assert.ok(slices >= 6, `${slices} turns for 100 keys`);
    // The other chunks arrive while a merge is under way: they wait their turn, in order.
    mesh.settle();
    while (turns.length > 0) (turns.shift() as () => void)();
    assert.equal(b.receiving, false);
    assert.deepEqual(visible(b), visible(a));
    assert.ok(b.context.covers(a.context));
  });

  it("gossip that arrives is joined after the turn's I/O, a bounded slice per turn", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    for (let i = 0; i < 60; i++) a.putOrigin(`g${i}`, spec);
    // b's clock moves 4 ms each time it is read, once per 8 items; gossip has half of each 8 ms
    // turn: 8 items.
    const { node: b, turns } = slicedNode(mesh, "b");
    for (const p of a.getBroadcasts(2, 64 * 1024)) b.notifyUserMessage(p, undefined);
    assert.equal(b.originCount, 0, "nothing joined on arrival");
    assert.equal(turns.length, 1, "one turn scheduled for all the packets");
    let slices = 0;
    while (turns.length > 0) {
      const before = b.originCount;
      (turns.shift() as () => void)();
      slices++;
      assert.ok(b.originCount - before <= 8, `${b.originCount - before} items in one turn`);
    }
    assert.equal(b.originCount, 60);
    assert.ok(slices >= 8, `${slices} turns for 60 items`);
    assert.deepEqual(visible(b), visible(a));
  });

  it("a steady stream of gossip does not starve a session's chunks: a turn merges some of both", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 100, 100);
    const g = mesh.add("g");
    for (let i = 0; i < 60; i++) g.putOrigin(`g${i}`, spec);
    const { node: b, turns } = slicedNode(mesh, "b");
    b.mergeRemoteState(a.localState(false), false);
    mesh.settle(2); // the pull request, then the first chunk
    for (const p of g.getBroadcasts(2, 64 * 1024)) b.notifyUserMessage(p, undefined);
    (turns.shift() as () => void)();
    const held = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => `${prefix}${i}`).filter((id) => b.origin(id)).length;
    assert.ok(held("g", 60) > 0, "gossip joined in the first turn");
    assert.ok(held("g", 60) < 60, "the gossip had more than half a turn's work");
    assert.ok(held("o", 100) > 0, "and chunk records too, with gossip still waiting");
  });

  it("a bootstrap cut short keeps its progress: the next pull sends only the rest", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 1000, 100);
    const b = mesh.add("b");
    b.mergeRemoteState(a.localState(false), false);
    mesh.settle(4); // the pull request, then three chunks of 100
    assert.equal(b.originCount, 300);
    assert.ok((b.context.vv.get("w-a") ?? 0) >= 300, "the vector advanced chunk by chunk");
    assert.equal(b.context.cloudSize(), 0, "no dot waits in the cloud");
    // b goes away for a while: the chunks in flight fail, and so do their second and third tries.
    mesh.down.add("b");
    for (let i = 0; i < 3; i++) {
      mesh.settle();
      mesh.advance(1000);
    }
    assert.equal(a.stats.sessionsAborted, 1);
    assert.equal(a.sessions.outbound, 0);
    assert.ok(b.catchingUp, "b still counts on the session");
    mesh.down.delete("b");
    mesh.advance(10_000); // b's pull has timed out; its session from a has not expired
    const before = a.stats.recordsOut;
    mesh.pushPull("a", "b");
    assert.equal(b.originCount, 1000);
    assert.equal(a.stats.recordsOut - before, 700, "only what b did not have");
    assert.equal(b.sessions.inbound, 0, "the new session from a replaced the one cut short");
    assert.equal(b.catchingUp, false);
  });

  it("a chunk whose stream fails is sent again, and the session goes on", () => {
    const mesh = new Mesh();
    const a = seededNode(mesh, 1000, 100);
    const b = mesh.add("b");
    b.mergeRemoteState(a.localState(false), false);
    mesh.settle(2); // the pull request, then the first chunk
    const failed = mesh.queue.shift();
    failed?.done(new Error("timed out")); // the second chunk is not read in time
    mesh.settle();
    assert.ok(b.originCount < 1000, "the other chunks came; the failed one waits for its retry");
    mesh.advance(250);
    mesh.settle();
    assert.equal(b.originCount, 1000);
    assert.equal(a.stats.chunkRetries, 1);
    assert.equal(a.stats.sessionsAborted, 0);
    assert.equal(b.sessions.inbound, 0);
  });

  it("a node that was away while a delete was collected does not bring the origin back", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const b = mesh.add("b");
    const c = mesh.add("c");
    a.putOrigins([
      { id: "keep", spec },
      { id: "gone", spec },
    ]);
    mesh.antiEntropy();
    mesh.down.add("c");
    a.deleteOrigin("gone");
    // Twice: the second round's digests show each side what the first delivered.
    mesh.antiEntropy();
    mesh.antiEntropy();
    // c is no member now; a and b have both seen the delete, so it is collected.
    assert.equal(a.collect(), 1);
    assert.equal(b.collect(), 1);
    assert.equal(a.tombstones(), 0);
    assert.equal(c.origin("gone")?.spec.url, spec.url, "c still holds it");
    mesh.down.delete("c");
    mesh.pushPull("c", "a");
    assert.equal(c.origin("gone"), undefined, "a full session brought c level");
    assert.equal(a.origin("gone"), undefined, "and c did not resurrect it on a");
    assert.equal(a.stats.fullSessionsOut, 1);
    mesh.antiEntropy();
    for (const r of [a, b, c]) assert.deepEqual(visible(r), [["keep", spec.url, "unknown"]]);
  });

  it("collects a tombstone only once every current member has seen it", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    mesh.add("b");
    a.putOrigin("o1", spec);
    mesh.antiEntropy();
    a.deleteOrigin("o1");
    assert.equal(a.collect(), 0, "b has not seen it");
    mesh.antiEntropy();
    assert.equal(a.collect(), 0, "a has no digest from b since b saw it");
    mesh.antiEntropy();
    assert.equal(a.collect(), 1);
    assert.equal(a.floor.get("w-a"), a.context.vv.get("w-a"));
  });

  it("an owner's watermark keeps checkedAt fresh on other nodes without per-probe gossip", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const b = mesh.add("b");
    a.putOrigin("o1", spec);
    a.recordHealth("o1", healthy);
    mesh.gossip("a", "b");
    a.recordHealth("o1", { ...healthy, checkedAt: T0 + 9000 });
    assert.equal(b.healthOf("o1", "a")?.checkedAt, T0);
    a.publishWatermark(new Map([[spec.intervalMs, T0 + 9000]]));
    mesh.gossip("a", "b");
    assert.equal(b.healthOf("o1", "a")?.checkedAt, T0 + 9000);
    assert.equal(b.healthOf("o1", "c")?.checkedAt, T0, "another owner's mark does not apply");
  });

  it("property: any order, loss and duplication of gossip, then anti-entropy in chunks of one key delivered in any order, gives every replica the add-wins result", () => {
    const ids = ["x", "y", "z"];
    const op = fc.record({
      node: fc.constantFrom("a", "b", "c"),
      kind: fc.constantFrom("put", "putB", "delete", "health", "gossip", "lose", "dup"),
      id: fc.constantFrom(...ids),
      peer: fc.constantFrom("a", "b", "c"),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(fc.nat(), { minLength: 1 }), (ops, picks) => {
        const mesh = new Mesh();
        // Sessions of one key per chunk, whose streams arrive in an order the picks choose: the
        // sender's context is claimed chunk by chunk, and a chunk may come before the first.
        for (const n of ["a", "b", "c"]) mesh.add(n, { chunkKeys: 1 });
        let step = 0;
        const pick = () => picks[step++ % picks.length] as number;
        // The sequential model of add-wins: a put survives unless a later write at its key was made
        // by a replica that had seen it; readers see the greatest surviving put.
        const writes: Array<{ id: string; put?: Version<CatalogValue>; observed: Dot[] }> = [];
        const putsAt = (id: string) => writes.filter((w) => w.id === id && w.put).map((w) => w.put!);
        for (const o of ops) {
          const r = mesh.node(o.node);
          const peer = mesh.node(o.peer);
          if (o.kind === "put" || o.kind === "putB" || (o.kind === "delete" && r.origin(o.id))) {
            const observed = putsAt(o.id).filter((v) => r.context.has(v));
            const before = r.context.vv.get(r.writer) ?? 0;
            if (o.kind === "delete") r.deleteOrigin(o.id);
            else r.putOrigin(o.id, o.kind === "put" ? spec : specB);
            const counter = r.context.vv.get(r.writer) ?? 0;
            if (counter === before) continue; // an identical put writes nothing
            const put =
              o.kind === "delete" ? undefined : r.catalog.get(o.id)?.find((v) => v.counter === counter);
            writes.push({ id: o.id, ...(put ? { put } : {}), observed });
          } else if (o.kind === "health" && r.origin(o.id)) r.recordHealth(o.id, unhealthy);
          else if (o.kind === "gossip" && o.node !== o.peer) mesh.gossip(o.node, o.peer);
          else if (o.kind === "lose") r.getBroadcasts(2, 1400);
          else if (o.kind === "dup" && o.node !== o.peer) {
            for (const p of r.getBroadcasts(2, 1400)) {
              peer.notifyUserMessage(p, undefined);
              peer.notifyUserMessage(p, undefined);
            }
          }
        }
        const expected = ids.flatMap((id) => {
          const alive = putsAt(id).filter(
            (p) =>
              !writes.some(
                (w) =>
                  w.id === id && w.observed.some((d) => d.writer === p.writer && d.counter === p.counter),
              ),
          );
          const best = alive.sort(compareVersions).at(-1);
          return best?.value ? [[id, best.value.spec.url]] : [];
        });
        mesh.antiEntropy(pick);
        mesh.antiEntropy(pick);
        const views = ["a", "b", "c"].map((n) => visible(mesh.node(n)));
        assert.deepEqual(
          views[0]!.map(([id, url]) => [id, url]),
          expected,
        );
        assert.deepEqual(views[1], views[0]);
        assert.deepEqual(views[2], views[0]);
        const contexts = ["a", "b", "c"].map((n) => {
          const ctx = mesh.node(n).context;
          const cloud = [...ctx.cloud].map(([w, cs]) => [w, [...cs].sort((x, y) => x - y)]);
          return [[...ctx.vv].sort(), cloud.sort()];
        });
        assert.deepEqual(contexts[1], contexts[0]);
        assert.deepEqual(contexts[2], contexts[0]);
      }),
      { numRuns: 300 },
    );
  });
});

describe("Replicator: untrusted input", () => {
  it("counts random bytes as malformed and never throws", () => {
    const r = new Mesh().add("a");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        r.notifyUserMessage(bytes, undefined);
        r.mergeRemoteState(bytes, false);
      }),
      { numRuns: 2000 },
    );
    r.notifyUserMessage(Uint8Array.of(WIRE_MAGIC, 9, 0x90), undefined);
    assert.ok(r.stats.malformed > 0);
    assert.equal(r.originCount, 0);
  });

  it("never throws on well-framed msgpack of arbitrary values and applies nothing from them", () => {
    const r = new Mesh().add("a");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.tuple(fc.constantFrom(0, 1, 2), fc.anything(), fc.anything(), fc.anything()),
          fc.tuple(
            fc.constant(0),
            fc.array(fc.tuple(fc.constantFrom(0, 1, 2), fc.string(), fc.anything(), fc.anything())),
          ),
        ),
        (value) => {
          let payload: Uint8Array;
          try {
            payload = framed(value);
          } catch {
            return;
          }
          r.notifyUserMessage(payload, undefined);
          r.mergeRemoteState(payload, false);
        },
      ),
      { numRuns: 2000 },
    );
    assert.equal(r.originCount, 0);
  });

  it("ignores foreign payloads such as Serf's without counting them, and counts the old format", () => {
    const r = new Mesh().add("a");
    r.notifyUserMessage(Uint8Array.of(0x01, 0x02, 0x03), undefined);
    r.mergeRemoteState(Uint8Array.of(0x04), false);
    assert.equal(r.stats.malformed, 0);
    r.notifyUserMessage(framed([0, []], 1), undefined);
    assert.equal(r.stats.malformed, 1);
  });

  it("applies the valid items of a partly malformed gossip batch", () => {
    const mesh = new Mesh();
    const a = mesh.add("a");
    const b = mesh.add("b");
    a.putOrigin("o1", spec);
    const [payload] = a.getBroadcasts(2, 1400);
    assert.ok(payload);
    // Splice a bogus item in front of the real one.
    const body = payload.subarray(4);
    const items = [Uint8Array.from(pack([0, "bad id with spaces", [], []])), body.subarray(1)];
    const batch = new Uint8Array(4 + 1 + items[0]!.length + items[1]!.length);
    batch.set([WIRE_MAGIC, WIRE_FORMAT_VERSION, 0x92, 0, 0x92]);
    batch.set(items[0]!, 5);
    batch.set(items[1]!, 5 + items[0]!.length);
    b.notifyUserMessage(batch, undefined);
    assert.equal(b.origin("o1")?.spec.url, spec.url);
    assert.equal(b.stats.malformed, 1);
  });
});
