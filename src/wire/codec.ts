/**
 * memberlist's messages and framing, byte-compatible with Serf 0.9.4 / memberlist 0.2.2
 * (docs/wire.md §3 and §4). Pure: encryption lives in crypto.ts, sockets in the transport adapter.
 *
 * Packets (UDP) are decoded whole; streams (TCP) are framed with `streamMessageLength` first, since
 * a plaintext stream message carries no overall length (§4.7).
 */

import { WireError, WireLimitError } from "../errors.js";
import { crc32 } from "./crc32.js";
import { DEFAULT_MAX_DECOMPRESSED_BYTES, lzwCompress, lzwDecompress } from "./lzw.js";
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
import { MsgpackReader, MsgpackWriter, readLength, valueLayout } from "./msgpack.js";

/** memberlist 0.2.2 computes the compound header size in 8 bits, so 128+ parts misparse (§4.2). */
export const MAX_COMPOUND_PARTS = 127;
/** Largest encrypted stream frame memberlist accepts (§4.4); also our bound for plain streams. */
export const MAX_STREAM_BYTES = 20 * 1024 * 1024;
/**
 * Everything one datagram decompresses to, all compress wrappers together. memberlist reads
 * datagrams of up to 64 KiB (docs/wire.md §4.1) and sets no bound on decompression (§4.3); a
 * packet's worth is the most a real peer's packet can hold, so more is a bomb: refused whole.
 */
export const MAX_PACKET_DECOMPRESSED_BYTES = 64 * 1024;
/** compress-in-compound-in-compress... memberlist recurses without bound; we stop here. */
const MAX_PACKET_NESTING = 8;
const U16 = 0xffff;
const U32 = 0xffffffff;
/** Go `int` fields (Nodes, UserStateLen, UserMsgLen, State, Algo) as far as a JS number is exact. */
const GO_INT = Number.MAX_SAFE_INTEGER;

/** The only compression algorithm memberlist knows (§3.7). */
const ALGO_LZW = 0;

// ---------------------------------------------------------------------------------------------
// Structs as data: each Go struct is declared once as a list of fields, and one writer and one
// reader walk those lists.

/**
 * How a Go field type is read (leniently, §2.2), written (as Serf writes it, §2.1) and zeroed.
 * `write` is a method so that each kind can name its own value type; a field declaration pairs a
 * property with its kind.
 */
interface Kind {
  read(r: MsgpackReader): unknown;
  write(w: MsgpackWriter, value: unknown): void;
  /** Go's zero value: what a field holds when its key is missing (§2.2). */
  zero(): unknown;
}

/** Unsigned Go integers: any msgpack integer within range on input, the smallest form on output. */
function uint(max: number): Kind {
  return { read: (r) => r.readUint(max), write: (w, v: number) => w.int(v), zero: () => 0 };
}

function readNodeStateCode(r: MsgpackReader): NodeStateCode {
  const v = r.readUint(GO_INT);
  if (v > 3) throw new WireError(`pushPull: unknown node State ${v}`);
  return v as NodeStateCode;
}

const KINDS = {
  u16: uint(U16),
  u32: uint(U32),
  int: uint(GO_INT),
  nodeState: { read: readNodeStateCode, write: (w, v: number) => w.int(v), zero: () => 0 },
  bool: { read: (r) => r.readBool(), write: (w, v: boolean) => w.bool(v), zero: () => false },
  string: { read: (r) => r.readString(), write: (w, v: string) => w.str(v), zero: () => "" },
  // Decoded byte fields are copies, so each zero is a fresh array too.
  bytes: {
    read: (r) => r.readBytes(),
    write: (w, v: Uint8Array) => w.bytes(v),
    zero: () => new Uint8Array(0),
  },
  /** `[]byte` where nil and empty differ (ack Payload, §3.3). */
  bytesOrNull: {
    read: (r) => r.readBytesOrNull(),
    write: (w, v: Uint8Array | null) => (v === null ? w.nil() : w.bytes(v)),
    zero: () => null,
  },
} satisfies Record<string, Kind>;

/**
 * One field: Go name (the map key), property in heck's model, kind, and Go `omitempty`. omitempty
 * fields are optional in the model: absent when the key is, left out when empty (§2.1).
 */
type FieldDecl<T> = readonly [
  key: string,
  prop: keyof T & string,
  kind: keyof typeof KINDS,
  omitEmpty?: "omitempty",
];

interface Field {
  readonly key: string;
  readonly prop: string;
  readonly kind: Kind;
  readonly omitEmpty: boolean;
  /** The key as a msgpack str, encoded once. */
  readonly wireKey: Uint8Array;
}

interface Schema<T> {
  /** Fields in Go declaration order, which zeroing follows so decoded objects keep one shape. */
  readonly fields: readonly Field[];
  /** Their keys in that order: go-msgpack also accepts a struct as an array in it (§2.2). */
  readonly declared: readonly string[];
  /** Fields by byte-wise key order, the order go-msgpack writes a struct's map in (§2.1). */
  readonly sorted: readonly Field[];
  /** Reads the value of `key` into `target`; false for a key the struct lacks (skipped, §2.2). */
  readonly readField: (key: string, target: Record<string, unknown>, r: MsgpackReader) => boolean;
  /** Type-level only: the object the fields belong to, so readFields and writeFields are typed. */
  readonly of?: T;
}

/** Declares a struct, fields in Go declaration order. */
function struct<T>(...decls: FieldDecl<T>[]): Schema<T> {
  const fields = decls.map(([key, prop, kindName, omitEmpty]) => ({
    key,
    prop,
    kind: KINDS[kindName],
    omitEmpty: omitEmpty !== undefined,
    wireKey: new MsgpackWriter().str(key).finish(),
  }));
  const byKey = new Map(fields.map((f) => [f.key, f]));
  return {
    fields,
    declared: fields.map((f) => f.key),
    // Go field names are ASCII, where JS string order is byte order.
    sorted: [...fields].sort((a, b) => (a.key < b.key ? -1 : 1)),
    readField: (key, target, r) => {
      const f = byKey.get(key);
      if (f === undefined) return false;
      target[f.prop] = f.kind.read(r);
      return true;
    },
  };
}

/** Go `omitempty` for the kinds it is used with: absent, 0, "" or no bytes. */
function omitted(f: Field, value: Record<string, unknown>): boolean {
  if (!f.omitEmpty) return false;
  const v = value[f.prop];
  return v === undefined || v === 0 || v === "" || (v instanceof Uint8Array && v.length === 0);
}

/** Writes `value` as a map with sorted keys, omitempty fields left out and counted out (§2.1). */
function writeFields<T>(w: MsgpackWriter, schema: Schema<T>, value: T): void {
  const v = value as Record<string, unknown>;
  let count = 0;
  for (const f of schema.sorted) if (!omitted(f, v)) count++;
  w.mapHeader(count);
  for (const f of schema.sorted) {
    if (omitted(f, v)) continue;
    w.raw(f.wireKey);
    f.kind.write(w, v[f.prop]);
  }
}

/** Reads a struct into `into`: zero values first, so missing keys leave them (§2.2). */
function readFields<T>(r: MsgpackReader, schema: Schema<T>, into: Partial<T>): T {
  const target = into as Record<string, unknown>;
  for (const f of schema.fields) if (!f.omitEmpty) target[f.prop] = f.kind.zero();
  r.readStruct(schema.declared, schema.readField, target);
  return into as T;
}

// ---------------------------------------------------------------------------------------------
// The structs (§3), fields in Go declaration order

const SEQ_NO = ["SeqNo", "seqNo", "u32"] as const;
const NODE = ["Node", "node", "string"] as const;
const INCARNATION = ["Incarnation", "incarnation", "u32"] as const;
const ADDR = ["Addr", "addr", "bytes"] as const;
const PORT = ["Port", "port", "u16"] as const;
const META = ["Meta", "meta", "bytes"] as const;
const VSN = ["Vsn", "vsn", "bytes"] as const;
/** Where ping and indirectPing want their reply; the only omitempty fields (§3.1). */
const SOURCE = [
  ["SourceAddr", "sourceAddr", "bytes", "omitempty"],
  ["SourcePort", "sourcePort", "u16", "omitempty"],
  ["SourceNode", "sourceNode", "string", "omitempty"],
] as const;

const PING = struct<PingMessage>(SEQ_NO, NODE, ...SOURCE);
const INDIRECT_PING = struct<IndirectPingMessage>(
  SEQ_NO,
  ["Target", "target", "bytes"],
  PORT,
  NODE,
  ["Nack", "nack", "bool"],
  ...SOURCE,
);
const ACK = struct<AckMessage>(SEQ_NO, ["Payload", "payload", "bytesOrNull"]);
const NACK = struct<NackMessage>(SEQ_NO);
const ERR = struct<ErrMessage>(["Error", "error", "string"]);
const ALIVE = struct<AliveMessage>(INCARNATION, NODE, ADDR, PORT, META, VSN);
const SUSPECT_DEAD = struct<SuspectMessage | DeadMessage>(INCARNATION, NODE, ["From", "from", "string"]);

interface PushPullHeader {
  join: boolean;
  nodes: number;
  userStateLen: number;
}
const PUSH_PULL_HEADER = struct<PushPullHeader>(
  ["Nodes", "nodes", "int"],
  ["UserStateLen", "userStateLen", "int"],
  ["Join", "join", "bool"],
);
const PUSH_NODE_STATE = struct<PushNodeState>(
  ["Name", "name", "string"],
  ADDR,
  PORT,
  META,
  INCARNATION,
  ["State", "state", "nodeState"],
  VSN,
);
const USER_MSG_HEADER = struct<{ userMsgLen: number }>(["UserMsgLen", "userMsgLen", "int"]);
const COMPRESS = struct<{ algo: number; buf: Uint8Array }>(["Algo", "algo", "int"], ["Buf", "buf", "bytes"]);

/** The messages whose body is one struct, by their `type`: type byte and fields. */
const BODIES = {
  ping: { code: MessageType.ping, schema: PING },
  indirectPing: { code: MessageType.indirectPing, schema: INDIRECT_PING },
  ack: { code: MessageType.ackResp, schema: ACK },
  nack: { code: MessageType.nackResp, schema: NACK },
  err: { code: MessageType.errResp, schema: ERR },
  alive: { code: MessageType.alive, schema: ALIVE },
  suspect: { code: MessageType.suspect, schema: SUSPECT_DEAD },
  dead: { code: MessageType.dead, schema: SUSPECT_DEAD },
};
type StructMessageType = keyof typeof BODIES;
type StructMessage = Extract<Message, { type: StructMessageType }>;

function decodeStruct(r: MsgpackReader, type: StructMessageType): StructMessage {
  switch (type) {
    case "alive":
      return readAlive(r);
    case "suspect":
    case "dead":
      return readSuspectDead(r, type);
    case "ping":
      return readPing(r);
    case "ack":
      return readAck(r);
    default:
      return readFields<StructMessage>(r, BODIES[type].schema, { type });
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-written readers for the structs read by the thousand (gossip, probes, push-pull states).
// Each reads what readFields reads with the declaration above (same keys, kinds, zero values and
// leniency, through the same readStruct), but stores named properties, which the engine keeps
// monomorphic; the generic reader's computed stores and calls through a field's kind cost several
// times as much when a cluster of a thousand members gossips. Their short byte fields (Addr, Vsn,
// Meta) may be the very arrays an earlier message with the same bytes gave (readSharedBytes):
// decoded messages are read, never modified.

/** Stands for "key absent" in a byte field until the read ends; never returned. */
const ABSENT = new Uint8Array(0);

/** A byte field's value, or its zero value (a fresh empty array) when its key was absent. */
function bytesOrZero(v: Uint8Array): Uint8Array {
  return v === ABSENT ? new Uint8Array(0) : v;
}

function readAlive(r: MsgpackReader): AliveMessage {
  const m: AliveMessage = {
    type: "alive",
    incarnation: 0,
    node: "",
    addr: ABSENT,
    port: 0,
    meta: ABSENT,
    vsn: ABSENT,
  };
  r.readStruct(ALIVE.declared, readAliveField, m);
  m.addr = bytesOrZero(m.addr);
  m.meta = bytesOrZero(m.meta);
  m.vsn = bytesOrZero(m.vsn);
  return m;
}

function readAliveField(key: string, m: AliveMessage, r: MsgpackReader): boolean {
  switch (key) {
    case "Incarnation":
      m.incarnation = r.readUint(U32);
      return true;
    case "Node":
      m.node = r.readString();
      return true;
    case "Addr":
      m.addr = r.readSharedBytes();
      return true;
    case "Port":
      m.port = r.readUint(U16);
      return true;
    case "Meta":
      m.meta = r.readSharedBytes();
      return true;
    case "Vsn":
      m.vsn = r.readSharedBytes();
      return true;
    default:
      return false;
  }
}

function readSuspectDead<T extends "suspect" | "dead">(
  r: MsgpackReader,
  type: T,
): Extract<SuspectMessage | DeadMessage, { type: T }> {
  const m = { type, incarnation: 0, node: "", from: "" } as SuspectMessage | DeadMessage;
  r.readStruct(SUSPECT_DEAD.declared, readSuspectDeadField, m);
  return m as Extract<SuspectMessage | DeadMessage, { type: T }>;
}

function readSuspectDeadField(key: string, m: SuspectMessage | DeadMessage, r: MsgpackReader): boolean {
  switch (key) {
    case "Incarnation":
      m.incarnation = r.readUint(U32);
      return true;
    case "Node":
      m.node = r.readString();
      return true;
    case "From":
      m.from = r.readString();
      return true;
    default:
      return false;
  }
}

function readPing(r: MsgpackReader): PingMessage {
  const m: PingMessage = { type: "ping", seqNo: 0, node: "" };
  r.readStruct(PING.declared, readPingField, m);
  return m;
}

function readPingField(key: string, m: PingMessage, r: MsgpackReader): boolean {
  switch (key) {
    case "SeqNo":
      m.seqNo = r.readUint(U32);
      return true;
    case "Node":
      m.node = r.readString();
      return true;
    // omitempty: present only when the key is.
    case "SourceAddr":
      m.sourceAddr = r.readSharedBytes();
      return true;
    case "SourcePort":
      m.sourcePort = r.readUint(U16);
      return true;
    case "SourceNode":
      m.sourceNode = r.readString();
      return true;
    default:
      return false;
  }
}

function readAck(r: MsgpackReader): AckMessage {
  const m: AckMessage = { type: "ack", seqNo: 0, payload: null };
  r.readStruct(ACK.declared, readAckField, m);
  return m;
}

function readAckField(key: string, m: AckMessage, r: MsgpackReader): boolean {
  switch (key) {
    case "SeqNo":
      m.seqNo = r.readUint(U32);
      return true;
    case "Payload":
      m.payload = r.readBytesOrNull();
      return true;
    default:
      return false;
  }
}

function readPushNodeState(r: MsgpackReader): PushNodeState {
  const s: PushNodeState = {
    name: "",
    addr: ABSENT,
    port: 0,
    meta: ABSENT,
    incarnation: 0,
    state: 0,
    vsn: ABSENT,
  };
  r.readStruct(PUSH_NODE_STATE.declared, readPushNodeStateField, s);
  s.addr = bytesOrZero(s.addr);
  s.meta = bytesOrZero(s.meta);
  s.vsn = bytesOrZero(s.vsn);
  return s;
}

function readPushNodeStateField(key: string, s: PushNodeState, r: MsgpackReader): boolean {
  switch (key) {
    case "Name":
      s.name = r.readString();
      return true;
    case "Addr":
      s.addr = r.readSharedBytes();
      return true;
    case "Port":
      s.port = r.readUint(U16);
      return true;
    case "Meta":
      s.meta = r.readSharedBytes();
      return true;
    case "Incarnation":
      s.incarnation = r.readUint(U32);
      return true;
    case "State":
      s.state = readNodeStateCode(r);
      return true;
    case "Vsn":
      s.vsn = r.readSharedBytes();
      return true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Serf 0.9.4 panics on an alive whose Vsn has 1 to 5 bytes, and refuses a push-pull state without
 * one (§6.1), so nothing else is ever sent.
 */
function checkVsn(vsn: Uint8Array, node: string): void {
  if (vsn.length !== 6) throw new RangeError(`Vsn of ${node} must be 6 bytes, got ${vsn.length}`);
}

/** Writes the type byte and body of every message whose form is the same on packets and streams. */
function writeBody(w: MsgpackWriter, msg: Exclude<Message, UserMessage>): void {
  if (msg.type === "pushPull") {
    const header = { join: msg.join, nodes: msg.nodes.length, userStateLen: msg.userState.length };
    writeFields(w.u8(MessageType.pushPull), PUSH_PULL_HEADER, header);
    for (const state of msg.nodes) {
      checkVsn(state.vsn, state.name);
      writePushNodeState(w, state);
    }
    w.raw(msg.userState);
    return;
  }
  if (msg.type === "alive") {
    checkVsn(msg.vsn, msg.node);
    writeAlive(w.u8(MessageType.alive), msg);
    return;
  }
  const { code, schema } = BODIES[msg.type];
  writeFields<StructMessage>(w.u8(code), schema, msg);
}

// Hand-written writers for the structs written by the thousand (alive gossip, push-pull states):
// the bytes writeFields writes with their declaration above (keys in the same sorted order, none
// of them omitempty), without its loop through the fields by computed property.

/** The encoded keys of `schema`, checked to be the fields it sorts in the order `keys` lists. */
function sortedKeys<T>(schema: Schema<T>, keys: readonly string[]): Uint8Array[] {
  const sorted = schema.sorted.map((f) => f.key);
  if (sorted.join() !== keys.join() || schema.fields.some((f) => f.omitEmpty)) {
    throw new Error(`codec: hand-written writer out of step with ${sorted.join()}`);
  }
  return schema.sorted.map((f) => f.wireKey);
}

const [A_ADDR, A_INCARNATION, A_META, A_NODE, A_PORT, A_VSN] = sortedKeys(ALIVE, [
  "Addr",
  "Incarnation",
  "Meta",
  "Node",
  "Port",
  "Vsn",
]) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];

function writeAlive(w: MsgpackWriter, m: AliveMessage): void {
  w.mapHeader(6);
  w.raw(A_ADDR).bytes(m.addr);
  w.raw(A_INCARNATION).int(m.incarnation);
  w.raw(A_META).bytes(m.meta);
  w.raw(A_NODE).str(m.node);
  w.raw(A_PORT).int(m.port);
  w.raw(A_VSN).bytes(m.vsn);
}

const [S_ADDR, S_INCARNATION, S_META, S_NAME, S_PORT, S_STATE, S_VSN] = sortedKeys(PUSH_NODE_STATE, [
  "Addr",
  "Incarnation",
  "Meta",
  "Name",
  "Port",
  "State",
  "Vsn",
]) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];

function writePushNodeState(w: MsgpackWriter, s: PushNodeState): void {
  w.mapHeader(7);
  w.raw(S_ADDR).bytes(s.addr);
  w.raw(S_INCARNATION).int(s.incarnation);
  w.raw(S_META).bytes(s.meta);
  w.raw(S_NAME).str(s.name);
  w.raw(S_PORT).int(s.port);
  w.raw(S_STATE).int(s.state);
  w.raw(S_VSN).bytes(s.vsn);
}

/**
 * One message as it goes into a packet (or, except for user, onto a stream): type byte + msgpack
 * body. pushPull is `06`, header, node states, user state bytes; user is `08` + payload (§3.6).
 * Throws RangeError for an alive or node state whose Vsn is not 6 bytes.
 */
export function encodeMessage(msg: Message): Uint8Array {
  const w = new MsgpackWriter();
  try {
    if (msg.type === "user") w.u8(MessageType.user).raw(msg.payload);
    else writeBody(w, msg);
  } catch (err) {
    w.discard();
    throw err;
  }
  return w.finish();
}

/** A user message in stream form: `08`, `{UserMsgLen}`, then the bytes (§3.6). */
export function encodeUserStream(payload: Uint8Array): Uint8Array {
  const w = new MsgpackWriter().u8(MessageType.user);
  writeFields(w, USER_MSG_HEADER, { userMsgLen: payload.length });
  return w.raw(payload).finish();
}

/**
 * Several messages in one datagram: `07`, count, big-endian uint16 lengths, the parts (§4.2).
 * Refuses what would crash or confuse Serf 0.9.4: more than 127 parts or an empty part.
 */
export function encodeCompound(parts: Uint8Array[]): Uint8Array {
  return compoundInto(parts, 0);
}

/**
 * `withCrc(encodeCompound(parts))` in one buffer, without the intermediate copy: a gossip packet
 * is built this way several thousand times a second in a large simulated cluster.
 */
export function encodeCompoundWithCrc(parts: Uint8Array[]): Uint8Array {
  const out = compoundInto(parts, CRC_HEADER);
  writeCrcHeader(out, crc32(out.subarray(CRC_HEADER)));
  return out;
}

/** The hasCrc header's length: the type byte and the CRC-32 (§4.5). */
const CRC_HEADER = 5;

/**
 * Outgoing datagrams are cut from shared slabs, as Node's Buffer.allocUnsafe cuts small buffers
 * from a pool: a buffer of its own costs an allocation outside the JavaScript heap, zeroed, and
 * the garbage collector's bookkeeping to free it, for every packet sent (thousands a second per
 * node in a large simulated cluster). A datagram lives until it is sent; a slab is freed once
 * none of the datagrams cut from it is referenced. Every byte of a datagram is written.
 */
const SLAB_BYTES = 16 * 1024;
/** Larger datagrams get a buffer of their own, so that a slab holds a few at least. */
const SLAB_MAX_CUT = 2 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/** `length` bytes for a datagram, its contents not yet written. */
function datagramBuffer(length: number): Uint8Array {
  if (length > SLAB_MAX_CUT) return new Uint8Array(length);
  if (slabUsed + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, length);
  // Aligned as a buffer of its own would be.
  slabUsed += (length + 7) & ~7;
  return out;
}

/** Writes the hasCrc header (`0c`, the CRC-32 big-endian) at the start of `out` (§4.5). */
function writeCrcHeader(out: Uint8Array, crc: number): void {
  out[0] = MessageType.hasCrc;
  out[1] = crc >>> 24;
  out[2] = (crc >>> 16) & 0xff;
  out[3] = (crc >>> 8) & 0xff;
  out[4] = crc & 0xff;
}

/** A compound of `parts` written `offset` bytes into a datagram buffer of exactly the size needed. */
function compoundInto(parts: Uint8Array[], offset: number): Uint8Array {
  if (parts.length > MAX_COMPOUND_PARTS) {
    throw new RangeError(`compound: ${parts.length} parts, at most ${MAX_COMPOUND_PARTS}`);
  }
  let total = offset + 2 + 2 * parts.length;
  for (const part of parts) {
    if (part.length === 0) throw new RangeError("compound: empty part (crashes Serf 0.9.4)");
    if (part.length > U16) throw new RangeError(`compound: part of ${part.length} bytes exceeds 65535`);
    total += part.length;
  }
  const out = datagramBuffer(total);
  out[offset] = MessageType.compound;
  out[offset + 1] = parts.length;
  let at = offset + 2 + 2 * parts.length;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    out[offset + 2 + 2 * i] = part.length >> 8;
    out[offset + 3 + 2 * i] = part.length & 0xff;
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Prepends the hasCrc header: `0c`, IEEE CRC-32 big-endian of the rest (§4.5). Outermost only. */
export function withCrc(packet: Uint8Array): Uint8Array {
  const out = datagramBuffer(CRC_HEADER + packet.length);
  writeCrcHeader(out, crc32(packet));
  out.set(packet, CRC_HEADER);
  return out;
}

/**
 * Wraps a message in `09 {Algo: 0, Buf: lzw(message)}` (§3.7). Always wraps; for packets the
 * caller keeps the result only if it is smaller (§4.1).
 */
export function compress(message: Uint8Array): Uint8Array {
  const w = new MsgpackWriter().u8(MessageType.compress);
  writeFields(w, COMPRESS, { algo: ALGO_LZW, buf: lzwCompress(message) });
  return w.finish();
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

function decodePushPull(r: MsgpackReader): PushPullMessage {
  const h = readFields(r, PUSH_PULL_HEADER, {});
  // Each node state is at least one byte: a larger count cannot be real (and must not allocate).
  if (h.nodes > r.remaining) throw new WireError(`pushPull: ${h.nodes} node states in ${r.remaining} bytes`);
  const nodes: PushNodeState[] = [];
  for (let i = 0; i < h.nodes; i++) nodes.push(readPushNodeState(r));
  return { type: "pushPull", join: h.join, nodes, userState: r.take(h.userStateLen).slice() };
}

/**
 * Reads `{Algo, Buf}` after a compress type byte and returns the decompressed message (§3.7),
 * at most `maxBytes` long (a WireLimitError beyond).
 */
function decompressBody(r: MsgpackReader, maxBytes: number): Uint8Array {
  const { algo, buf } = readFields(r, COMPRESS, {});
  if (algo !== ALGO_LZW) throw new WireError(`compress: unknown algorithm ${algo}`);
  return lzwDecompress(buf, maxBytes);
}

/** Type byte to struct message, for those a packet may carry directly; errResp is stream-only (§1). */
const PACKET_TYPES = new Map<number, StructMessageType>();
for (const type of ["ping", "indirectPing", "ack", "nack", "alive", "suspect", "dead"] as const)
  PACKET_TYPES.set(BODIES[type].code, type);

// ---------------------------------------------------------------------------------------------
// Packets

export interface DecodedPacket {
  messages: Message[];
  errors: string[];
}

/** The packet being decoded: what it yielded so far and the decompression budget left. */
interface PacketDecoding extends DecodedPacket {
  decompressBudget: number;
}

/**
 * A part's WireError becomes a report; anything else is a bug and propagates. A bound exceeded
 * (WireLimitError) refuses the whole packet, not just the part.
 */
function partErrorMessage(err: unknown): string {
  if (err instanceof WireError && !(err instanceof WireLimitError)) return err.message;
  throw err;
}

/** Decodes one message or container at `depth`, appending to `out`. Throws WireError. */
function decodePacketMessage(data: Uint8Array, depth: number, out: PacketDecoding): void {
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
    const inner = decompressBody(r, out.decompressBudget);
    out.decompressBudget -= inner.length;
    decodePacketMessage(inner, depth + 1, out);
    return;
  }
  const structType = PACKET_TYPES.get(type);
  if (structType === undefined) throw new WireError(`packet: msg type (${type}) not supported`);
  // Trailing bytes after the top-level value are ignored, as go-msgpack does (§2.2).
  out.messages.push(decodeStruct(r, structType));
}

/**
 * memberlist's compound handling (§4.2): a part that fails to decode is skipped and reported, the
 * others still count. A part longer than the bytes left truncates it and every later part. An
 * empty part (which crashes Serf 0.9.4) is reported and skipped.
 */
function decodeCompound(data: Uint8Array, depth: number, out: PacketDecoding): void {
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
 * only when the datagram yields no message at all and something was wrong with it, and
 * WireLimitError when its compress wrappers together expand beyond `maxDecompressedBytes`.
 */
export function decodePacket(
  data: Uint8Array,
  options: { maxDecompressedBytes?: number } = {},
): DecodedPacket {
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
  const out: PacketDecoding = {
    messages: [],
    errors: [],
    decompressBudget: options.maxDecompressedBytes ?? MAX_PACKET_DECOMPRESSED_BYTES,
  };
  decodePacketMessage(body, 0, out);
  if (out.messages.length === 0 && out.errors.length > 0) throw new WireError(out.errors.join("; "));
  return { messages: out.messages, errors: out.errors };
}

function hex8(v: number): string {
  return v.toString(16).padStart(2, "0");
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
 * message, including anything that would exceed MAX_STREAM_BYTES. A reader that gets the bytes
 * in pieces should keep one {@link StreamFramer} instead.
 */
export function streamMessageLength(buf: Uint8Array): number | undefined {
  return new StreamFramer().measure(buf);
}

/** Nesting allowed inside one value, as MsgpackReader.skip allows. */
const MAX_VALUE_DEPTH = 64;

/** What the framer does once the values it was skipping are behind it. */
type FramerStep = "type" | "frame" | "end" | "userHeader" | "pushPullHeader" | "pushPullNodes";

/**
 * Finds where the first stream message ends (§4.7) as its bytes arrive. Each call to
 * {@link measure} gets the whole buffer so far, which only grows and whose earlier bytes never
 * change, and resumes where the previous call stopped: a message costs time linear in its length
 * however finely a peer chunks it. (Parsing afresh on every chunk is quadratic, a cheap way for a
 * peer to burn this node's CPU with a few megabytes of tiny values.) Throws WireError for bytes
 * that can never become a valid message, and WireLimitError once the message is known to exceed
 * `maxBytes`.
 */
export class StreamFramer {
  readonly #maxBytes: number;
  /** The next byte to look at. */
  #pos = 0;
  /** Where the value being skipped for its contents (a header) started. */
  #valueStart = 0;
  /** Values still to skip at each open nesting level, innermost last. */
  readonly #levels: number[] = [];
  /** Payload bytes (str, bin, ext, fixed-width numbers, raw tails) still to pass over. */
  #rawLeft = 0;
  /** What to do when #levels and #rawLeft are both exhausted. */
  #next: FramerStep = "type";
  /** A push-pull's UserStateLen, the raw tail after its node states. */
  #userStateLen = 0;
  #length: number | undefined;

  constructor(maxBytes: number = MAX_STREAM_BYTES) {
    this.#maxBytes = Math.min(maxBytes, MAX_STREAM_BYTES);
  }

  /** The message length once `buf` holds all of it, else undefined. Throws as described above. */
  measure(buf: Uint8Array): number | undefined {
    while (this.#length === undefined) {
      if (!this.#skip(buf)) return undefined;
      if (!this.#step(buf)) return undefined;
    }
    return this.#length;
  }

  /** Runs the step after the skipped values; false while it needs more bytes. */
  #step(buf: Uint8Array): boolean {
    switch (this.#next) {
      case "type":
        return this.#startMessage(buf);
      case "frame": {
        if (buf.length < 5) return false;
        const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1);
        if (len > MAX_STREAM_BYTES)
          throw new WireError(`stream: encrypted frame of ${len} bytes is too large`);
        this.#expect(5 + len);
        this.#rawLeft = len;
        this.#pos = 5;
        this.#next = "end";
        return true;
      }
      case "userHeader": {
        const r = new MsgpackReader(buf.subarray(0, this.#pos), this.#valueStart);
        this.#raw(readFields(r, USER_MSG_HEADER, {}).userMsgLen, "end");
        return true;
      }
      case "pushPullHeader": {
        const r = new MsgpackReader(buf.subarray(0, this.#pos), this.#valueStart);
        const h = readFields(r, PUSH_PULL_HEADER, {});
        if (h.nodes > MAX_STREAM_BYTES) throw new WireError(`stream: ${h.nodes} node states is too many`);
        // Each node state takes at least one byte.
        this.#expect(this.#pos + h.nodes + h.userStateLen);
        this.#userStateLen = h.userStateLen;
        if (h.nodes > 0) this.#levels.push(h.nodes);
        this.#next = "pushPullNodes";
        return true;
      }
      case "pushPullNodes":
        this.#raw(this.#userStateLen, "end");
        return true;
      case "end":
        this.#length = this.#pos;
        return true;
    }
  }

  #startMessage(buf: Uint8Array): boolean {
    const type = buf[0];
    if (type === undefined) return false;
    this.#pos = 1;
    this.#valueStart = 1;
    switch (type) {
      case MessageType.encrypt:
        this.#pos = 0;
        this.#next = "frame";
        return true;
      case MessageType.compress:
      case MessageType.ping:
      case MessageType.ackResp:
      case MessageType.errResp:
        this.#next = "end";
        break;
      case MessageType.user:
        this.#next = "userHeader";
        break;
      case MessageType.pushPull:
        this.#next = "pushPullHeader";
        break;
      default:
        throw new WireError(`stream: msg type (${type}) not supported`);
    }
    this.#levels.push(1);
    return true;
  }

  /** Passes over `n` raw bytes next, then does `then`. */
  #raw(n: number, then: FramerStep): void {
    this.#expect(this.#pos + n);
    this.#rawLeft = n;
    this.#next = then;
  }

  /** The message is at least `total` bytes: refused now if that is beyond the bound. */
  #expect(total: number): void {
    if (total > this.#maxBytes) throw new WireLimitError(`stream: message exceeds ${this.#maxBytes} bytes`);
  }

  /**
   * Advances over raw bytes and pending msgpack values as far as `buf` goes, checking each value
   * as MsgpackReader.skip does. True once nothing is left to skip, false when more bytes are needed.
   */
  #skip(buf: Uint8Array): boolean {
    for (;;) {
      if (this.#rawLeft > 0) {
        const n = Math.min(this.#rawLeft, buf.length - this.#pos);
        this.#pos += n;
        this.#rawLeft -= n;
        if (this.#rawLeft > 0) return false;
      }
      const levels = this.#levels;
      while (levels.length > 0 && levels[levels.length - 1] === 0) levels.pop();
      if (levels.length === 0) return true;
      if (levels.length - 1 > MAX_VALUE_DEPTH) throw new WireError("msgpack: nesting too deep");
      const at = this.#pos;
      const tag = buf[at];
      if (tag === undefined) return false;
      const layout = valueLayout(tag);
      if (layout === undefined) throw new WireError(`msgpack: invalid type byte 0x${hex8(tag)}`);
      const body = at + 1 + layout.lengthBytes;
      if (body > buf.length) return false;
      const n = layout.fixed ?? readLength(buf, at + 1, layout.lengthBytes);
      levels[levels.length - 1]!--;
      this.#pos = body;
      if (layout.kind === "container") {
        // Each element takes at least one byte (a map entry two): a count beyond the bound is refused.
        this.#expect(body + n * layout.perEntry);
        if (n > 0) levels.push(n * layout.perEntry);
      } else {
        this.#expect(body + n + layout.extra);
        this.#rawLeft = n + layout.extra;
      }
    }
  }
}

/**
 * Decodes one plaintext stream message (a compress wrapper is undone once, as memberlist does):
 * ping, ack, err, pushPull, or user in its stream form. Encrypted frames must be opened first
 * (crypto.ts). Truncated input is a WireError; bytes after the message are ignored. A compressed
 * message that expands beyond `maxDecompressedBytes` is a WireLimitError.
 * @param options.maxDecompressedBytes @default DEFAULT_MAX_DECOMPRESSED_BYTES (8 MiB)
 */
export function decodeStreamMessage(
  buf: Uint8Array,
  options: { maxDecompressedBytes?: number } = {},
): Message {
  let data = buf;
  if (data[0] === MessageType.compress)
    data = decompressBody(
      new MsgpackReader(data, 1),
      options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES,
    );
  const type = data[0];
  if (type === undefined) throw new WireError("stream: missing message type byte");
  const r = new MsgpackReader(data, 1);
  switch (type) {
    case MessageType.ping:
      return decodeStruct(r, "ping");
    case MessageType.ackResp:
      return decodeStruct(r, "ack");
    case MessageType.errResp:
      return decodeStruct(r, "err");
    case MessageType.pushPull:
      return decodePushPull(r);
    case MessageType.user: {
      const { userMsgLen } = readFields(r, USER_MSG_HEADER, {});
      return { type: "user", payload: r.take(userMsgLen).slice() };
    }
    case MessageType.encrypt:
      throw new WireError("stream: encrypted frame, decrypt it first");
    default:
      throw new WireError(`stream: msg type (${type}) not supported`);
  }
}
