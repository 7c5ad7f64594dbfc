/**
 * memberlist's messages and framing, byte-compatible with Serf 0.9.4 / memberlist 0.2.2 (shared
 * wire.md §3 and §4). Pure: encryption lives in crypto.ts, sockets in the transport adapter.
 *
 * Packets (UDP) are decoded whole; streams (TCP) are framed with `streamMessageLength` first, since
 * a plaintext stream message carries no overall length (§4.7).
 */

import { WireError } from "../errors.js";
import { crc32 } from "./crc32.js";
import { lzwCompress, lzwDecompress } from "./lzw.js";
import type {
  AckMessage,
  AliveMessage,
  DeadMessage,
  ErrMessage,
  IndirectPingMessage,
  Message,
  NackMessage,
  NodeStateCode,
  PingMessage,
  PushNodeState,
  PushPullMessage,
  SuspectMessage,
  UserMessage,
} from "./messages.js";
import { MessageType } from "./messages.js";
import { MsgpackReader, MsgpackWriter, type StructField, TruncatedError } from "./msgpack.js";

/** memberlist 0.2.2 computes the compound header size in 8 bits, so 128+ parts misparse (§4.2). */
export const MAX_COMPOUND_PARTS = 127;
/** Largest encrypted stream frame memberlist accepts (§4.4); also our bound for plain streams. */
export const MAX_STREAM_BYTES = 20 * 1024 * 1024;
/** compress-in-compound-in-compress... memberlist recurses without bound; we stop here. */
const MAX_PACKET_NESTING = 8;
const U16 = 0xffff;
const U32 = 0xffffffff;
/** Go `int` fields (Nodes, UserStateLen, UserMsgLen, State) as far as a JS number is exact. */
const GO_INT = Number.MAX_SAFE_INTEGER;

// Go field declaration order of each struct: go-msgpack also accepts a struct as an array in
// this order (§2.2). Written maps use sorted keys instead (MsgpackWriter.struct).
const PING_FIELDS = ["SeqNo", "Node", "SourceAddr", "SourcePort", "SourceNode"] as const;
const INDIRECT_PING_FIELDS = [
  "SeqNo",
  "Target",
  "Port",
  "Node",
  "Nack",
  "SourceAddr",
  "SourcePort",
  "SourceNode",
] as const;
const ACK_FIELDS = ["SeqNo", "Payload"] as const;
const NACK_FIELDS = ["SeqNo"] as const;
const ERR_FIELDS = ["Error"] as const;
const ALIVE_FIELDS = ["Incarnation", "Node", "Addr", "Port", "Meta", "Vsn"] as const;
const SUSPECT_DEAD_FIELDS = ["Incarnation", "Node", "From"] as const;
const PUSH_PULL_HEADER_FIELDS = ["Nodes", "UserStateLen", "Join"] as const;
const PUSH_NODE_STATE_FIELDS = ["Name", "Addr", "Port", "Meta", "Incarnation", "State", "Vsn"] as const;
const USER_MSG_HEADER_FIELDS = ["UserMsgLen"] as const;
const COMPRESS_FIELDS = ["Algo", "Buf"] as const;

/** The only compression algorithm memberlist knows (§3.7). */
const ALGO_LZW = 0;

// ---------------------------------------------------------------------------------------------
// Encoding

/** ping and indirectPing leave out empty Source* fields (Go `omitempty`, §3.1). */
function sourceFields(msg: PingMessage | IndirectPingMessage): StructField[] {
  const fields: StructField[] = [];
  const { sourceAddr, sourceNode, sourcePort } = msg;
  if (sourceAddr !== undefined && sourceAddr.length > 0)
    fields.push(["SourceAddr", (w) => w.bytes(sourceAddr)]);
  if (sourceNode !== undefined && sourceNode !== "") fields.push(["SourceNode", (w) => w.str(sourceNode)]);
  if (sourcePort !== undefined && sourcePort !== 0) fields.push(["SourcePort", (w) => w.int(sourcePort)]);
  return fields;
}

/**
 * Serf 0.9.4 panics on an alive whose Vsn has 1 to 5 bytes, and refuses a push-pull state without
 * one (§6.1), so nothing else is ever sent.
 */
function checkVsn(vsn: Uint8Array, node: string): void {
  if (vsn.length !== 6) throw new RangeError(`Vsn of ${node} must be 6 bytes, got ${vsn.length}`);
}

function writeNodeState(w: MsgpackWriter, s: PushNodeState): void {
  checkVsn(s.vsn, s.name);
  w.struct([
    ["Addr", (v) => v.bytes(s.addr)],
    ["Incarnation", (v) => v.int(s.incarnation)],
    ["Meta", (v) => v.bytes(s.meta)],
    ["Name", (v) => v.str(s.name)],
    ["Port", (v) => v.int(s.port)],
    ["State", (v) => v.int(s.state)],
    ["Vsn", (v) => v.bytes(s.vsn)],
  ]);
}

/** Writes the type byte and body of every message whose form is the same on packets and streams. */
function writeBody(w: MsgpackWriter, msg: Exclude<Message, UserMessage>): void {
  switch (msg.type) {
    case "ping":
      w.raw(Uint8Array.of(MessageType.ping)).struct([
        ["Node", (v) => v.str(msg.node)],
        ["SeqNo", (v) => v.int(msg.seqNo)],
        ...sourceFields(msg),
      ]);
      return;
    case "indirectPing":
      w.raw(Uint8Array.of(MessageType.indirectPing)).struct([
        ["Nack", (v) => v.bool(msg.nack)],
        ["Node", (v) => v.str(msg.node)],
        ["Port", (v) => v.int(msg.port)],
        ["SeqNo", (v) => v.int(msg.seqNo)],
        ["Target", (v) => v.bytes(msg.target)],
        ...sourceFields(msg),
      ]);
      return;
    case "ack":
      w.raw(Uint8Array.of(MessageType.ackResp)).struct([
        ["Payload", (v) => (msg.payload === null ? v.nil() : v.bytes(msg.payload))],
        ["SeqNo", (v) => v.int(msg.seqNo)],
      ]);
      return;
    case "nack":
      w.raw(Uint8Array.of(MessageType.nackResp)).struct([["SeqNo", (v) => v.int(msg.seqNo)]]);
      return;
    case "err":
      w.raw(Uint8Array.of(MessageType.errResp)).struct([["Error", (v) => v.str(msg.error)]]);
      return;
    case "alive":
      checkVsn(msg.vsn, msg.node);
      w.raw(Uint8Array.of(MessageType.alive)).struct([
        ["Addr", (v) => v.bytes(msg.addr)],
        ["Incarnation", (v) => v.int(msg.incarnation)],
        ["Meta", (v) => v.bytes(msg.meta)],
        ["Node", (v) => v.str(msg.node)],
        ["Port", (v) => v.int(msg.port)],
        ["Vsn", (v) => v.bytes(msg.vsn)],
      ]);
      return;
    case "suspect":
    case "dead":
      w.raw(Uint8Array.of(msg.type === "suspect" ? MessageType.suspect : MessageType.dead)).struct([
        ["From", (v) => v.str(msg.from)],
        ["Incarnation", (v) => v.int(msg.incarnation)],
        ["Node", (v) => v.str(msg.node)],
      ]);
      return;
    case "pushPull":
      w.raw(Uint8Array.of(MessageType.pushPull)).struct([
        ["Join", (v) => v.bool(msg.join)],
        ["Nodes", (v) => v.int(msg.nodes.length)],
        ["UserStateLen", (v) => v.int(msg.userState.length)],
      ]);
      for (const state of msg.nodes) writeNodeState(w, state);
      w.raw(msg.userState);
      return;
  }
}

/**
 * One message as it goes into a packet (or, except for user, onto a stream): type byte + msgpack
 * body. pushPull is `06`, header, node states, user state bytes; user is `08` + payload (§3.6).
 * Throws RangeError for an alive or node state whose Vsn is not 6 bytes.
 */
export function encodeMessage(msg: Message): Uint8Array {
  const w = new MsgpackWriter();
  if (msg.type === "user") w.raw(Uint8Array.of(MessageType.user)).raw(msg.payload);
  else writeBody(w, msg);
  return w.finish();
}

/** A user message in stream form: `08`, `{UserMsgLen}`, then the bytes (§3.6). */
export function encodeUserStream(payload: Uint8Array): Uint8Array {
  return new MsgpackWriter()
    .raw(Uint8Array.of(MessageType.user))
    .struct([["UserMsgLen", (v) => v.int(payload.length)]])
    .raw(payload)
    .finish();
}

/**
 * Several messages in one datagram: `07`, count, big-endian uint16 lengths, the parts (§4.2).
 * Refuses what would crash or confuse Serf 0.9.4: more than 127 parts or an empty part.
 */
export function encodeCompound(parts: Uint8Array[]): Uint8Array {
  if (parts.length > MAX_COMPOUND_PARTS) {
    throw new RangeError(`compound: ${parts.length} parts, at most ${MAX_COMPOUND_PARTS}`);
  }
  let total = 2 + 2 * parts.length;
  for (const part of parts) {
    if (part.length === 0) throw new RangeError("compound: empty part (crashes Serf 0.9.4)");
    if (part.length > U16) throw new RangeError(`compound: part of ${part.length} bytes exceeds 65535`);
    total += part.length;
  }
  const out = new Uint8Array(total);
  out[0] = MessageType.compound;
  out[1] = parts.length;
  let at = 2 + 2 * parts.length;
  parts.forEach((part, i) => {
    out[2 + 2 * i] = part.length >> 8;
    out[3 + 2 * i] = part.length & 0xff;
    out.set(part, at);
    at += part.length;
  });
  return out;
}

/** Prepends the hasCrc header: `0c`, IEEE CRC-32 big-endian of the rest (§4.5). Outermost only. */
export function withCrc(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + packet.length);
  out[0] = MessageType.hasCrc;
  new DataView(out.buffer).setUint32(1, crc32(packet));
  out.set(packet, 5);
  return out;
}

/**
 * Wraps a message in `09 {Algo: 0, Buf: lzw(message)}` (§3.7). Always wraps; for packets the
 * caller keeps the result only if it is smaller (§4.1).
 */
export function compress(message: Uint8Array): Uint8Array {
  const buf = lzwCompress(message);
  return new MsgpackWriter()
    .raw(Uint8Array.of(MessageType.compress))
    .struct([
      ["Algo", (v) => v.int(ALGO_LZW)],
      ["Buf", (v) => v.bytes(buf)],
    ])
    .finish();
}

/**
 * One message for a stream. user goes out in its stream form; with `compress` the message is
 * wrapped unconditionally, as memberlist does for every stream when compression is on (§4.3).
 */
export function encodeStreamMessage(msg: Message, options: { compress: boolean }): Uint8Array {
  const plain = msg.type === "user" ? encodeUserStream(msg.payload) : encodeMessage(msg);
  return options.compress ? compress(plain) : plain;
}

// ---------------------------------------------------------------------------------------------
// Decoding message bodies

function decodePing(r: MsgpackReader): PingMessage {
  const msg: PingMessage = { type: "ping", seqNo: 0, node: "" };
  r.readStruct(PING_FIELDS, (key) => {
    switch (key) {
      case "SeqNo":
        msg.seqNo = r.readUint(U32);
        return true;
      case "Node":
        msg.node = r.readString();
        return true;
      case "SourceAddr":
        msg.sourceAddr = r.readBytes();
        return true;
      case "SourcePort":
        msg.sourcePort = r.readUint(U16);
        return true;
      case "SourceNode":
        msg.sourceNode = r.readString();
        return true;
      default:
        return false;
    }
  });
  return msg;
}

function decodeIndirectPing(r: MsgpackReader): IndirectPingMessage {
  const msg: IndirectPingMessage = {
    type: "indirectPing",
    seqNo: 0,
    target: new Uint8Array(0),
    port: 0,
    node: "",
    nack: false,
  };
  r.readStruct(INDIRECT_PING_FIELDS, (key) => {
    switch (key) {
      case "SeqNo":
        msg.seqNo = r.readUint(U32);
        return true;
      case "Target":
        msg.target = r.readBytes();
        return true;
      case "Port":
        msg.port = r.readUint(U16);
        return true;
      case "Node":
        msg.node = r.readString();
        return true;
      case "Nack":
        msg.nack = r.readBool();
        return true;
      case "SourceAddr":
        msg.sourceAddr = r.readBytes();
        return true;
      case "SourcePort":
        msg.sourcePort = r.readUint(U16);
        return true;
      case "SourceNode":
        msg.sourceNode = r.readString();
        return true;
      default:
        return false;
    }
  });
  return msg;
}

function decodeAck(r: MsgpackReader): AckMessage {
  const msg: AckMessage = { type: "ack", seqNo: 0, payload: null };
  r.readStruct(ACK_FIELDS, (key) => {
    if (key === "SeqNo") msg.seqNo = r.readUint(U32);
    else if (key === "Payload") msg.payload = r.readBytesOrNull();
    else return false;
    return true;
  });
  return msg;
}

function decodeNack(r: MsgpackReader): NackMessage {
  const msg: NackMessage = { type: "nack", seqNo: 0 };
  r.readStruct(NACK_FIELDS, (key) => {
    if (key !== "SeqNo") return false;
    msg.seqNo = r.readUint(U32);
    return true;
  });
  return msg;
}

function decodeErr(r: MsgpackReader): ErrMessage {
  const msg: ErrMessage = { type: "err", error: "" };
  r.readStruct(ERR_FIELDS, (key) => {
    if (key !== "Error") return false;
    msg.error = r.readString();
    return true;
  });
  return msg;
}

function decodeAlive(r: MsgpackReader): AliveMessage {
  const msg: AliveMessage = {
    type: "alive",
    incarnation: 0,
    node: "",
    addr: new Uint8Array(0),
    port: 0,
    meta: new Uint8Array(0),
    vsn: new Uint8Array(0),
  };
  r.readStruct(ALIVE_FIELDS, (key) => {
    switch (key) {
      case "Incarnation":
        msg.incarnation = r.readUint(U32);
        return true;
      case "Node":
        msg.node = r.readString();
        return true;
      case "Addr":
        msg.addr = r.readBytes();
        return true;
      case "Port":
        msg.port = r.readUint(U16);
        return true;
      case "Meta":
        msg.meta = r.readBytes();
        return true;
      case "Vsn":
        msg.vsn = r.readBytes();
        return true;
      default:
        return false;
    }
  });
  return msg;
}

function decodeSuspectOrDead(r: MsgpackReader, type: "suspect" | "dead"): SuspectMessage | DeadMessage {
  const msg = { type, incarnation: 0, node: "", from: "" };
  r.readStruct(SUSPECT_DEAD_FIELDS, (key) => {
    if (key === "Incarnation") msg.incarnation = r.readUint(U32);
    else if (key === "Node") msg.node = r.readString();
    else if (key === "From") msg.from = r.readString();
    else return false;
    return true;
  });
  return msg;
}

function readNodeStateCode(r: MsgpackReader): NodeStateCode {
  const v = r.readUint(GO_INT);
  if (v > 3) throw new WireError(`pushPull: unknown node State ${v}`);
  return v as NodeStateCode;
}

function decodeNodeState(r: MsgpackReader): PushNodeState {
  const s: PushNodeState = {
    name: "",
    addr: new Uint8Array(0),
    port: 0,
    meta: new Uint8Array(0),
    incarnation: 0,
    state: 0,
    vsn: new Uint8Array(0),
  };
  r.readStruct(PUSH_NODE_STATE_FIELDS, (key) => {
    switch (key) {
      case "Name":
        s.name = r.readString();
        return true;
      case "Addr":
        s.addr = r.readBytes();
        return true;
      case "Port":
        s.port = r.readUint(U16);
        return true;
      case "Meta":
        s.meta = r.readBytes();
        return true;
      case "Incarnation":
        s.incarnation = r.readUint(U32);
        return true;
      case "State":
        s.state = readNodeStateCode(r);
        return true;
      case "Vsn":
        s.vsn = r.readBytes();
        return true;
      default:
        return false;
    }
  });
  return s;
}

interface PushPullHeader {
  join: boolean;
  nodes: number;
  userStateLen: number;
}

function decodePushPullHeader(r: MsgpackReader): PushPullHeader {
  const h: PushPullHeader = { join: false, nodes: 0, userStateLen: 0 };
  r.readStruct(PUSH_PULL_HEADER_FIELDS, (key) => {
    if (key === "Join") h.join = r.readBool();
    else if (key === "Nodes") h.nodes = r.readUint(GO_INT);
    else if (key === "UserStateLen") h.userStateLen = r.readUint(GO_INT);
    else return false;
    return true;
  });
  return h;
}

function decodePushPull(r: MsgpackReader): PushPullMessage {
  const h = decodePushPullHeader(r);
  // Each node state is at least one byte: a larger count cannot be real (and must not allocate).
  if (h.nodes > r.remaining) throw new WireError(`pushPull: ${h.nodes} node states in ${r.remaining} bytes`);
  const nodes: PushNodeState[] = [];
  for (let i = 0; i < h.nodes; i++) nodes.push(decodeNodeState(r));
  return { type: "pushPull", join: h.join, nodes, userState: r.take(h.userStateLen).slice() };
}

function readUserMsgLen(r: MsgpackReader): number {
  let len = 0;
  r.readStruct(USER_MSG_HEADER_FIELDS, (key) => {
    if (key !== "UserMsgLen") return false;
    len = r.readUint(GO_INT);
    return true;
  });
  return len;
}

/** Reads `{Algo, Buf}` after a compress type byte and returns the decompressed message (§3.7). */
function decompressBody(r: MsgpackReader): Uint8Array {
  let algo = 0;
  let buf: Uint8Array = new Uint8Array(0);
  r.readStruct(COMPRESS_FIELDS, (key) => {
    if (key === "Algo") algo = r.readUint(GO_INT);
    else if (key === "Buf") buf = r.readBytes();
    else return false;
    return true;
  });
  if (algo !== ALGO_LZW) throw new WireError(`compress: unknown algorithm ${algo}`);
  return lzwDecompress(buf);
}

/** Decoders for the message types a packet may carry directly (besides compound/compress). */
const PACKET_DECODERS = new Map<number, (r: MsgpackReader) => Message>([
  [MessageType.ping, decodePing],
  [MessageType.indirectPing, decodeIndirectPing],
  [MessageType.ackResp, decodeAck],
  [MessageType.nackResp, decodeNack],
  [MessageType.alive, decodeAlive],
  [MessageType.suspect, (r) => decodeSuspectOrDead(r, "suspect")],
  [MessageType.dead, (r) => decodeSuspectOrDead(r, "dead")],
]);

// ---------------------------------------------------------------------------------------------
// Packets

export interface DecodedPacket {
  messages: Message[];
  errors: string[];
}

/** A part's WireError becomes a report; anything else is a bug and propagates. */
function partErrorMessage(err: unknown): string {
  if (err instanceof WireError) return err.message;
  throw err;
}

/** Decodes one message or container at `depth`, appending to `out`. Throws WireError. */
function decodePacketMessage(data: Uint8Array, depth: number, out: DecodedPacket): void {
  if (depth > MAX_PACKET_NESTING) throw new WireError("packet: nesting too deep");
  const type = data[0];
  if (type === undefined) throw new WireError("packet: missing message type byte");
  if (type === MessageType.user) {
    // The packet (or compound part) delimits the payload: there is no length field (§3.6).
    out.messages.push({ type: "user", payload: data.slice(1) });
    return;
  }
  if (type === MessageType.compound) {
    decodeCompound(data, depth, out);
    return;
  }
  const r = new MsgpackReader(data, 1);
  if (type === MessageType.compress) {
    decodePacketMessage(decompressBody(r), depth + 1, out);
    return;
  }
  const decode = PACKET_DECODERS.get(type);
  if (!decode) throw new WireError(`packet: msg type (${type}) not supported`);
  // Trailing bytes after the top-level value are ignored, as go-msgpack does (§2.2).
  out.messages.push(decode(r));
}

/**
 * memberlist's compound handling (§4.2): a part that fails to decode is skipped and reported, the
 * others still count. A part longer than the bytes left truncates it and every later part. An
 * empty part (which crashes Serf 0.9.4) is reported and skipped.
 */
function decodeCompound(data: Uint8Array, depth: number, out: DecodedPacket): void {
  if (data.length < 2) throw new WireError("compound: missing part count");
  const count = data[1]!;
  const headerEnd = 2 + 2 * count;
  if (data.length < headerEnd) throw new WireError(`compound: ${count} part lengths do not fit`);
  let at = headerEnd;
  for (let i = 0; i < count; i++) {
    const len = (data[2 + 2 * i]! << 8) | data[3 + 2 * i]!;
    if (len === 0) {
      out.errors.push(`compound: part ${i} has length 0`);
      continue;
    }
    if (at + len > data.length) {
      out.errors.push(`compound: ${count - i} truncated parts`);
      return;
    }
    const part = data.subarray(at, at + len);
    at += len;
    try {
      decodePacketMessage(part, depth + 1, out);
    } catch (err) {
      out.errors.push(`compound: part ${i}: ${partErrorMessage(err)}`);
    }
  }
}

/**
 * Decodes one plaintext datagram (already decrypted): checks the CRC if the first byte is 12,
 * then unwraps compress and compound recursively and collects every message in order. Problems
 * inside a compound are listed in `errors` while the other parts still count. Throws WireError
 * only when the datagram yields no message at all and something was wrong with it.
 */
export function decodePacket(data: Uint8Array): DecodedPacket {
  let body = data;
  if (data[0] === MessageType.hasCrc) {
    // Recognised only as the outermost byte (§4.5); elsewhere 12 is an unknown type.
    if (data.length < 5) throw new WireError("packet: CRC header truncated");
    const expected = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1);
    body = data.subarray(5);
    const actual = crc32(body);
    if (actual !== expected) {
      throw new WireError(`packet: CRC mismatch (header ${hex32(expected)}, computed ${hex32(actual)})`);
    }
  }
  const out: DecodedPacket = { messages: [], errors: [] };
  decodePacketMessage(body, 0, out);
  if (out.messages.length === 0 && out.errors.length > 0) throw new WireError(out.errors.join("; "));
  return out;
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------------------------------------
// Streams

/**
 * Byte length of the first complete stream message in `buf`, or undefined while more bytes are
 * needed (§4.7). Handles a plain message, a compress-wrapped one, and an encrypted frame
 * (`0a` + uint32 BE length + body). Throws WireError for bytes that can never become a valid
 * message, including anything that would exceed MAX_STREAM_BYTES.
 */
export function streamMessageLength(buf: Uint8Array): number | undefined {
  const type = buf[0];
  if (type === undefined) return undefined;
  if (type === MessageType.encrypt) {
    if (buf.length < 5) return undefined;
    const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1);
    if (len > MAX_STREAM_BYTES) throw new WireError(`stream: encrypted frame of ${len} bytes is too large`);
    return buf.length >= 5 + len ? 5 + len : undefined;
  }
  const r = new MsgpackReader(buf, 1);
  try {
    switch (type) {
      case MessageType.compress:
      case MessageType.ping:
      case MessageType.ackResp:
      case MessageType.errResp:
        r.skip();
        break;
      case MessageType.user:
        r.take(checkedStreamLength(readUserMsgLen(r), r.pos));
        break;
      case MessageType.pushPull: {
        const h = decodePushPullHeader(r);
        if (h.nodes > MAX_STREAM_BYTES) throw new WireError(`stream: ${h.nodes} node states is too many`);
        for (let i = 0; i < h.nodes; i++) r.skip();
        r.take(checkedStreamLength(h.userStateLen, r.pos));
        break;
      }
      default:
        throw new WireError(`stream: msg type (${type}) not supported`);
    }
  } catch (err) {
    if (!(err instanceof TruncatedError)) throw err;
    if (err.needed > MAX_STREAM_BYTES)
      throw new WireError(`stream: message exceeds ${MAX_STREAM_BYTES} bytes`);
    return undefined;
  }
  return r.pos;
}

function checkedStreamLength(len: number, at: number): number {
  if (at + len > MAX_STREAM_BYTES) throw new WireError(`stream: message exceeds ${MAX_STREAM_BYTES} bytes`);
  return len;
}

/**
 * Decodes one plaintext stream message (a compress wrapper is undone once, as memberlist does):
 * ping, ack, err, pushPull, or user in its stream form. Encrypted frames must be opened first
 * (crypto.ts). Truncated input is a WireError; bytes after the message are ignored.
 */
export function decodeStreamMessage(buf: Uint8Array): Message {
  let data = buf;
  if (data[0] === MessageType.compress) data = decompressBody(new MsgpackReader(data, 1));
  const type = data[0];
  if (type === undefined) throw new WireError("stream: missing message type byte");
  const r = new MsgpackReader(data, 1);
  switch (type) {
    case MessageType.ping:
      return decodePing(r);
    case MessageType.ackResp:
      return decodeAck(r);
    case MessageType.errResp:
      return decodeErr(r);
    case MessageType.pushPull:
      return decodePushPull(r);
    case MessageType.user: {
      const len = readUserMsgLen(r);
      return { type: "user", payload: r.take(len).slice() };
    }
    case MessageType.encrypt:
      throw new WireError("stream: encrypted frame, decrypt it first");
    default:
      throw new WireError(`stream: msg type (${type}) not supported`);
  }
}
