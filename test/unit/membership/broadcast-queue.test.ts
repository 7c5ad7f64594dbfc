import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BroadcastQueue, retransmitLimit } from "../../../src/core/membership/broadcast-queue.js";

describe("retransmitLimit: retransmitMult * ceil(log10(n + 1))", () => {
  const cases: Array<[mult: number, n: number, expected: number]> = [
    [4, 0, 0],
    [4, 1, 4],
    [4, 9, 4],
    [4, 10, 8],
    [4, 99, 8],
    [4, 100, 12],
    [2, 5, 2],
    [3, 1000, 12],
  ];
  for (const [mult, n, expected] of cases) {
    it(`mult ${mult}, n ${n} -> ${expected}`, () => assert.equal(retransmitLimit(mult, n), expected));
  }
});

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("BroadcastQueue", () => {
  it("a broadcast with the same key invalidates the queued one", () => {
    const done: string[] = [];
    const q = new BroadcastQueue(() => 3);
    q.queue({ key: "n1", payload: bytes("old"), onDone: () => done.push("old") });
    q.queue({ key: "n2", payload: bytes("other") });
    q.queue({ key: "n1", payload: bytes("new"), onDone: () => done.push("new") });
    assert.deepEqual(done, ["old"]);
    assert.equal(q.size(), 2);
    assert.deepEqual(q.take(0, 1000).map(text).sort(), ["new", "other"]);
  });

  it("broadcasts without a key never invalidate each other", () => {
    const q = new BroadcastQueue(() => 3);
    q.queue({ key: undefined, payload: bytes("a") });
    q.queue({ key: undefined, payload: bytes("b") });
    assert.equal(q.size(), 2);
  });

  it("each broadcast is sent its transmit limit, then completes once", () => {
    let done = 0;
    const q = new BroadcastQueue(() => 3);
    q.queue({ key: "k", payload: bytes("x"), onDone: () => done++ });
    for (let i = 0; i < 3; i++) assert.deepEqual(q.take(0, 100).map(text), ["x"]);
    assert.deepEqual(q.take(0, 100), []);
    assert.equal(done, 1);
    assert.equal(q.size(), 0);
  });

  it("the limit is read afresh, as the cluster grows", () => {
    let limit = 1;
    const q = new BroadcastQueue(() => limit);
    q.queue({ key: "k", payload: bytes("x") });
    limit = 2;
    q.take(0, 100);
    assert.equal(q.size(), 1);
    q.take(0, 100);
    assert.equal(q.size(), 0);
  });

  it("takes at most `limit` bytes with overhead per payload, skipping what does not fit", () => {
    const q = new BroadcastQueue(() => 5);
    q.queue({ key: "big", payload: new Uint8Array(50) });
    q.queue({ key: "small1", payload: new Uint8Array(10) });
    q.queue({ key: "small2", payload: new Uint8Array(10) });
    const out = q.take(2, 30);
    assert.deepEqual(
      out.map((b) => b.length),
      [10, 10],
    );
    const used = out.reduce((n, b) => n + b.length + 2, 0);
    assert.ok(used <= 30);
    // The skipped payload has the fewest transmits now, so it goes first next time.
    assert.deepEqual(
      q.take(2, 100).map((b) => b.length),
      [50, 10, 10],
    );
  });

  it("least-transmitted first, newest first among equals", () => {
    const q = new BroadcastQueue(() => 5);
    q.queue({ key: "a", payload: bytes("a") });
    q.take(0, 100);
    q.queue({ key: "b", payload: bytes("b") });
    q.queue({ key: "c", payload: bytes("c") });
    assert.deepEqual(q.take(0, 2).map(text), ["c", "b"]);
  });

  it("takes at most maxCount payloads (a compound holds at most 127 parts)", () => {
    const q = new BroadcastQueue(() => 5);
    for (let i = 0; i < 200; i++) q.queue({ key: `k${i}`, payload: bytes("x") });
    assert.equal(q.take(2, 65_000, 127).length, 127);
    assert.deepEqual(q.take(2, 65_000, 0), []);
  });

  it("reset completes every queued broadcast", () => {
    let done = 0;
    const q = new BroadcastQueue(() => 5);
    q.queue({ key: "a", payload: bytes("a"), onDone: () => done++ });
    q.queue({ key: undefined, payload: bytes("b"), onDone: () => done++ });
    q.reset();
    assert.equal(done, 2);
    assert.equal(q.size(), 0);
  });

  it("under any mix of queues, replacements and takes, each surviving broadcast is sent exactly its limit", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant("queue" as const), key: fc.integer({ min: 0, max: 30 }) }),
            fc.record({ op: fc.constant("take" as const), room: fc.integer({ min: 0, max: 60 }) }),
          ),
          { maxLength: 300 },
        ),
        fc.integer({ min: 1, max: 5 }),
        (ops, max) => {
          const q = new BroadcastQueue(() => max);
          const sent = new Map<string, number>();
          const done = new Map<string, number>();
          const replaced = new Set<string>();
          const current = new Map<number, string>();
          let n = 0;
          const takeAll = (room: number) => {
            const out = q.take(2, room).map((p) => new TextDecoder().decode(p));
            assert.equal(new Set(out).size, out.length, "no payload twice in one take");
            assert.ok(out.reduce((sum, p) => sum + p.length + 2, 0) <= room, "within the room");
            for (const p of out) sent.set(p, (sent.get(p) ?? 0) + 1);
          };
          for (const step of ops) {
            if (step.op === "queue") {
              const id = `k${step.key}-${n++}`;
              const previous = current.get(step.key);
              if (previous) replaced.add(previous);
              current.set(step.key, id);
              q.queue({
                key: String(step.key),
                payload: bytes(id),
                onDone: () => done.set(id, (done.get(id) ?? 0) + 1),
              });
            } else {
              takeAll(step.room);
            }
          }
          while (q.size() > 0) takeAll(1000);
          for (const id of current.values()) assert.equal(sent.get(id), max, `${id} sent its limit`);
          for (const id of replaced) assert.ok((sent.get(id) ?? 0) <= max, `${id} sent at most its limit`);
          for (const [id, count] of done) assert.equal(count, 1, `${id} completed once`);
          assert.equal(done.size, n, "every broadcast completed");
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});

describe("BroadcastQueue.prune", () => {
  it("drops the most transmitted broadcasts first, down to the number kept", () => {
    const q = new BroadcastQueue(() => 10);
    const done: string[] = [];
    for (const key of ["a", "b", "c"])
      q.queue({ key, payload: Uint8Array.of(1), onDone: () => done.push(key) });
    q.take(0, 2); // "c" and "b" go out once (newest first)
    q.queue({ key: "d", payload: Uint8Array.of(1), onDone: () => done.push("d") });
    assert.equal(q.prune(2), 2);
    assert.equal(q.size(), 2);
    assert.deepEqual(done.sort(), ["b", "c"]);
    assert.equal(q.prune(5), 0, "nothing to drop below the bound");
  });
});
