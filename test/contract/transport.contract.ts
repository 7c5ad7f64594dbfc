import { strict as assert } from "node:assert";
import { after, describe, test } from "node:test";
import type { Address } from "../../src/core/address.js";
import type { MembershipTransport } from "../../src/core/membership/ports.js";
import {
  decodePacket,
  decodeStreamMessage,
  encodeMessage,
  encodeStreamMessage,
} from "../../src/wire/codec.js";

/** The handlers a membership core plugs into a transport. */
export interface EndpointHandlers {
  onPacket(from: Address, data: Uint8Array): void;
  onStream(from: Address, data: Uint8Array): Uint8Array | null;
}

/** One transport endpoint as the suite drives it. */
export interface TransportEndpoint extends MembershipTransport {
  start(bind: Address, handlers: EndpointHandlers): Promise<Address>;
  stop(): Promise<void>;
  readonly stats: { malformed: number };
}

/** What the suite needs from the network an implementation runs on. */
export interface TransportHarness {
  create(): TransportEndpoint;
  /** Where endpoints bind (a loopback address with port 0 on a real network). */
  bindAddress: Address;
  /** An address where nothing listens. */
  unusedAddress(): Promise<Address>;
  /** A listener that accepts streams and never answers; closed by the returned function. */
  silentListener(): Promise<{ address: Address; close(): Promise<void> }>;
  /** Sends bytes as one datagram from outside any endpoint. */
  sendRawPacket(to: Address, data: Uint8Array): Promise<void>;
}

/** A tiny recording endpoint: decodes what it gets as the membership core would. */
interface Recorder {
  packets: Array<{ from: Address; data: Uint8Array }>;
  streams: Array<{ from: Address; data: Uint8Array }>;
  /** Resolves once `count` packets have arrived in total; fails after waitFor's deadline. */
  packetCount(count: number): Promise<void>;
  /** The reply to the next stream; a function may inspect the request. */
  reply: ((data: Uint8Array) => Uint8Array | null) | null;
  handlers: EndpointHandlers;
}

function recorder(): Recorder {
  const rec: Recorder = {
    packets: [],
    streams: [],
    reply: null,
    packetCount(count) {
      return waitFor(() => rec.packets.length >= count, `${count} packet(s) received`);
    },
    handlers: {
      onPacket(from, data) {
        // As the core does: bytes that are not a memberlist message throw WireError here.
        decodePacket(data);
        rec.packets.push({ from, data: Uint8Array.from(data) });
      },
      onStream(from, data) {
        decodeStreamMessage(data);
        rec.streams.push({ from, data: Uint8Array.from(data) });
        return rec.reply ? rec.reply(data) : null;
      },
    },
  };
  return rec;
}

const userPacket = (text: string) => encodeMessage({ type: "user", payload: new TextEncoder().encode(text) });
const userStream = (payload: Uint8Array) =>
  encodeStreamMessage({ type: "user", payload }, { compress: false });
const ack = (seqNo: number) =>
  encodeStreamMessage({ type: "ack", seqNo, payload: null }, { compress: false });

function streamOnce(
  from: MembershipTransport,
  to: Address,
  data: Uint8Array,
  options: { timeoutMs: number; expectReply: boolean },
): Promise<{ err: Error | null; reply: Uint8Array | undefined; calls: number }> {
  return new Promise((resolve) => {
    let calls = 0;
    from.sendStream(to, data, options, (err, reply) => {
      calls++;
      // Resolve on a later turn so that a second, wrong call to `done` would still be counted.
      setImmediate(() => resolve({ err, reply, calls }));
    });
  });
}

/** The behaviour every MembershipTransport must have, whatever network it runs on. */
export function transportContract(name: string, harness: TransportHarness): void {
  describe(`Transport contract: ${name}`, () => {
    async function pair() {
      const a = harness.create();
      const b = harness.create();
      const ra = recorder();
      const rb = recorder();
      after(async () => {
        await a.stop();
        await b.stop();
      });
      const addrA = await a.start(harness.bindAddress, ra.handlers);
      const addrB = await b.start(harness.bindAddress, rb.handlers);
      return { a, b, ra, rb, addrA, addrB };
    }

    test("start resolves with a concrete port", async () => {
      const { addrA, addrB } = await pair();
      assert.ok(addrA.port > 0 && addrB.port > 0);
      assert.notEqual(addrA.port, addrB.port);
    });

    test("packets arrive both ways, from the sender's bound address", async () => {
      const { a, b, ra, rb, addrA, addrB } = await pair();
      a.sendPacket(addrB, userPacket("hello b"));
      b.sendPacket(addrA, userPacket("hello a"));
      await Promise.all([rb.packetCount(1), ra.packetCount(1)]);
      assert.deepEqual(rb.packets[0]?.data, userPacket("hello b"));
      assert.deepEqual(ra.packets[0]?.data, userPacket("hello a"));
      assert.deepEqual(rb.packets[0]?.from, addrA);
      assert.deepEqual(ra.packets[0]?.from, addrB);
    });

    test("a stream request gets its reply, and done is called once", async () => {
      const { a, rb, addrB } = await pair();
      rb.reply = (data) => (decodeStreamMessage(data).type === "ping" ? ack(42) : null);
      const ping = encodeStreamMessage({ type: "ping", seqNo: 42, node: "b" }, { compress: false });
      const result = await streamOnce(a, addrB, ping, { timeoutMs: 2000, expectReply: true });
      assert.equal(result.err, null);
      assert.deepEqual(result.reply, ack(42));
      assert.equal(result.calls, 1);
      assert.deepEqual(
        rb.streams.map((s) => s.data),
        [ping],
      );
    });

    test("a compressed stream message is delimited and delivered", async () => {
      const { a, rb, addrB } = await pair();
      const message = encodeStreamMessage({ type: "ping", seqNo: 7, node: "b" }, { compress: true });
      rb.reply = () => ack(7);
      const result = await streamOnce(a, addrB, message, { timeoutMs: 2000, expectReply: true });
      assert.equal(result.err, null);
      assert.deepEqual(rb.streams[0]?.data, message);
    });

    test("a one-way stream completes without a reply", async () => {
      const { a, rb, addrB } = await pair();
      const message = userStream(new TextEncoder().encode("event"));
      const result = await streamOnce(a, addrB, message, { timeoutMs: 2000, expectReply: false });
      assert.equal(result.err, null);
      assert.equal(result.reply, undefined);
      await waitFor(() => rb.streams.length === 1);
      assert.deepEqual(rb.streams[0]?.data, message);
    });

    test("a one-way stream is not done while the peer has not read it", async () => {
      const { a } = await pair();
      // The listener accepts and never reads: the kernel takes the bytes, the peer has not.
      const silent = await harness.silentListener();
      after(() => silent.close());
      const message = userStream(new Uint8Array(64 * 1024).fill(7));
      const result = await streamOnce(a, silent.address, message, { timeoutMs: 200, expectReply: false });
      assert.match(result.err?.message ?? "", /timed out after 200 ms/);
      assert.equal(result.calls, 1);
    });

    test("a 1 MiB stream message arrives whole, and so does a 1 MiB reply", async () => {
      const { a, rb, addrB } = await pair();
      const big = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
      const reply = userStream(big.slice().reverse());
      rb.reply = () => reply;
      const result = await streamOnce(a, addrB, userStream(big), { timeoutMs: 5000, expectReply: true });
      assert.equal(result.err, null);
      assert.deepEqual(rb.streams[0]?.data, userStream(big));
      assert.deepEqual(result.reply, reply);
    });

    test("expecting a reply that never comes fails when the listener closes", async () => {
      const { a, addrB } = await pair();
      const result = await streamOnce(a, addrB, userStream(Uint8Array.of(1)), {
        timeoutMs: 2000,
        expectReply: true,
      });
      assert.ok(result.err);
      assert.equal(result.calls, 1);
    });

    test("a stream to an address where nothing listens fails", async () => {
      const { a } = await pair();
      const nowhere = await harness.unusedAddress();
      const result = await streamOnce(a, nowhere, ack(1), { timeoutMs: 2000, expectReply: true });
      assert.ok(result.err);
      assert.equal(result.calls, 1);
    });

    test("a stream to a silent listener fails with a timeout", async () => {
      const { a } = await pair();
      const silent = await harness.silentListener();
      after(() => silent.close());
      const started = performance.now();
      const result = await streamOnce(a, silent.address, ack(1), { timeoutMs: 150, expectReply: true });
      assert.match(result.err?.message ?? "", /timed out after 150 ms/);
      assert.ok(performance.now() - started >= 140);
      assert.equal(result.calls, 1);
    });

    test("garbage datagrams are counted and dropped, and good ones still flow", async () => {
      const { a, b, rb, addrB } = await pair();
      const garbage = [
        new Uint8Array(0),
        Uint8Array.of(0xff),
        Uint8Array.of(200, 1, 2, 3),
        Uint8Array.of(0x07, 0x01, 0x00, 0x00),
        Uint8Array.of(0x00, 0x81),
      ];
      for (const g of garbage) await harness.sendRawPacket(addrB, g);
      a.sendPacket(addrB, userPacket("still alive"));
      await rb.packetCount(1);
      await waitFor(() => b.stats.malformed >= garbage.length);
      assert.equal(b.stats.malformed, garbage.length);
      assert.deepEqual(
        rb.packets.map((p) => p.data),
        [userPacket("still alive")],
      );
    });

    test("a garbage stream is counted and dropped, and the next stream is served", async () => {
      const { a, b, rb, addrB } = await pair();
      const bad = await streamOnce(a, addrB, Uint8Array.of(200, 1, 2, 3), {
        timeoutMs: 2000,
        expectReply: true,
      });
      assert.ok(bad.err);
      await waitFor(() => b.stats.malformed === 1);
      rb.reply = () => ack(5);
      const good = await streamOnce(a, addrB, ack(4), { timeoutMs: 2000, expectReply: true });
      assert.equal(good.err, null);
      assert.deepEqual(good.reply, ack(5));
    });

    test("a handler that throws does not take the endpoint down", async () => {
      const { a, ra, rb, addrA, addrB, b } = await pair();
      rb.reply = () => {
        throw new Error("bug in the core");
      };
      const failed = await streamOnce(a, addrB, ack(1), { timeoutMs: 2000, expectReply: true });
      assert.ok(failed.err);
      rb.reply = () => ack(2);
      const ok = await streamOnce(a, addrB, ack(1), { timeoutMs: 2000, expectReply: true });
      assert.deepEqual(ok.reply, ack(2));
      b.sendPacket(addrA, userPacket("after"));
      await ra.packetCount(1);
    });

    test("stop is safe twice; afterwards sends fail softly", async () => {
      const { a, addrB } = await pair();
      await a.stop();
      await a.stop();
      assert.doesNotThrow(() => a.sendPacket(addrB, userPacket("late")));
      const result = await streamOnce(a, addrB, ack(1), { timeoutMs: 500, expectReply: true });
      assert.ok(result.err);
    });

    test("stop fails streams still in flight", async () => {
      const { a } = await pair();
      const silent = await harness.silentListener();
      after(() => silent.close());
      const pending = streamOnce(a, silent.address, ack(1), { timeoutMs: 10_000, expectReply: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await a.stop();
      const result = await pending;
      assert.match(result.err?.message ?? "", /stopped/);
    });
  });
}

/**
 * Polls a condition on the event loop, for effects that are not observable as a promise. Fails,
 * naming `what`, when the condition still does not hold after `timeoutMs`.
 */
export async function waitFor(condition: () => boolean, what = "condition", timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
