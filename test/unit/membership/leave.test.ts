import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { Address } from "../../../src/core/address.js";
import { seededRng, type TimerHandle, type Timers } from "../../../src/core/env.js";
import { profile } from "../../../src/core/membership/config.js";
import { Swim } from "../../../src/core/membership/swim.js";
import { decodePacket, encodeMessage } from "../../../src/wire/codec.js";
import { ipToBytes } from "../../../src/wire/ip.js";
import { HECK_VSN, type Message } from "../../../src/wire/messages.js";

/** Timers on a hand-driven clock: `advance` runs what falls due, in order. */
class ManualTime implements Timers {
  now = 0;
  readonly #due = new Map<object, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const handle = {};
    this.#due.set(handle, { at: this.now + delayMs, fn });
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.#due.delete(handle as object);
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [object, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#due)
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#due.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}

function node() {
  const time = new ManualTime();
  const sent: Array<{ to: Address; messages: Message[] }> = [];
  const swim = new Swim({
    name: "a",
    advertise: { host: "127.0.0.1", port: 7946 },
    config: profile("local"),
    clock: { now: () => time.now },
    rng: seededRng(5),
    timers: time,
    transport: {
      sendPacket: (to, data) => sent.push({ to, messages: decodePacket(data).messages }),
      // Streams never complete: a join stays in flight.
      sendStream: () => {},
    },
  });
  return { swim, time, sent };
}

const alive = (name: string, host: string) =>
  encodeMessage({
    type: "alive",
    incarnation: 1,
    node: name,
    addr: ipToBytes(host),
    port: 7946,
    meta: new Uint8Array(0),
    vsn: HECK_VSN,
  });

const pingOf = (messages: Message[]) => messages.find((m) => m.type === "ping");

describe("a graceful leave (issue 7, item 4)", () => {
  it("a leave while the join is in flight still tells the seed, which acks as whoever it is", () => {
    const { swim, sent } = node();
    const seed: Address = { host: "127.0.0.9", port: 7946 };
    swim.join([seed], () => {});
    let done = false;
    swim.leave(3_000, () => {
      done = true;
    });
    const [datagram] = sent;
    assert.deepEqual(datagram?.to, seed);
    assert.deepEqual(
      datagram?.messages.map((m) => m.type),
      ["user", "dead", "ping"],
    );
    const ping = pingOf(datagram!.messages);
    assert.ok(ping?.type === "ping" && ping.node === "");
    swim.handlePacket(seed, encodeMessage({ type: "ack", seqNo: ping.seqNo, payload: null }));
    assert.ok(done);
  });

  it("a member that does not ack gets the leave again every probe timeout until the time is up", () => {
    const { swim, time, sent } = node();
    const b: Address = { host: "127.0.0.2", port: 7946 };
    swim.handlePacket(b, alive("b", b.host));
    let doneAt: number | undefined;
    swim.leave(1_000, () => {
      doneAt = time.now;
    });
    time.advance(999);
    const toB = sent.filter((p) => p.to.host === b.host && p.messages.some((m) => m.type === "dead"));
    // Sent at 0 and then every probe timeout (200 ms under local) while the time lasts.
    assert.equal(toB.length, 5);
    assert.equal(doneAt, undefined);
    time.advance(1);
    assert.equal(doneAt, 1_000);
  });

  it("known members are told once each, seeds that are members are not told twice", () => {
    const { swim, sent } = node();
    const b: Address = { host: "127.0.0.2", port: 7946 };
    const c: Address = { host: "127.0.0.3", port: 7946 };
    swim.handlePacket(b, alive("b", b.host));
    swim.handlePacket(c, alive("c", c.host));
    swim.join([b], () => {});
    swim.leave(3_000, () => {});
    const targets = sent.filter((p) => p.messages.some((m) => m.type === "dead")).map((p) => p.to.host);
    assert.deepEqual(targets.sort(), [b.host, c.host]);
  });
});
