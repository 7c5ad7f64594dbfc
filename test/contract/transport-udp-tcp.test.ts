import { strict as assert } from "node:assert";
import { createSocket } from "node:dgram";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import { UdpTcpTransport, type UdpTcpTransportOptions } from "../../src/adapters/udp-tcp-transport.js";
import type { Address } from "../../src/core/address.js";
import { decodeStreamMessage, encodeMessage, encodeStreamMessage } from "../../src/wire/codec.js";
import { Keyring } from "../../src/wire/crypto.js";
import { MsgpackWriter } from "../../src/wire/msgpack.js";
import { type TransportHarness, transportContract, waitFor } from "./transport.contract.js";

const LOOPBACK: Address = { host: "127.0.0.1", port: 0 };

/** A port that was just bound and released: nothing listens there. */
async function unusedAddress(): Promise<Address> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK.host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { host: LOOPBACK.host, port };
}

async function silentListener(): Promise<{ address: Address; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK.host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: { host: LOOPBACK.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function sendRawPacket(to: Address, data: Uint8Array): Promise<void> {
  const udp = createSocket("udp4");
  await new Promise<void>((resolve, reject) =>
    udp.send(data, to.port, to.host, (err) => (err ? reject(err) : resolve())),
  );
  await new Promise<void>((resolve) => udp.close(() => resolve()));
}

/** Writes raw bytes on a fresh connection and collects everything the listener sends back until it closes. */
export function rawStream(to: Address, data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(to.port, to.host, () => socket.write(data));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

export function harness(options: UdpTcpTransportOptions = {}): TransportHarness {
  return {
    create: () => new UdpTcpTransport(options),
    bindAddress: LOOPBACK,
    unusedAddress,
    silentListener,
    sendRawPacket,
  };
}

/** Deterministic test keys: byte i of an n-byte key is i + offset. */
const key = (bytes: number, offset = 0) => Uint8Array.from({ length: bytes }, (_, i) => (i + offset) & 0xff);

transportContract("udp-tcp, plain text", harness());
transportContract("udp-tcp, AES-128 keyring", harness({ keyring: new Keyring([key(16)]) }));
transportContract("udp-tcp, AES-256 keyring", harness({ keyring: new Keyring([key(32)]) }));

const ping = encodeStreamMessage({ type: "ping", seqNo: 1, node: "b" }, { compress: false });
const ack = encodeStreamMessage({ type: "ack", seqNo: 1, payload: null }, { compress: false });

/** Starts an endpoint that records packets and answers every stream with an ack. */
async function endpoint(options: UdpTcpTransportOptions) {
  const t = new UdpTcpTransport(options);
  after(() => t.stop());
  const packets: Uint8Array[] = [];
  const streams: Uint8Array[] = [];
  const address = await t.start(LOOPBACK, {
    onPacket: (_from, data) => packets.push(data),
    onStream: (_from, data) => {
      streams.push(data);
      return ack;
    },
  });
  return { t, address, packets, streams };
}

function stream(from: UdpTcpTransport, to: Address, data: Uint8Array) {
  return new Promise<{ err: Error | null; reply: Uint8Array | undefined }>((resolve) =>
    from.sendStream(to, data, { timeoutMs: 2000, expectReply: true }, (err, reply) =>
      resolve({ err, reply }),
    ),
  );
}

describe("UdpTcpTransport encryption", () => {
  test("datagrams and streams on the wire are sealed, not plain", async () => {
    const keyring = new Keyring([key(32)]);
    const a = await endpoint({ keyring });
    const sniffer = createSocket("udp4");
    const datagrams: Buffer[] = [];
    sniffer.on("message", (msg) => datagrams.push(msg));
    await new Promise<void>((resolve) => sniffer.bind(0, LOOPBACK.host, resolve));
    after(() => sniffer.close());
    const packet = encodeMessage({ type: "user", payload: new TextEncoder().encode("secret") });
    a.t.sendPacket({ host: LOOPBACK.host, port: sniffer.address().port }, packet);
    await waitFor(() => datagrams.length === 1);
    const sealed = datagrams[0]!;
    assert.equal(sealed.length, packet.length + 29);
    assert.equal(sealed.includes(Buffer.from("secret")), false);
    assert.deepEqual(keyring.decryptPacket(sealed), packet);
  });

  test("a secondary key of the receiver opens what the sender seals with its primary", async () => {
    const b = await endpoint({ keyring: new Keyring([key(32, 7), key(16)]) });
    const a = await endpoint({ keyring: new Keyring([key(16)]) });
    const packet = encodeMessage({ type: "user", payload: Uint8Array.of(1) });
    a.t.sendPacket(b.address, packet);
    await waitFor(() => b.packets.length === 1);
    const result = await stream(a.t, b.address, ping);
    // b answers sealed with its primary, which a does not hold.
    assert.match(result.err?.message ?? "", /no installed keys/);
    assert.deepEqual(b.streams, [ping]);
  });

  test("mismatched keys: packets and streams are dropped and counted", async () => {
    const a = await endpoint({ keyring: new Keyring([key(16)]) });
    const b = await endpoint({ keyring: new Keyring([key(16, 100)]) });
    a.t.sendPacket(b.address, encodeMessage({ type: "user", payload: Uint8Array.of(1) }));
    const result = await stream(a.t, b.address, ping);
    assert.ok(result.err);
    await waitFor(() => b.t.stats.malformed === 2);
    assert.deepEqual(b.packets, []);
    assert.deepEqual(b.streams, []);
  });

  test("a plaintext stream to an encrypting node gets memberlist's sealed errResp", async () => {
    const keyring = new Keyring([key(16)]);
    const b = await endpoint({ keyring });
    const reply = await rawStream(b.address, ping);
    assert.deepEqual(decodeStreamMessage(keyring.decryptStreamFrame(reply)), {
      type: "err",
      error: "Encryption is configured but remote state is not encrypted",
    });
    assert.deepEqual(b.streams, []);
    assert.equal(b.t.stats.malformed, 1);
  });

  test("an encrypted stream to a plain node gets memberlist's plain errResp", async () => {
    const b = await endpoint({});
    const reply = await rawStream(b.address, new Keyring([key(16)]).encryptStreamFrame(ping));
    assert.deepEqual(decodeStreamMessage(reply), {
      type: "err",
      error: "Remote state is encrypted and encryption is not configured",
    });
    assert.deepEqual(b.streams, []);
  });

  test("an encrypting sender reports the plain node's errResp text", async () => {
    const a = await endpoint({ keyring: new Keyring([key(16)]) });
    const b = await endpoint({});
    const result = await stream(a.t, b.address, ping);
    assert.match(result.err?.message ?? "", /Remote state is encrypted and encryption is not configured/);
  });

  test("a plain sender refuses an encrypted reply", async () => {
    const a = await endpoint({});
    const b = await endpoint({ keyring: new Keyring([key(16)]) });
    const result = await stream(a.t, b.address, ping);
    assert.match(result.err?.message ?? "", /reply is encrypted and encryption is not configured/);
    assert.deepEqual(b.packets, []);
  });
});

describe("UdpTcpTransport", () => {
  test("TCP and UDP are bound on the same port", async () => {
    const t = new UdpTcpTransport();
    after(() => t.stop());
    const seen: Uint8Array[] = [];
    const bound = await t.start(LOOPBACK, {
      onPacket: (_from, data) => seen.push(data),
      onStream: () => null,
    });
    await sendRawPacket(bound, Uint8Array.of(8, 1, 2));
    const reply = await rawStream(bound, Uint8Array.of(200));
    assert.equal(reply.length, 0);
    assert.deepEqual(
      seen.map((d) => [...d]),
      [[8, 1, 2]],
    );
  });

  test("a port whose TCP side is taken is refused with EADDRINUSE", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, LOOPBACK.host, resolve));
    after(() => blocker.close());
    const { port } = blocker.address() as AddressInfo;
    const t = new UdpTcpTransport();
    after(() => t.stop());
    await assert.rejects(t.start({ host: LOOPBACK.host, port }, { onPacket() {}, onStream: () => null }), {
      code: "EADDRINUSE",
    });
  });

  test("a port whose UDP side is taken is refused with EADDRINUSE, and TCP is released", async () => {
    const blocker = createSocket("udp4");
    await new Promise<void>((resolve) => blocker.bind(0, LOOPBACK.host, resolve));
    after(() => blocker.close());
    const { port } = blocker.address();
    const t = new UdpTcpTransport();
    after(() => t.stop());
    await assert.rejects(t.start({ host: LOOPBACK.host, port }, { onPacket() {}, onStream: () => null }), {
      code: "EADDRINUSE",
    });
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(port, LOOPBACK.host, resolve));
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  test("counters follow the traffic", async () => {
    const a = new UdpTcpTransport();
    const b = new UdpTcpTransport();
    after(async () => {
      await a.stop();
      await b.stop();
    });
    let received = 0;
    await a.start(LOOPBACK, { onPacket() {}, onStream: () => null });
    const addrB = await b.start(LOOPBACK, { onPacket: () => received++, onStream: () => null });
    a.sendPacket(addrB, Uint8Array.of(8, 1, 2, 3));
    await waitFor(() => received === 1, "b receives the packet");
    assert.equal(a.stats.packetsOut, 1);
    assert.equal(a.stats.bytesOut, 4);
    assert.equal(b.stats.packetsIn, 1);
    assert.equal(b.stats.bytesIn, 4);
  });

  test("inbound streams above the cap are closed on accept, and counted", async () => {
    const t = new UdpTcpTransport({ maxInboundStreams: 1 });
    after(() => t.stop());
    const bound = await t.start(LOOPBACK, { onPacket() {}, onStream: () => null });
    const held = connect(bound.port, bound.host);
    after(() => held.destroy());
    await new Promise((resolve) => held.once("connect", resolve));
    // The cap is only reached once the listener has accepted the held connection.
    await waitFor(() => t.stats.streamsIn === 1, "the listener accepts the held connection");
    const refused = await rawStream(bound, Uint8Array.of(0x00));
    assert.equal(refused.length, 0);
    assert.equal(t.stats.streamsIn, 1);
    assert.equal(t.stats.refusedInboundStreams, 1);
  });

  test("an inbound stream that goes silent is closed at its deadline", async () => {
    const t = new UdpTcpTransport({ streamDeadlineMs: 50 });
    after(() => t.stop());
    const bound = await t.start(LOOPBACK, { onPacket() {}, onStream: () => null });
    const started = performance.now();
    // An incomplete ping: a msgpack map header that promises a key.
    await rawStream(bound, Uint8Array.of(0x00, 0x81));
    assert.ok(performance.now() - started >= 45);
    assert.equal(t.stats.expiredStreams, 1);
  });

  test("a sender trickling bytes is cut off at the total deadline, not kept alive by each byte", async () => {
    const t = new UdpTcpTransport({ streamDeadlineMs: 150 });
    after(() => t.stop());
    const bound = await t.start(LOOPBACK, { onPacket() {}, onStream: () => null });
    const socket = connect(bound.port, bound.host);
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {});
    // A user message promising 1,000 bytes, then one byte every 20 ms: never idle for long.
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(Uint8Array.of(0x08, 0x81, 0xaa, ...Buffer.from("UserMsgLen"), 0xcd, 0x03, 0xe8));
    const trickle = setInterval(() => socket.write(Uint8Array.of(0)), 20);
    after(() => clearInterval(trickle));
    await closed;
    clearInterval(trickle);
    assert.equal(t.stats.expiredStreams, 1);
  });

  test("an inbound stream beyond maxStreamBytes is refused and counted", async () => {
    const received: Uint8Array[] = [];
    const t = new UdpTcpTransport({ maxStreamBytes: 64 * 1024 });
    after(() => t.stop());
    const bound = await t.start(LOOPBACK, {
      onPacket() {},
      onStream: (_from, data) => {
        received.push(data);
        return null;
      },
    });
    const big = encodeStreamMessage({ type: "user", payload: new Uint8Array(100_000) }, { compress: false });
    // Refused on the header, which announces more than the cap: the sender sees a reset.
    await rawStream(bound, big).catch((err: NodeJS.ErrnoException) => assert.equal(err.code, "ECONNRESET"));
    assert.equal(received.length, 0);
    assert.equal(t.stats.oversizedStreams, 1);
    // A message that hides its size (a ping map of many small entries) is cut off at the cap.
    const w = new MsgpackWriter().raw(Uint8Array.of(0x00)).mapHeader(40_000);
    for (let i = 0; i < 40_000; i++) w.int(i % 100).int(1);
    await rawStream(bound, w.finish()).catch((err: NodeJS.ErrnoException) =>
      assert.equal(err.code, "ECONNRESET"),
    );
    assert.equal(t.stats.oversizedStreams, 2);
    // One that fits is still served.
    await rawStream(
      bound,
      encodeStreamMessage({ type: "user", payload: new Uint8Array(60_000) }, { compress: false }),
    );
    assert.equal(received.length, 1);
  });

  test("a reply beyond maxStreamBytes fails the outbound stream and is counted", async () => {
    const server = new UdpTcpTransport();
    after(() => server.stop());
    const big = encodeStreamMessage({ type: "user", payload: new Uint8Array(100_000) }, { compress: false });
    const address = await server.start(LOOPBACK, { onPacket() {}, onStream: () => big });
    const client = new UdpTcpTransport({ maxStreamBytes: 64 * 1024 });
    after(() => client.stop());
    await client.start(LOOPBACK, { onPacket() {}, onStream: () => null });
    const { err } = await stream(client, address, ping);
    assert.match(err?.message ?? "", /exceeds 65536 bytes/);
    assert.equal(client.stats.oversizedStreams, 1);
  });

  test("outbound streams beyond the cap fail at once and are counted", async () => {
    const listener = await silentListener();
    after(() => listener.close());
    const t = new UdpTcpTransport({ maxOutboundStreams: 2 });
    after(() => t.stop());
    await t.start(LOOPBACK, { onPacket() {}, onStream: () => null });
    const held = [stream(t, listener.address, ping), stream(t, listener.address, ping)];
    const { err } = await stream(t, listener.address, ping);
    assert.match(err?.message ?? "", /2 outbound streams already in flight/);
    assert.equal(t.stats.refusedOutboundStreams, 1);
    await t.stop();
    for (const r of await Promise.all(held)) assert.match(r.err?.message ?? "", /transport stopped/);
  });
});
