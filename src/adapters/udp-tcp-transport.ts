import { createSocket, type RemoteInfo, type Socket as UdpSocket } from "node:dgram";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { type Address, formatAddress } from "../core/address.js";
import { type Logger, silentLogger } from "../core/env.js";
import type { MembershipTransport } from "../core/membership/ports.js";
import { WireError, WireLimitError } from "../errors.js";
import { decodeStreamMessage, encodeStreamMessage, MAX_STREAM_BYTES, StreamFramer } from "../wire/codec.js";
import type { Keyring } from "../wire/crypto.js";
import { MessageType } from "../wire/messages.js";

/** What the membership layer does with traffic that arrives. Both run on the event loop and MUST NOT throw. */
export interface TransportHandlers {
  /** One datagram, already decrypted when a keyring is set. A WireError thrown anyway counts as malformed. */
  onPacket(from: Address, data: Uint8Array): void;
  /**
   * One complete stream message, already out of its encrypt frame when a keyring is set. `from`
   * is the connection's remote end, whose port is ephemeral, not the peer's gossip port. Returns
   * the reply to write back on the same connection (the transport encrypts it), or null for none.
   */
  onStream(from: Address, data: Uint8Array): Uint8Array | null;
}

export interface TransportStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  streamsIn: number;
  streamsOut: number;
  /** Datagrams and streams dropped as bad peer input: undecryptable, truncated, unparseable, refused. */
  malformed: number;
  /** Handlers or callbacks that threw something other than a WireError: a bug on this side. */
  handlerErrors: number;
  /** Datagrams the kernel refused to send (EMSGSIZE, no route, ...). */
  sendErrors: number;
  /** Inbound connections closed on accept because maxInboundStreams were already open. */
  refusedInboundStreams: number;
  /** Outbound streams failed at once because maxOutboundStreams were already in flight. */
  refusedOutboundStreams: number;
  /** Inbound streams and outbound replies cut off at maxStreamBytes (or announcing more). */
  oversizedStreams: number;
  /** Inbound streams closed at their total deadline (a slow or silent sender). */
  expiredStreams: number;
}

export interface UdpTcpTransportOptions {
  /** Encrypts every packet and stream with the primary key; accepts what any key opens. @default none (plain text) */
  keyring?: Keyring;
  /** @default silentLogger */
  logger?: Logger;
  /**
   * An inbound connection is closed this long after it was accepted, whatever it is doing: one
   * deadline for the whole exchange, as memberlist's TCPTimeout, so that a sender trickling a
   * byte at a time holds its slot no longer than a silent one. The agent passes its profile's
   * tcpTimeoutMs. @default 10000 (memberlist's LAN TCPTimeout)
   */
  streamDeadlineMs?: number;
  /**
   * Largest stream message read, an inbound request or an outbound stream's reply; a longer one
   * is cut off and counted. The agent passes its profile's maxStreamBytes. @default 4194304 (4 MiB)
   */
  maxStreamBytes?: number;
  /** Inbound streams served at once; more are closed on accept, as memberlist caps concurrent push-pulls. @default 128 */
  maxInboundStreams?: number;
  /** Outbound streams in flight at once; more fail at once with an error. @default 128 */
  maxOutboundStreams?: number;
  /** How many ports to try when binding port 0 before giving up on one free for both TCP and UDP. @default 16 */
  bindAttempts?: number;
}

/** memberlist's errResp texts (docs/wire.md §4.4), so that a Serf peer logs the reason it knows. */
const PLAIN_TO_ENCRYPTING = "Encryption is configured but remote state is not encrypted";
const ENCRYPTED_TO_PLAIN = "Remote state is encrypted and encryption is not configured";

/**
 * memberlist's network transport: UDP datagrams for probes and gossip, one TCP connection per
 * stream exchange, both on the same port (docs/wire.md §1). Payloads are whole memberlist messages;
 * this adapter adds and strips only encryption (§4.4) and delimits stream messages with the
 * codec. Nothing a peer sends can throw out of an event handler: bad input is counted in
 * `stats.malformed`, logged at debug level and dropped.
 */
export class UdpTcpTransport implements MembershipTransport {
  private readonly keyring: Keyring | undefined;
  private readonly logger: Logger;
  private readonly streamDeadlineMs: number;
  private readonly maxStreamBytes: number;
  private readonly maxInboundStreams: number;
  private readonly maxOutboundStreams: number;
  private readonly bindAttempts: number;
  private readonly counters: TransportStats = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    streamsIn: 0,
    streamsOut: 0,
    malformed: 0,
    handlerErrors: 0,
    sendErrors: 0,
    refusedInboundStreams: 0,
    refusedOutboundStreams: 0,
    oversizedStreams: 0,
    expiredStreams: 0,
  };
  private handlers: TransportHandlers | undefined;
  private udp: UdpSocket | undefined;
  private server: Server | undefined;
  private readonly inbound = new Set<Socket>();
  /** Outbound streams in flight and how to fail each, so that stop() can settle them. */
  private readonly outbound = new Map<Socket, (err: Error) => void>();
  private starting = false;
  private stopping: Promise<void> | undefined;

  constructor(options: UdpTcpTransportOptions = {}) {
    this.keyring = options.keyring;
    this.logger = options.logger ?? silentLogger;
    this.streamDeadlineMs = options.streamDeadlineMs ?? 10_000;
    this.maxStreamBytes = Math.min(options.maxStreamBytes ?? 4 * 1024 * 1024, MAX_STREAM_BYTES);
    this.maxInboundStreams = options.maxInboundStreams ?? 128;
    this.maxOutboundStreams = options.maxOutboundStreams ?? 128;
    this.bindAttempts = options.bindAttempts ?? 16;
  }

  /** A snapshot of the traffic counters. */
  get stats(): TransportStats {
    return { ...this.counters };
  }

  /**
   * Binds TCP and UDP on the same port and starts delivering traffic to `handlers`. With port 0,
   * TCP picks a free port first and UDP binds the same number; a port whose UDP side is taken is
   * released and another tried. Resolves with the bound address.
   */
  async start(bind: Address, handlers: TransportHandlers): Promise<Address> {
    if (this.starting || this.stopping) throw new Error("transport already started or stopped");
    this.starting = true;
    const attempts = bind.port === 0 ? this.bindAttempts : 1;
    for (let attempt = 1; ; attempt++) {
      const server = createServer((socket) => this.acceptStream(socket));
      await listenTcp(server, bind);
      const port = (server.address() as AddressInfo).port;
      const udp = createSocket(bind.host.includes(":") ? "udp6" : "udp4");
      try {
        await bindUdp(udp, { host: bind.host, port });
      } catch (err) {
        udp.close();
        await closeServer(server);
        if (isAddressInUse(err) && attempt < attempts) continue;
        throw err;
      }
      if (this.stopping) {
        udp.close();
        await closeServer(server);
        throw new Error("transport stopped while starting");
      }
      server.on("error", (err) => this.logger.warn("gossip tcp listener error", { error: err.message }));
      udp.on("error", (err) => this.logger.warn("gossip udp socket error", { error: err.message }));
      udp.on("message", (msg, rinfo) => this.receivePacket(msg, rinfo));
      this.handlers = handlers;
      this.server = server;
      this.udp = udp;
      return { host: bind.host, port };
    }
  }

  /**
   * Closes both sockets, drops inbound streams and fails outbound ones with "transport stopped".
   * Safe to call more than once, and before or without start.
   */
  stop(): Promise<void> {
    this.stopping ??= this.closeAll();
    return this.stopping;
  }

  private async closeAll(): Promise<void> {
    for (const fail of [...this.outbound.values()]) fail(new Error("transport stopped"));
    for (const socket of this.inbound) socket.destroy();
    this.inbound.clear();
    const udp = this.udp;
    const server = this.server;
    this.udp = undefined;
    this.server = undefined;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      server ? closeServer(server) : undefined,
    ]);
  }

  sendPacket(to: Address, data: Uint8Array): void {
    const udp = this.udp;
    if (!udp || this.stopping) {
      this.logger.debug("packet dropped: transport not running", { to: formatAddress(to) });
      return;
    }
    let out: Uint8Array;
    try {
      out = this.keyring ? this.keyring.encryptPacket(data) : data;
    } catch (err) {
      this.handlerFailed("encrypting a packet", err);
      return;
    }
    this.counters.packetsOut++;
    this.counters.bytesOut += out.length;
    udp.send(out, to.port, to.host, (err) => {
      if (!err) return;
      this.counters.sendErrors++;
      this.logger.debug("packet send failed", { to: formatAddress(to), error: err.message });
    });
  }

  sendStream(
    to: Address,
    data: Uint8Array,
    options: { timeoutMs: number; expectReply: boolean },
    done: (err: Error | null, reply?: Uint8Array) => void,
  ): void {
    const peer = formatAddress(to);
    if (!this.udp || this.stopping) {
      // Asynchronous like every other outcome, so callers never see `done` before this returns.
      queueMicrotask(() => this.callDone(done, new Error(`stream to ${peer}: transport not running`)));
      return;
    }
    if (this.outbound.size >= this.maxOutboundStreams) {
      this.counters.refusedOutboundStreams++;
      const open = this.outbound.size;
      queueMicrotask(() =>
        this.callDone(done, new Error(`stream to ${peer}: ${open} outbound streams already in flight`)),
      );
      return;
    }
    let out: Uint8Array;
    try {
      out = this.keyring ? this.keyring.encryptStreamFrame(data) : data;
    } catch (err) {
      this.handlerFailed("encrypting a stream", err);
      queueMicrotask(() => this.callDone(done, new Error(`stream to ${peer}: encryption failed`)));
      return;
    }

    const socket = connect({ host: to.host, port: to.port });
    const reply = new ByteAccumulator(this.maxStreamBytes);
    const replyFramer = new StreamFramer(this.maxStreamBytes);
    let settled = false;
    const finish = (err: Error | null, message?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.outbound.delete(socket);
      socket.destroy();
      if (err) this.callDone(done, err);
      else this.callDone(done, null, message);
    };
    // One deadline for connect, write and reply, as memberlist's TCPTimeout; cleared on settle.
    const timer = setTimeout(
      () => finish(new Error(`stream to ${peer} timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    this.outbound.set(socket, (err) => finish(err));

    socket.on("error", (err) => finish(new Error(`stream to ${peer}: ${err.message}`, { cause: err })));
    socket.on("close", () => finish(new Error(`stream to ${peer} closed before a full reply`)));
    socket.on("connect", () => {
      this.counters.streamsOut++;
      this.counters.bytesOut += out.length;
      if (options.expectReply) socket.write(out);
      else socket.end(out);
    });
    if (!options.expectReply) {
      // Done once the peer closes its side, which it does after reading the whole message (as
      // memberlist does): the kernel taking the bytes proves nothing, since a peer that is slow to
      // read leaves them in socket buffers that closing here would throw away. Whatever the peer
      // writes is not read.
      socket.on("data", () => {});
      socket.on("end", () => finish(null));
      return;
    }
    socket.on("data", (chunk: Buffer) => {
      if (settled) return;
      this.counters.bytesIn += chunk.length;
      if (!reply.push(chunk)) {
        this.counters.oversizedStreams++;
        finish(new Error(`stream reply from ${peer} exceeds ${this.maxStreamBytes} bytes`));
        return;
      }
      try {
        const length = replyFramer.measure(reply.view());
        if (length === undefined) return;
        // A copy: the reply outlives the accumulator, whose buffer may be twice its size.
        finish(null, this.openReply(new Uint8Array(reply.view().subarray(0, length)), peer));
      } catch (err) {
        if (err instanceof WireLimitError) this.counters.oversizedStreams++;
        else if (err instanceof WireError) this.counters.malformed++;
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Takes the encrypt frame off a reply, or explains why the reply cannot be used. Throws. */
  private openReply(message: Uint8Array, peer: string): Uint8Array {
    const framed = message[0] === MessageType.encrypt;
    if (this.keyring) {
      if (framed) return this.keyring.decryptStreamFrame(message);
      throw new WireError(`stream from ${peer}: ${remoteErrorText(message) ?? "reply is not encrypted"}`);
    }
    if (framed)
      throw new WireError(`stream from ${peer}: reply is encrypted and encryption is not configured`);
    return message;
  }

  private receivePacket(msg: Buffer, rinfo: RemoteInfo): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    const from = { host: rinfo.address, port: rinfo.port };
    const handlers = this.handlers;
    if (!handlers) return;
    try {
      if (msg.length === 0) throw new WireError("empty datagram");
      const data = this.keyring ? this.keyring.decryptPacket(msg) : msg;
      handlers.onPacket(from, data);
    } catch (err) {
      this.dropInput("packet", from, err);
    }
  }

  /** Serves one inbound connection: read one message, hand it over, write the reply, close. */
  private acceptStream(socket: Socket): void {
    // Errors (resets mostly) are expected from peers that go away; every path ends in close.
    socket.on("error", (err) => this.logger.debug("gossip stream error", { error: err.message }));
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (this.inbound.size >= this.maxInboundStreams) {
      this.counters.refusedInboundStreams++;
      this.logger.debug("inbound stream refused", { open: this.inbound.size });
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    this.counters.streamsIn++;
    let complete = false;
    const deadline = setTimeout(() => {
      this.counters.expiredStreams++;
      this.logger.debug("inbound stream closed at its deadline", {
        from: socket.remoteAddress,
        complete,
      });
      socket.destroy();
    }, this.streamDeadlineMs);
    socket.on("close", () => {
      clearTimeout(deadline);
      this.inbound.delete(socket);
    });
    const from = { host: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    const request = new ByteAccumulator(this.maxStreamBytes);
    const framer = new StreamFramer(this.maxStreamBytes);

    socket.on("data", (chunk: Buffer) => {
      // One message per connection (docs/wire.md §4.7); whatever follows it is ignored.
      if (complete) return;
      this.counters.bytesIn += chunk.length;
      try {
        const first = request.length === 0 ? chunk[0] : undefined;
        if (first !== undefined && this.refuseMismatchedEncryption(socket, from, first)) {
          complete = true;
          return;
        }
        if (!request.push(chunk)) {
          complete = true;
          this.counters.oversizedStreams++;
          this.logger.debug("inbound stream refused: too large", {
            from: formatAddress(from),
            limit: this.maxStreamBytes,
          });
          socket.destroy();
          return;
        }
        const length = framer.measure(request.view());
        if (length === undefined) return;
        complete = true;
        const message = request.view().subarray(0, length);
        const data = this.keyring ? this.keyring.decryptStreamFrame(message) : message;
        const reply = this.handlers?.onStream(from, data) ?? null;
        if (reply === null) {
          socket.end();
          return;
        }
        const out = this.keyring ? this.keyring.encryptStreamFrame(reply) : reply;
        this.counters.bytesOut += out.length;
        socket.end(out);
      } catch (err) {
        complete = true;
        this.dropInput("stream", from, err);
        socket.destroy();
      }
    });
    socket.on("end", () => {
      if (complete) return;
      if (request.length > 0) this.dropInput("stream", from, new WireError("stream ended mid-message"));
      socket.destroy();
    });
  }

  /**
   * A plaintext stream to an encrypting node, or an encrypted one to a plain node, is answered
   * with memberlist's errResp (sealed when this node encrypts) and closed. Decided on the first
   * byte: nothing after it could be read anyway.
   */
  private refuseMismatchedEncryption(socket: Socket, from: Address, firstByte: number): boolean {
    const encrypted = firstByte === MessageType.encrypt;
    if (encrypted === (this.keyring !== undefined)) return false;
    const text = this.keyring ? PLAIN_TO_ENCRYPTING : ENCRYPTED_TO_PLAIN;
    this.dropInput("stream", from, new WireError(text));
    const errResp = encodeStreamMessage({ type: "err", error: text }, { compress: false });
    const out = this.keyring ? this.keyring.encryptStreamFrame(errResp) : errResp;
    this.counters.bytesOut += out.length;
    socket.end(out);
    return true;
  }

  /** Bad peer input is counted and dropped; anything else thrown is a bug on this side. */
  private dropInput(kind: "packet" | "stream", from: Address, err: unknown): void {
    if (err instanceof WireLimitError) {
      this.counters.oversizedStreams++;
      this.logger.debug(`${kind} refused: too large`, { from: formatAddress(from), error: err.message });
    } else if (err instanceof WireError) {
      this.counters.malformed++;
      this.logger.debug(`malformed ${kind} dropped`, { from: formatAddress(from), error: err.message });
    } else {
      this.handlerFailed(`handling a ${kind} from ${formatAddress(from)}`, err);
    }
  }

  private handlerFailed(what: string, err: unknown): void {
    this.counters.handlerErrors++;
    this.logger.error(`gossip transport: error while ${what}`, {
      error: err instanceof Error ? err.message : String(err),
    });
  }

  private callDone(
    done: (err: Error | null, reply?: Uint8Array) => void,
    err: Error | null,
    reply?: Uint8Array,
  ): void {
    try {
      if (reply === undefined) done(err);
      else done(err, reply);
    } catch (thrown) {
      this.handlerFailed("running a stream callback", thrown);
    }
  }
}

/** The text of a plaintext errResp, or undefined when `message` is something else. */
function remoteErrorText(message: Uint8Array): string | undefined {
  try {
    const decoded = decodeStreamMessage(message);
    return decoded.type === "err" ? `remote error: ${decoded.error}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Bytes of one stream message as they arrive, in one buffer that doubles when full so that a
 * large push-pull costs linear copying, and whose view is what a `StreamFramer` measures.
 */
class ByteAccumulator {
  private buffer = Buffer.alloc(0);
  length = 0;

  constructor(private readonly limit: number) {}

  /** Appends `chunk`; false (and nothing appended) when the total would exceed the limit. */
  push(chunk: Uint8Array): boolean {
    const needed = this.length + chunk.length;
    if (needed > this.limit) return false;
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.limit, Math.max(needed, this.buffer.length * 2, 4096)));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length = needed;
    return true;
  }

  view(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

function listenTcp(server: Server, bind: Address): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: bind.host, port: bind.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function bindUdp(udp: UdpSocket, bind: Address): Promise<void> {
  return new Promise((resolve, reject) => {
    udp.once("error", reject);
    udp.bind({ address: bind.host, port: bind.port }, () => {
      udp.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === "EADDRINUSE";
}
