import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { Address } from "../../../src/core/address.js";
import { seededRng } from "../../../src/core/env.js";
import { type MembershipConfig, profile, withoutLifeguard } from "../../../src/core/membership/config.js";
import type { MemberEvent, MembershipDelegate } from "../../../src/core/membership/ports.js";
import { Swim } from "../../../src/core/membership/swim.js";
import {
  decodePacket,
  decodeStreamMessage,
  encodeMessage,
  encodeStreamMessage,
} from "../../../src/wire/codec.js";
import { ipToBytes } from "../../../src/wire/ip.js";
import { HECK_VSN, type Message } from "../../../src/wire/messages.js";
import { type SimHost, SimNetwork } from "../../sim/sim-network.js";

/** A hand-driven peer: records what it receives and optionally acks pings. */
class ScriptedPeer {
  readonly packets: Array<{ from: Address; raw: Uint8Array; messages: Message[] }> = [];
  answerPings = false;
  readonly host: SimHost;

  constructor(net: SimNetwork, name: string, ip: string) {
    this.host = net.addHost(name, { host: ip, port: 7946 });
    this.host.endpoint = {
      handlePacket: (from, raw) => {
        const { messages } = decodePacket(raw);
        this.packets.push({ from, raw, messages });
        if (!this.answerPings) return;
        for (const m of messages) {
          if (m.type === "ping") {
            this.host.transport.sendPacket(
              from,
              encodeMessage({ type: "ack", seqNo: m.seqNo, payload: null }),
            );
          }
        }
      },
      handleStream: () => null,
    };
  }

  received(type: Message["type"]): Message[] {
    return this.packets.flatMap((p) => p.messages.filter((m) => m.type === type));
  }

  alive(incarnation = 1, vsn = HECK_VSN, meta = new Uint8Array(0)): Uint8Array {
    return encodeMessage({
      type: "alive",
      incarnation,
      node: this.host.name,
      addr: ipToBytes(this.host.address.host),
      port: this.host.address.port,
      meta,
      vsn,
    });
  }
}

function setup(options: { delegate?: MembershipDelegate; start?: boolean; config?: MembershipConfig } = {}) {
  const net = new SimNetwork({ seed: 5 });
  const host = net.addHost("a", { host: "10.0.0.1", port: 7946 });
  const events: MemberEvent[] = [];
  const swim = new Swim({
    name: "a",
    advertise: host.address,
    config: options.config ?? profile("lan"),
    clock: net.clock,
    rng: seededRng(9),
    timers: host.timers,
    transport: host.transport,
    onMemberEvent: (e) => events.push(e),
    ...(options.delegate ? { delegate: options.delegate } : {}),
  });
  host.endpoint = swim;
  if (options.start !== false) swim.start();
  const peer = new ScriptedPeer(net, "p", "10.0.0.2");
  return { net, host, swim, peer, events };
}

describe("Swim, driven by hand", () => {
  it("counts garbage packets as malformed, keeps its member table and still answers pings", () => {
    const { net, swim, peer } = setup();
    const from = peer.host.address;
    const before = swim.members();
    const garbage: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(200),
      Uint8Array.of(7, 1, 0, 0),
      Uint8Array.of(12, 1),
    ];
    garbage.forEach((packet, i) => {
      swim.handlePacket(from, packet);
      assert.equal(swim.stats.malformed, i + 1, `garbage[${i}] is counted once`);
    });
    const rng = seededRng(77);
    for (let i = 0; i < 500; i++) {
      const len = Math.floor(rng.next() * 40);
      swim.handlePacket(
        from,
        Uint8Array.from({ length: len }, () => Math.floor(rng.next() * 256)),
      );
    }
    assert.equal(swim.stats.packetsIn, garbage.length + 500);
    assert.ok(swim.stats.malformed > garbage.length + 400, `only ${swim.stats.malformed} malformed`);
    assert.deepEqual(swim.members(), before);
    swim.handlePacket(from, encodeMessage({ type: "ping", seqNo: 4242, node: "a" }));
    net.runFor(10);
    assert.deepEqual(
      peer.received("ack").map((m) => (m.type === "ack" ? m.seqNo : -1)),
      [4242],
    );
  });

  for (const buddy of [true, false]) {
    it(`probes a suspect with the suspicion in the same packet only with the buddy system (${buddy ? "on" : "off"})`, () => {
      const base = profile("lan", { tcpFallbackPing: false });
      const config = buddy ? base : { ...base, buddySystem: false };
      const { net, swim, peer } = setup({ config });
      swim.handlePacket(peer.host.address, peer.alive());
      net.runUntilTrue(() => swim.member("p")?.status === "suspect", 10_000, 10);
      assert.equal(swim.member("p")?.status, "suspect");
      const before = peer.packets.length;
      net.runFor(3_000);
      const probes = peer.packets.slice(before).filter((p) => p.messages.some((m) => m.type === "ping"));
      assert.ok(probes.length > 0, "the suspect is probed again");
      const carried = probes.some((p) => p.messages.some((m) => m.type === "suspect" && m.node === "p"));
      assert.equal(carried, buddy);
    });
  }

  it("withoutLifeguard turns off local health, dynamic suspicion and the buddy system", () => {
    const off = withoutLifeguard(profile("lan"));
    assert.equal(off.awarenessMaxMultiplier, 1);
    assert.equal(off.suspicionMaxTimeoutMult, 1);
    assert.equal(off.buddySystem, false);
    assert.equal(off.probeIntervalMs, profile("lan").probeIntervalMs);
  });

  it("answers an unreadable stream with errResp", () => {
    const { swim, peer } = setup();
    const reply = swim.handleStream(peer.host.address, Uint8Array.of(6, 0xc1));
    assert.ok(reply);
    assert.equal(decodeStreamMessage(reply).type, "err");
  });

  it("acks a ping at its Source address and ignores a ping for another node", () => {
    const { net, swim, peer } = setup();
    const ping = (node: string, seqNo: number) =>
      encodeMessage({
        type: "ping",
        seqNo,
        node,
        sourceAddr: ipToBytes("10.0.0.2"),
        sourcePort: 7946,
        sourceNode: "p",
      });
    swim.handlePacket({ host: "10.9.9.9", port: 1 }, ping("a", 41));
    swim.handlePacket({ host: "10.9.9.9", port: 1 }, ping("someone-else", 42));
    net.runFor(10);
    assert.deepEqual(
      peer.received("ack").map((m) => (m.type === "ack" ? m.seqNo : -1)),
      [41],
    );
  });

  it("answers a TCP ping with an ack carrying a nil payload", () => {
    const { swim, peer } = setup();
    const reply = swim.handleStream(
      peer.host.address,
      encodeStreamMessage({ type: "ping", seqNo: 9, node: "a" }, { compress: true }),
    );
    assert.ok(reply);
    assert.deepEqual(decodeStreamMessage(reply), { type: "ack", seqNo: 9, payload: null });
  });

  it("ignores its own alive echoed back, and refutes a suspect with max(own + 1, accused + 1)", () => {
    const { swim, peer } = setup();
    const self = encodeMessage({
      type: "alive",
      incarnation: 1,
      node: "a",
      addr: ipToBytes("10.0.0.1"),
      port: 7946,
      meta: new Uint8Array(0),
      vsn: HECK_VSN,
    });
    swim.handlePacket(peer.host.address, self);
    assert.equal(swim.localMember().incarnation, 1);
    assert.equal(swim.stats.refutations, 0);
    swim.handlePacket(
      peer.host.address,
      encodeMessage({ type: "suspect", incarnation: 5, node: "a", from: "p" }),
    );
    assert.equal(swim.localMember().incarnation, 6);
    assert.equal(swim.localMember().status, "alive");
    swim.handlePacket(
      peer.host.address,
      encodeMessage({ type: "dead", incarnation: 6, node: "a", from: "p" }),
    );
    assert.equal(swim.localMember().incarnation, 7);
    assert.equal(swim.stats.refutations, 2);
    assert.equal(swim.healthScore(), 2);
  });

  it("after a stall as long as a probe timeout it announces a fresh incarnation directly, once per probe interval", () => {
    const { net, swim, peer } = setup();
    swim.handlePacket(peer.host.address, peer.alive(1));
    const aliveAboutUs = () => peer.received("alive").filter((m) => m.type === "alive" && m.node === "a");
    const before = swim.localMember().incarnation;
    // Half a probe timeout (lan: 500 ms) is a stall, but too short for a peer's probe to time out.
    swim.reportEventLoopDelay(499);
    net.runFor(5);
    assert.equal(swim.localMember().incarnation, before);
    assert.equal(aliveAboutUs().length, 0);
    swim.reportEventLoopDelay(500);
    net.runFor(5);
    assert.equal(swim.localMember().incarnation, before + 1);
    assert.equal(aliveAboutUs().length, 1);
    assert.equal(swim.stats.stallAnnouncements, 1);
    // A second report of the same stall (another timer) within the probe interval adds nothing.
    swim.reportEventLoopDelay(800);
    net.runFor(5);
    assert.equal(swim.localMember().incarnation, before + 1);
    net.runFor(1000);
    swim.reportEventLoopDelay(800);
    assert.equal(swim.localMember().incarnation, before + 2);
    assert.equal(swim.stats.stallAnnouncements, 2);
    assert.equal(swim.stats.refutations, 0, "no accusation was refuted");
  });

  it("learns a member from its alive and reports the first sight", () => {
    const { swim, peer, events } = setup();
    swim.handlePacket(peer.host.address, peer.alive(3));
    assert.equal(swim.member("p")?.status, "alive");
    assert.equal(swim.member("p")?.incarnation, 3);
    assert.deepEqual(
      events.map((e) => [e.member.name, e.previous, e.member.status]),
      [
        ["a", "none", "alive"],
        ["p", "none", "alive"],
      ],
    );
    assert.equal(swim.aliveCount(), 2);
  });

  it("reports a Meta change of an alive member with previous alive, and nothing for a plain re-announce", () => {
    const { swim, peer, events } = setup();
    swim.handlePacket(peer.host.address, peer.alive(1));
    swim.handlePacket(peer.host.address, peer.alive(2));
    swim.handlePacket(peer.host.address, peer.alive(3, HECK_VSN, Uint8Array.of(0xff, 0x80)));
    assert.deepEqual(
      events.filter((e) => e.member.name === "p").map((e) => [e.previous, e.member.incarnation]),
      [
        ["none", 1],
        ["alive", 3],
      ],
    );
    assert.deepEqual(swim.member("p")?.meta, Uint8Array.of(0xff, 0x80));
  });

  it("relays an indirect ping: the target's ack goes back under the requester's SeqNo", () => {
    const { net, swim, peer } = setup();
    const target = new ScriptedPeer(net, "t", "10.0.0.3");
    target.answerPings = true;
    swim.handlePacket(
      peer.host.address,
      encodeMessage({
        type: "indirectPing",
        seqNo: 500,
        target: ipToBytes("10.0.0.3"),
        port: 7946,
        node: "t",
        nack: true,
        sourceAddr: ipToBytes("10.0.0.2"),
        sourcePort: 7946,
        sourceNode: "p",
      }),
    );
    net.runFor(1000);
    assert.deepEqual(
      peer.received("ack").map((m) => (m.type === "ack" ? [m.seqNo, m.payload] : [])),
      [[500, null]],
    );
    assert.deepEqual(peer.received("nack"), []);
  });

  it("sends a nack when the indirectly probed target stays silent", () => {
    const { net, swim, peer } = setup();
    new ScriptedPeer(net, "t", "10.0.0.3");
    swim.handlePacket(
      peer.host.address,
      encodeMessage({
        type: "indirectPing",
        seqNo: 501,
        target: ipToBytes("10.0.0.3"),
        port: 7946,
        node: "t",
        nack: true,
      }),
    );
    net.runFor(1000);
    assert.deepEqual(peer.received("nack"), [{ type: "nack", seqNo: 501 }]);
    assert.deepEqual(peer.received("ack"), []);
  });

  it("gossip packets stay within udpBufferSize and 127 compound parts, with CRC for PMax >= 5", () => {
    const tiny = Uint8Array.of(0x42, 0x43);
    const delegate: MembershipDelegate = {
      notifyUserMessage() {},
      // As many tiny payloads as the room allows, to push against the part limit.
      getBroadcasts: (overhead, limit) =>
        Array.from({ length: Math.floor(limit / (overhead + 2)) }, () => tiny),
      localState: () => new Uint8Array(0),
      mergeRemoteState() {},
    };
    const { net, swim, peer } = setup({ delegate });
    swim.handlePacket(peer.host.address, peer.alive(1));
    net.runFor(1000);
    assert.ok(peer.packets.length > 0);
    for (const p of peer.packets) {
      assert.ok(p.raw.length <= 1400, `packet of ${p.raw.length} bytes`);
      assert.equal(p.raw[0], 12, "CRC header expected for PMax 5");
      if (p.raw[5] === 7) assert.ok((p.raw[6] ?? 0) <= 127);
    }
    assert.ok(peer.received("user").length > 127);
  });

  it("sends no CRC header to a peer whose PMax is below 5", () => {
    const { net, swim, peer } = setup();
    swim.handlePacket(peer.host.address, peer.alive(1, Uint8Array.of(1, 4, 2, 2, 5, 5)));
    net.runFor(1000);
    assert.ok(peer.packets.length > 0);
    for (const p of peer.packets) assert.notEqual(p.raw[0], 12);
  });

  it("passes user messages to the delegate and drops empty ones", () => {
    const got: string[] = [];
    const delegate: MembershipDelegate = {
      notifyUserMessage: (payload) => got.push(new TextDecoder().decode(payload)),
      getBroadcasts: () => [],
      localState: () => new Uint8Array(0),
      mergeRemoteState() {},
    };
    const { swim, peer } = setup({ delegate });
    swim.handlePacket(
      peer.host.address,
      encodeMessage({ type: "user", payload: new TextEncoder().encode("hi") }),
    );
    swim.handlePacket(peer.host.address, encodeMessage({ type: "user", payload: new Uint8Array(0) }));
    swim.handleStream(
      peer.host.address,
      encodeStreamMessage({ type: "user", payload: new TextEncoder().encode("there") }, { compress: false }),
    );
    assert.deepEqual(got, ["hi", "there"]);
  });

  it("a leave with nobody to tell completes at once and marks us left", () => {
    const { swim, events } = setup();
    let done = 0;
    swim.leave(5000, () => done++);
    assert.equal(done, 1);
    assert.equal(swim.localMember().status, "left");
    assert.deepEqual(events.at(-1)?.previous, "alive");
  });

  it("stop clears every timer and is idempotent", () => {
    const { net, host, swim, peer } = setup();
    swim.handlePacket(peer.host.address, peer.alive(1));
    net.runFor(5000);
    assert.ok(net.pendingFor(host) > 0);
    swim.stop();
    swim.stop();
    assert.equal(net.pendingFor(host), 0);
    swim.handlePacket(peer.host.address, peer.alive(2));
    assert.equal(swim.member("p")?.incarnation, 1);
  });

  it("refuses an invalid config naming the field", () => {
    const net = new SimNetwork({ seed: 1 });
    const host = net.addHost("x", { host: "10.0.0.9", port: 7946 });
    assert.throws(
      () =>
        new Swim({
          name: "x",
          advertise: host.address,
          config: profile("lan", { probeTimeoutMs: -1 }),
          clock: net.clock,
          rng: seededRng(1),
          timers: host.timers,
          transport: host.transport,
        }),
      /probeTimeoutMs/,
    );
  });
});
