/** Framing rules and message forms beyond the captures (docs/wire.md §3, §4). */

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WireError } from "../../../src/errors.js";
import {
  compress,
  decodePacket,
  decodeStreamMessage,
  encodeCompound,
  encodeCompoundWithCrc,
  encodeMessage,
  encodeStreamMessage,
  encodeUserStream,
  streamMessageLength,
  withCrc,
} from "../../../src/wire/codec.js";
import { HECK_VSN, type Message } from "../../../src/wire/messages.js";
import { MsgpackWriter } from "../../../src/wire/msgpack.js";
import { fromHex, loadVectors, toHex } from "./vectors.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const suspect: Message = { type: "suspect", incarnation: 1, node: "charlie", from: "bravo" };
const nack: Message = { type: "nack", seqNo: 11 };
const alive: Message = {
  type: "alive",
  incarnation: 3,
  node: "heck-1",
  addr: Uint8Array.of(10, 0, 0, 1),
  port: 7946,
  meta: Uint8Array.of(0xff, 0x80),
  vsn: HECK_VSN,
};

function wireError(pattern: RegExp) {
  return (e: unknown) => e instanceof WireError && pattern.test(e.message);
}

describe("message forms", () => {
  it("leaves out empty Source fields of a ping but always writes Node", () => {
    const v = loadVectors().find((x) => x.id === "edge/udp-ping-without-source-fields")!;
    const ping = { type: "ping", seqNo: 8, node: "plainnode" } as const;
    assert.equal(toHex(encodeMessage(ping)), toHex(v.bin));
    const empties = { ...ping, sourceAddr: new Uint8Array(0), sourceNode: "", sourcePort: 0 };
    assert.equal(toHex(encodeMessage(empties)), toHex(v.bin));
    assert.equal(
      toHex(encodeMessage({ type: "ping", seqNo: 9, node: "" })),
      "0082a44e6f6465a0a55365714e6f09",
    );
  });

  it("writes a nil ack payload as nil and an empty one as an empty string", () => {
    assert.equal(
      toHex(encodeMessage({ type: "ack", seqNo: 2, payload: null })),
      "0282a75061796c6f6164c0a55365714e6f02",
    );
    assert.equal(
      toHex(encodeMessage({ type: "ack", seqNo: 2, payload: new Uint8Array(0) })),
      "0282a75061796c6f6164a0a55365714e6f02",
    );
  });

  it("writes indirect pings with the keys sorted and Target as bytes", () => {
    const v = loadVectors().find((x) => x.id === "plain/udp-indirect-ping")!;
    const msg = decodePacket(v.bin).messages[0]!;
    assert.equal(toHex(encodeMessage(msg)), toHex(v.bin));
    assert.ok(toHex(v.bin).startsWith("0188a44e61636bc3"), "Nack comes first");
  });

  it("refuses to encode a Vsn that is not 6 bytes (Serf 0.9.4 panics on 1 to 5)", () => {
    assert.throws(() => encodeMessage({ ...alive, vsn: Uint8Array.of(1, 5, 2) } as Message), RangeError);
    const state = {
      name: "x",
      addr: Uint8Array.of(1, 2, 3, 4),
      port: 1,
      meta: new Uint8Array(0),
      incarnation: 1,
      state: 0 as const,
      vsn: new Uint8Array(0),
    };
    assert.throws(
      () => encodeMessage({ type: "pushPull", join: false, nodes: [state], userState: new Uint8Array(0) }),
      RangeError,
    );
  });

  it("accepts a struct sent as an array in Go declaration order (§2.2)", () => {
    const body = new MsgpackWriter()
      .arrayHeader(5)
      .int(5)
      .str("alpha")
      .bytes(Uint8Array.of(127, 0, 0, 1))
      .int(7946)
      .str("bravo")
      .finish();
    const [msg] = decodePacket(Uint8Array.of(0, ...body)).messages;
    assert.deepEqual(msg, {
      type: "ping",
      seqNo: 5,
      node: "alpha",
      sourceAddr: Uint8Array.of(127, 0, 0, 1),
      sourcePort: 7946,
      sourceNode: "bravo",
    });
  });

  it("matches keys case-sensitively: a lowercase seqno is skipped and SeqNo stays 0", () => {
    const body = new MsgpackWriter()
      .struct([
        ["seqno", (w) => w.int(5)],
        ["Node", (w) => w.str("a")],
      ])
      .finish();
    assert.deepEqual(decodePacket(Uint8Array.of(11, ...body)).messages, [{ type: "nack", seqNo: 0 }]);
  });

  it("drops a message whose string field is bin or whose integer overflows, as Serf does", () => {
    const binNode = fromHex("0583a446726f6dc401" + "61" + "ab496e6361726e6174696f6e01a44e6f6465a161");
    assert.throws(() => decodePacket(binNode), wireError(/expected str, got 0xc4/));
    const bigSeq = new MsgpackWriter().struct([["SeqNo", (w) => w.int(2 ** 32)]]).finish();
    assert.throws(() => decodePacket(Uint8Array.of(11, ...bigSeq)), wireError(/overflows/));
  });
});

describe("compound (§4.2)", () => {
  it("writes the count and big-endian part lengths", () => {
    const parts = [encodeMessage(nack), encodeMessage(suspect)];
    const v = loadVectors().find((x) => x.id === "plain/udp-compound-nack-suspect")!;
    assert.equal(toHex(encodeCompound(parts)), toHex(v.bin));
    assert.equal(toHex(encodeCompound(parts).subarray(0, 6)), "070200090027");
  });

  it("builds a compound with its CRC header in one buffer, as withCrc of the compound", () => {
    const parts = [encodeMessage(nack), encodeMessage(suspect)];
    assert.equal(toHex(encodeCompoundWithCrc(parts)), toHex(withCrc(encodeCompound(parts))));
    assert.throws(() => encodeCompoundWithCrc([parts[0]!, new Uint8Array(0)]), RangeError);
  });

  it("refuses more than 127 parts and empty parts", () => {
    const part = encodeMessage(nack);
    assert.equal(encodeCompound(new Array(127).fill(part))[1], 127);
    assert.throws(() => encodeCompound(new Array(128).fill(part)), RangeError);
    assert.throws(() => encodeCompound([part, new Uint8Array(0)]), RangeError);
  });

  it("skips a part that fails to decode and keeps the others, reporting it", () => {
    const bad = Uint8Array.of(200, 0x80);
    const out = decodePacket(encodeCompound([encodeMessage(nack), bad, encodeMessage(suspect)]));
    assert.deepEqual(out.messages, [nack, suspect]);
    assert.equal(out.errors.length, 1);
    assert.match(out.errors[0]!, /part 1: .*\(200\) not supported/);
  });

  it("reports a zero-length part and a truncated tail without losing earlier parts", () => {
    const first = encodeMessage(nack);
    const zero = Uint8Array.of(7, 2, 0, first.length, 0, 0, ...first);
    assert.deepEqual(decodePacket(zero), { messages: [nack], errors: ["compound: part 1 has length 0"] });
    const full = encodeCompound([first, encodeMessage(suspect), encodeMessage(nack)]);
    const cut = full.subarray(0, full.length - 3);
    const out = decodePacket(cut);
    assert.deepEqual(out.messages, [nack, suspect]);
    assert.deepEqual(out.errors, ["compound: 1 truncated parts"]);
    assert.throws(() => decodePacket(Uint8Array.of(7, 3, 0, 1)), wireError(/part lengths do not fit/));
    assert.deepEqual(decodePacket(Uint8Array.of(7, 0)), { messages: [], errors: [] });
  });

  it("unwraps compress and compound recursively, in order", () => {
    const inner = compress(encodeCompound([encodeMessage(nack), encodeMessage(alive)]));
    const packet = withCrc(encodeCompound([encodeMessage(suspect), inner, Uint8Array.of(8, 1, 2)]));
    assert.deepEqual(decodePacket(packet).messages, [
      suspect,
      nack,
      alive,
      { type: "user", payload: Uint8Array.of(1, 2) },
    ]);
  });

  it("treats a CRC header inside a compound as an unknown type (§4.5)", () => {
    const out = decodePacket(encodeCompound([withCrc(encodeMessage(nack)), encodeMessage(suspect)]));
    assert.deepEqual(out.messages, [suspect]);
    assert.match(out.errors[0]!, /\(12\) not supported/);
  });

  it("bounds the nesting of compress and compound", () => {
    let packet = encodeMessage(nack);
    for (let i = 0; i < 20; i++) packet = compress(packet);
    assert.throws(() => decodePacket(packet), wireError(/nesting too deep/));
  });
});

describe("packets", () => {
  it("verifies the CRC and refuses a mismatch or a short header", () => {
    const packet = withCrc(encodeMessage(suspect));
    assert.deepEqual(decodePacket(packet).messages, [suspect]);
    const flipped = packet.slice();
    flipped[flipped.length - 1]! ^= 1;
    assert.throws(() => decodePacket(flipped), wireError(/CRC mismatch/));
    assert.throws(() => decodePacket(Uint8Array.of(12, 0, 0)), wireError(/CRC header truncated/));
  });

  it("compresses with Algo 0 and refuses any other algorithm", () => {
    const message = encodeMessage(alive);
    const packed = compress(message);
    assert.equal(toHex(packed.subarray(0, 9)), "0982a4416c676f00a3");
    assert.deepEqual(decodePacket(packed).messages, [alive]);
    const algo1 = new MsgpackWriter()
      .struct([
        ["Algo", (w) => w.int(1)],
        ["Buf", (w) => w.bytes(Uint8Array.of(0))],
      ])
      .finish();
    assert.throws(() => decodePacket(Uint8Array.of(9, ...algo1)), wireError(/unknown algorithm 1/));
  });

  it("refuses stream-only and empty messages in a packet", () => {
    assert.throws(() => decodePacket(new Uint8Array(0)), wireError(/missing message type/));
    assert.throws(
      () => decodePacket(encodeMessage({ type: "err", error: "x" })),
      wireError(/\(13\) not supported/),
    );
    const pp = encodeMessage({ type: "pushPull", join: false, nodes: [], userState: new Uint8Array(0) });
    assert.throws(() => decodePacket(pp), wireError(/\(6\) not supported/));
  });

  it("takes the rest of a packet as the user payload, even when empty", () => {
    assert.deepEqual(decodePacket(Uint8Array.of(8)).messages, [{ type: "user", payload: new Uint8Array(0) }]);
    assert.equal(toHex(encodeMessage({ type: "user", payload: Uint8Array.of(0, 1) })), "080001");
  });
});

describe("streams (§4.7)", () => {
  const streams = loadVectors().filter((v) => v.stream);

  for (const v of streams) {
    it(`${v.id}: fed one byte at a time, the length is known exactly when the last byte arrives`, () => {
      for (let n = 0; n < v.bin.length; n++)
        assert.equal(streamMessageLength(v.bin.subarray(0, n)), undefined, `at ${n}`);
      assert.equal(streamMessageLength(v.bin), v.bin.length);
      const followed = new Uint8Array(v.bin.length + 3);
      followed.set(v.bin);
      followed.set([0, 0x80, 0], v.bin.length);
      assert.equal(streamMessageLength(followed), v.bin.length);
    });
  }

  it("compresses streams unconditionally: Serf's 20-byte TCP ack becomes 38 bytes", () => {
    const ack: Message = { type: "ack", seqNo: 4242, payload: null };
    const v = loadVectors().find((x) => x.id === "edge/tcp-ack-response")!;
    assert.equal(encodeStreamMessage(ack, { compress: false }).length, 20);
    assert.equal(toHex(encodeStreamMessage(ack, { compress: true })), toHex(v.bin));
  });

  it("writes a user message in stream form with UserMsgLen", () => {
    const payload = utf8("hello");
    const framed = encodeStreamMessage({ type: "user", payload }, { compress: false });
    assert.equal(toHex(framed), toHex(encodeUserStream(payload)));
    assert.equal(toHex(framed), `0881aa557365724d73674c656e05${toHex(payload)}`);
    assert.deepEqual(decodeStreamMessage(framed), { type: "user", payload });
    assert.deepEqual(
      decodeStreamMessage(encodeStreamMessage({ type: "user", payload }, { compress: true })),
      { type: "user", payload },
    );
  });

  it("round-trips a push-pull with states and user state through compression", () => {
    const msg: Message = {
      type: "pushPull",
      join: true,
      nodes: [
        {
          name: "a",
          addr: Uint8Array.of(10, 0, 0, 1),
          port: 7946,
          meta: Uint8Array.of(0xff, 0x80),
          incarnation: 2,
          state: 0,
          vsn: HECK_VSN,
        },
        {
          name: "b",
          addr: new Uint8Array(16).fill(1),
          port: 7947,
          meta: new Uint8Array(0),
          incarnation: 9,
          state: 3,
          vsn: HECK_VSN,
        },
      ],
      userState: utf8("state"),
    };
    const framed = encodeStreamMessage(msg, { compress: true });
    assert.equal(streamMessageLength(framed), framed.length);
    assert.deepEqual(decodeStreamMessage(framed), msg);
  });

  it("refuses what can never become a valid stream message", () => {
    assert.throws(() => streamMessageLength(encodeMessage(suspect)), wireError(/\(3\) not supported/));
    assert.throws(() => streamMessageLength(Uint8Array.of(0x0a, 0x01, 0x40, 0, 1)), wireError(/too large/));
    const hugeUser = new MsgpackWriter()
      .raw(Uint8Array.of(8))
      .struct([["UserMsgLen", (w) => w.int(2 ** 31)]])
      .finish();
    assert.throws(() => streamMessageLength(hugeUser), wireError(/exceeds/));
    const hugePushPull = new MsgpackWriter()
      .raw(Uint8Array.of(6))
      .struct([
        ["Join", (w) => w.bool(false)],
        ["Nodes", (w) => w.int(2 ** 30)],
        ["UserStateLen", (w) => w.int(0)],
      ])
      .finish();
    assert.throws(() => streamMessageLength(hugePushPull), wireError(/too many/));
    assert.throws(() => streamMessageLength(Uint8Array.of(9, 0xc1)), wireError(/invalid type byte/));
    assert.equal(streamMessageLength(new Uint8Array(0)), undefined);
  });

  it("decodes only plaintext stream messages, undoing one compress layer", () => {
    assert.throws(() => decodeStreamMessage(Uint8Array.of(0x0a, 0, 0, 0, 0)), wireError(/decrypt it first/));
    assert.throws(
      () => decodeStreamMessage(compress(compress(encodeMessage(nack)))),
      wireError(/\(9\) not supported/),
    );
    assert.throws(() => decodeStreamMessage(encodeMessage(alive)), wireError(/\(4\) not supported/));
    assert.throws(() => decodeStreamMessage(new Uint8Array(0)), wireError(/missing message type/));
    assert.deepEqual(decodeStreamMessage(encodeMessage({ type: "err", error: "boom" })), {
      type: "err",
      error: "boom",
    });
  });

  it("refuses a truncated push-pull and an unknown node State", () => {
    const v = loadVectors().find(
      (x) => x.id === "foreign/tcp-pushpull-join-request-go-style-with-foreign-user-state",
    )!;
    assert.throws(() => decodeStreamMessage(v.bin.subarray(0, v.bin.length - 1)), WireError);
    const badState = toHex(v.bin).replace("a5537461746500", "a5537461746504");
    assert.throws(() => decodeStreamMessage(fromHex(badState)), wireError(/unknown node State 4/));
  });
});
