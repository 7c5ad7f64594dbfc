/**
 * Property tests: decoders meet random and mutated input with WireError only, never another
 * exception, and every message heck can build survives encode → decode unchanged. Seeds are fixed
 * so a failure reruns exactly.
 */

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { WireError } from "../../../src/errors.js";
import {
  compress,
  decodePacket,
  decodeStreamMessage,
  encodeCompound,
  encodeMessage,
  encodeStreamMessage,
  streamMessageLength,
  withCrc,
} from "../../../src/wire/codec.js";
import { Keyring, parseKey } from "../../../src/wire/crypto.js";
import type { Message, PushNodeState } from "../../../src/wire/messages.js";
import { MsgpackWriter } from "../../../src/wire/msgpack.js";
import { keysJson, loadVectors, recordedPlaintext, streamInnerBytes } from "./vectors.js";

const RUNS = { numRuns: 2000, seed: 20261126 };

/** Runs `fn` and fails unless it returns or throws a WireError. */
function onlyWireErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
  }
}

function allDecoders(data: Uint8Array): void {
  onlyWireErrors(() => decodePacket(data));
  onlyWireErrors(() => decodeStreamMessage(data));
  onlyWireErrors(() => {
    const n = streamMessageLength(data);
    if (n !== undefined) {
      assert.ok(n > 0 && n <= data.length, `length ${n} outside 1..${data.length}`);
      decodeStreamMessage(data.subarray(0, n));
    }
  });
}

const vectors = loadVectors();
/** Seeds for mutation: every captured plaintext, its unwrapped form, and the raw capture. */
const seeds: Uint8Array[] = vectors.flatMap((v) =>
  v.stream ? [v.bin, recordedPlaintext(v), streamInnerBytes(v)] : [v.bin, recordedPlaintext(v)],
);

type Mutation = { kind: "flip" | "set" | "insert" | "delete"; at: number; value: number };

const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(
      fc.record({
        kind: fc.constantFrom<Mutation["kind"]>("flip", "set", "insert", "delete"),
        at: fc.nat(),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([seed, mutations, cut]) => {
    const bytes = [...seed];
    for (const m of mutations) {
      const at = bytes.length === 0 ? 0 : m.at % bytes.length;
      if (m.kind === "flip" && bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << (m.value % 8));
      else if (m.kind === "set" && bytes.length > 0) bytes[at] = m.value;
      else if (m.kind === "insert") bytes.splice(at, 0, m.value);
      else if (m.kind === "delete") bytes.splice(at, 1);
    }
    return Uint8Array.from(cut === undefined ? bytes : bytes.slice(0, cut % (bytes.length + 1)));
  });

/** A type byte followed by a map of memberlist keys with values of random msgpack types. */
const KEYS = [
  "Node",
  "SeqNo",
  "SourceAddr",
  "SourceNode",
  "SourcePort",
  "Nack",
  "Port",
  "Target",
  "Payload",
  "Error",
  "Addr",
  "Incarnation",
  "Meta",
  "Vsn",
  "From",
  "Join",
  "Nodes",
  "UserStateLen",
  "Name",
  "State",
  "UserMsgLen",
  "Algo",
  "Buf",
];
const anyValue = fc.oneof(
  fc.constant((w: MsgpackWriter) => w.nil()),
  fc.boolean().map((b) => (w: MsgpackWriter) => w.bool(b)),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }).map((n) => (w: MsgpackWriter) => w.int(n)),
  fc.integer({ min: 0, max: 300 }).map((n) => (w: MsgpackWriter) => w.int(n)),
  fc.double().map((x) => (w: MsgpackWriter) => w.float64(x)),
  fc.uint8Array({ maxLength: 40 }).map((b) => (w: MsgpackWriter) => w.bytes(b)),
  fc.string().map((s) => (w: MsgpackWriter) => w.str(s)),
  fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 8 }).map((xs) => (w: MsgpackWriter) => {
    w.arrayHeader(xs.length);
    for (const x of xs) w.int(x);
  }),
  fc
    .uint8Array({ maxLength: 40 })
    .map((b) => (w: MsgpackWriter) => w.raw(Uint8Array.of(0xc4, b.length, ...b))),
);
const structured = fc
  .tuple(
    fc.integer({ min: 0, max: 14 }),
    fc.array(fc.tuple(fc.constantFrom(...KEYS), anyValue), { maxLength: 9 }),
    fc.uint8Array({ maxLength: 30 }),
  )
  .map(([type, fields, tail]) => {
    const w = new MsgpackWriter().raw(Uint8Array.of(type)).mapHeader(fields.length);
    for (const [key, write] of fields) {
      w.str(key);
      write(w);
    }
    return w.raw(tail).finish();
  });

describe("decoders under hostile input", () => {
  it("throw only WireError on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (data) => allDecoders(data)),
      RUNS,
    );
  });

  it("throw only WireError on mutated and truncated captures", () => {
    fc.assert(
      fc.property(mutated, (data) => allDecoders(data)),
      RUNS,
    );
  });

  it("throw only WireError on well-formed msgpack with the wrong types in known fields", () => {
    fc.assert(
      fc.property(structured, (data) => {
        allDecoders(data);
        allDecoders(compress(data));
        allDecoders(withCrc(data));
        allDecoders(encodeCompound([data, data]));
      }),
      RUNS,
    );
  });

  it("the keyring throws only WireError on random and mutated sealed input", () => {
    const ring = new Keyring([parseKey(keysJson().K1_primary_32_bytes)]);
    const sealed = vectors.filter((v) => v.encrypted).map((v) => v.bin);
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated),
        fc.constantFrom(...sealed),
        (random, frame) => {
          onlyWireErrors(() => ring.decryptPacket(random));
          onlyWireErrors(() => ring.decryptStreamFrame(random));
          const tampered = frame.slice();
          tampered[random.length % tampered.length]! ^= 0x20;
          assert.throws(
            () => (tampered[0] === 0x0a ? ring.decryptStreamFrame(tampered) : ring.decryptPacket(tampered)),
            WireError,
          );
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});

// -- Round trips ------------------------------------------------------------------------------

/** fast-check builds records without a prototype; decoded messages are plain objects. */
function plainRecord<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model).map((r) => ({ ...r }) as T);
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const name = fc.string({ maxLength: 70 });
const bytes = fc.uint8Array({ maxLength: 80 });
const addr = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
);
const vsn = fc.uint8Array({ minLength: 6, maxLength: 6 });
const source = fc.record(
  {
    sourceAddr: addr,
    sourcePort: fc.integer({ min: 1, max: 0xffff }),
    sourceNode: fc.string({ minLength: 1 }),
  },
  { requiredKeys: [] },
);

const packetMessage: fc.Arbitrary<Message> = fc.oneof(
  fc
    .tuple(plainRecord({ seqNo: u32, node: name }), source)
    .map(([m, s]) => ({ type: "ping" as const, ...m, ...s })),
  fc
    .tuple(plainRecord({ seqNo: u32, target: addr, port: u16, node: name, nack: fc.boolean() }), source)
    .map(([m, s]) => ({ type: "indirectPing" as const, ...m, ...s })),
  plainRecord({ type: fc.constant("ack" as const), seqNo: u32, payload: fc.option(bytes, { nil: null }) }),
  plainRecord({ type: fc.constant("nack" as const), seqNo: u32 }),
  plainRecord({
    type: fc.constant("alive" as const),
    incarnation: u32,
    node: name,
    addr,
    port: u16,
    meta: bytes,
    vsn,
  }),
  plainRecord({
    type: fc.constantFrom("suspect" as const, "dead" as const),
    incarnation: u32,
    node: name,
    from: name,
  }),
  plainRecord({ type: fc.constant("user" as const), payload: bytes }),
);

const nodeState: fc.Arbitrary<PushNodeState> = plainRecord({
  name,
  addr,
  port: u16,
  meta: bytes,
  incarnation: u32,
  state: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
  vsn,
});

const streamMessage: fc.Arbitrary<Message> = fc.oneof(
  fc
    .tuple(plainRecord({ seqNo: u32, node: name }), source)
    .map(([m, s]) => ({ type: "ping" as const, ...m, ...s })),
  plainRecord({ type: fc.constant("ack" as const), seqNo: u32, payload: fc.option(bytes, { nil: null }) }),
  plainRecord({ type: fc.constant("err" as const), error: fc.string({ maxLength: 200 }) }),
  plainRecord({ type: fc.constant("user" as const), payload: fc.uint8Array({ maxLength: 300 }) }),
  plainRecord({
    type: fc.constant("pushPull" as const),
    join: fc.boolean(),
    nodes: fc.array(nodeState, { maxLength: 6 }),
    userState: fc.uint8Array({ maxLength: 700 }),
  }),
);

describe("encode → decode round trips", () => {
  it("packets: any message, alone, compressed, with CRC, or in a compound", () => {
    fc.assert(
      fc.property(fc.array(packetMessage, { minLength: 1, maxLength: 5 }), (messages) => {
        const parts = messages.map(encodeMessage);
        assert.deepEqual(decodePacket(parts[0]!).messages, [messages[0]]);
        const packet = withCrc(compress(encodeCompound(parts)));
        assert.deepEqual(decodePacket(packet), { messages, errors: [] });
      }),
      { numRuns: 500, seed: 1 },
    );
  });

  it("streams: any stream message, plain or compressed, is framed and decoded unchanged", () => {
    fc.assert(
      fc.property(streamMessage, fc.boolean(), (msg, compressed) => {
        const framed = encodeStreamMessage(msg, { compress: compressed });
        assert.equal(streamMessageLength(framed), framed.length);
        assert.equal(streamMessageLength(framed.subarray(0, framed.length - 1)), undefined);
        assert.deepEqual(decodeStreamMessage(framed), msg);
      }),
      { numRuns: 500, seed: 2 },
    );
  });
});
