import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { Address } from "../../../src/core/address.js";
import { seededRng, type TimerHandle } from "../../../src/core/env.js";
import { profile } from "../../../src/core/membership/config.js";
import {
  encodeSerfLeaveIntent,
  SerfClock,
  serfMemberTime,
} from "../../../src/core/membership/serf-intent.js";
import { Swim } from "../../../src/core/membership/swim.js";
import { decodePacket, encodeMessage } from "../../../src/wire/codec.js";
import { ipToBytes } from "../../../src/wire/ip.js";
import { HECK_VSN, type Message } from "../../../src/wire/messages.js";
import { fromHex, loadVectors, pushPullUserState } from "../wire/vectors.js";

const vectors = loadVectors();
const vector = (name: string) => {
  const v = vectors.find((x) => x.id === `plain/${name}`);
  if (!v) throw new Error(`no vector ${name}`);
  return v;
};
/** A captured Serf user message without its memberlist type byte. */
const userPayload = (name: string) => {
  const hex = vector(name).json.stages[0].hex as string;
  assert.equal(hex.slice(0, 2), "08");
  return fromHex(hex.slice(2));
};

describe("Serf's member intents (docs/wire.md §6.4, §6.8)", () => {
  it("a leave intent is byte for byte the one Serf sends", () => {
    const captured = userPayload("udp-user-serf-leave-intent");
    assert.deepEqual(encodeSerfLeaveIntent(4n, "bravo"), captured);
  });

  it("reads the member clock from leave and join intents and from Serf's push-pull state", () => {
    assert.equal(serfMemberTime(userPayload("udp-user-serf-leave-intent")), 4n);
    assert.equal(serfMemberTime(userPayload("udp-user-serf-join-intent")), 1n);
    // LTime comes after the 512-slot event buffer: the reader skips what it does not need.
    assert.equal(serfMemberTime(pushPullUserState(vector("tcp-pushpull-join-response"))), 1n);
  });

  it("ignores user events, queries, heck's own messages and malformed bytes", () => {
    assert.equal(serfMemberTime(userPayload("udp-user-serf-user-event")), undefined);
    assert.equal(serfMemberTime(userPayload("udp-user-serf-query")), undefined);
    assert.equal(serfMemberTime(Uint8Array.of(0x68, 1, 0x90)), undefined);
    assert.equal(serfMemberTime(Uint8Array.of(0x00, 0x81, 0xa5)), undefined);
    assert.equal(serfMemberTime(Uint8Array.of(0x02)), undefined);
  });

  it("the clock keeps the highest time heard and a leave intent goes one above it", () => {
    const clock = new SerfClock();
    assert.equal(serfMemberTime(clock.leaveIntent("a")), 1n);
    clock.witness(encodeSerfLeaveIntent(9n, "x"));
    clock.witness(encodeSerfLeaveIntent(3n, "y"));
    assert.equal(clock.time, 9n);
    assert.equal(serfMemberTime(clock.leaveIntent("a")), 10n);
  });
});

describe("a leaving node tells Serf", () => {
  it("each member gets one datagram: Serf's leave intent above any clock heard, the dead, a ping", () => {
    const sent: Array<{ to: Address; messages: Message[] }> = [];
    const swim = new Swim({
      name: "a",
      advertise: { host: "127.0.0.1", port: 7946 },
      config: profile("local"),
      clock: { now: () => 0 },
      rng: seededRng(3),
      timers: { setTimeout: () => ({}) as TimerHandle, clearTimeout() {} },
      transport: {
        sendPacket: (to, data) => sent.push({ to, messages: decodePacket(data).messages }),
        sendStream: (_to, _data, _options, done) => done(new Error("unused")),
      },
    });
    const serf: Address = { host: "127.0.0.2", port: 7946 };
    swim.handlePacket(
      serf,
      encodeMessage({
        type: "alive",
        incarnation: 1,
        node: "serf-1",
        addr: ipToBytes(serf.host),
        port: serf.port,
        meta: new Uint8Array(0),
        vsn: HECK_VSN,
      }),
    );
    swim.handlePacket(serf, encodeMessage({ type: "user", payload: encodeSerfLeaveIntent(41n, "other") }));
    let done = false;
    swim.leave(3_000, () => {
      done = true;
    });
    const [datagram] = sent;
    assert.ok(datagram);
    assert.deepEqual(datagram.to, serf);
    const [intent, dead, ping] = datagram.messages;
    assert.equal(intent?.type, "user");
    assert.equal(intent?.type === "user" && serfMemberTime(intent.payload), 42n);
    assert.deepEqual(dead, { type: "dead", incarnation: 1, node: "a", from: "a" });
    assert.equal(ping?.type, "ping");
    assert.equal(done, false, "the leave waits for the ack");
    if (ping?.type !== "ping") return;
    swim.handlePacket(serf, encodeMessage({ type: "ack", seqNo: ping.seqNo, payload: null }));
    assert.equal(done, true, "every member acked");
  });
});
