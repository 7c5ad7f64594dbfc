/**
 * Every captured vector decodes to the fields its JSON records, and every message a Serf agent
 * wrote is re-encoded byte for byte (docs/wire.md §2.1: sorted keys, str family, smallest ints).
 */

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
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
import type { Message } from "../../../src/wire/messages.js";
import {
  expectedMessage,
  fromHex,
  type Json,
  loadVectors,
  packetLeafBytes,
  packetLeaves,
  pushPullUserState,
  recordedPlaintext,
  streamInnerBytes,
  toHex,
} from "./vectors.js";

const vectors = loadVectors();
/** Vectors whose decoding is not a list of messages; each has its own test below. */
const UNDECODABLE = new Set([
  "edge/udp-compound-zero-length-part-CRASHES-SERF",
  "foreign/udp-unknown-memberlist-type-from-foreign-peer",
]);

/** Rebuilds a datagram from its decoded tree, taking the leaf messages in order. */
function rebuildPacket(node: Json, leaves: Message[]): Uint8Array {
  if (node.type === 12) return withCrc(rebuildPacket(node.inner, leaves));
  if (node.type === 9) return compress(rebuildPacket(node.inner, leaves));
  if (node.type === 7) return encodeCompound(node.parts.map((p: Json) => rebuildPacket(p, leaves)));
  const next = leaves.shift();
  assert.ok(next, "more leaves in the tree than messages decoded");
  return encodeMessage(next);
}

describe("captured UDP packets", () => {
  const packets = vectors.filter((v) => !v.stream && !UNDECODABLE.has(v.id));

  it("covers all four vector folders", () => {
    assert.deepEqual(new Set(packets.map((v) => v.dir)), new Set(["plain", "encrypted", "foreign", "edge"]));
    assert.ok(packets.length >= 50, `only ${packets.length} packet vectors found`);
  });

  for (const v of packets) {
    it(`${v.id} decodes to the recorded fields`, () => {
      const decoded = decodePacket(recordedPlaintext(v));
      const leaves = packetLeaves(v.json.decoded.message);
      const leafBytes = packetLeafBytes(v);
      assert.deepEqual(decoded.errors, []);
      assert.equal(decoded.messages.length, leaves.length);
      leaves.forEach((leaf, i) => {
        const bytes = leafBytes[i]!;
        const msg = decoded.messages[i]!;
        assert.deepEqual(msg, expectedMessage(leaf, bytes.subarray(1)));
        if (msg.type === "user") {
          const serfType = leaf.serf?.serf_type ?? null;
          assert.equal(msg.payload.length === 0 ? null : msg.payload[0], serfType);
        }
      });
    });

    if (v.serfWritten) {
      it(`${v.id} re-encodes byte for byte`, () => {
        const plaintext = recordedPlaintext(v);
        const { messages } = decodePacket(plaintext);
        packetLeafBytes(v).forEach((bytes, i) => {
          assert.equal(toHex(encodeMessage(messages[i]!)), toHex(bytes));
        });
        assert.equal(toHex(rebuildPacket(v.json.decoded.message, [...messages])), toHex(plaintext));
      });
    }
  }

  it("a compound announcing a zero-length part (crashes Serf) is a WireError, not a crash", () => {
    const v = vectors.find((x) => x.id === "edge/udp-compound-zero-length-part-CRASHES-SERF")!;
    assert.equal(toHex(v.bin), "07010000");
    assert.throws(
      () => decodePacket(v.bin),
      (e) => e instanceof WireError && /length 0/.test(e.message),
    );
  });

  it("an alive with a 3-byte Vsn (crashes Serf) decodes, and heck refuses to send it on", () => {
    const v = vectors.find((x) => x.id === "edge/udp-alive-short-vsn-CRASHES-SERF")!;
    const [msg] = decodePacket(v.bin).messages;
    assert.equal(msg?.type, "alive");
    assert.deepEqual(msg.type === "alive" ? [...msg.vsn] : [], [1, 5, 2]);
    assert.throws(() => encodeMessage(msg!), RangeError);
  });

  it("an unknown memberlist type (200) is a WireError naming the type", () => {
    const v = vectors.find((x) => x.id === "foreign/udp-unknown-memberlist-type-from-foreign-peer")!;
    assert.throws(
      () => decodePacket(v.bin),
      (e) => e instanceof WireError && /\(200\)/.test(e.message),
    );
  });
});

describe("captured TCP streams", () => {
  const streams = vectors.filter((v) => v.stream);

  it("covers every folder", () => {
    assert.deepEqual(new Set(streams.map((v) => v.dir)), new Set(["plain", "encrypted", "foreign", "edge"]));
  });

  for (const v of streams) {
    it(`${v.id} is framed and decodes to the recorded fields`, () => {
      assert.equal(streamMessageLength(v.bin), v.bin.length);
      const plaintext = recordedPlaintext(v);
      assert.equal(streamMessageLength(plaintext), plaintext.length);
      const d = v.json.decoded;
      const inner = streamInnerBytes(v);
      const userPayload =
        d.type === 8 ? inner.subarray(inner.length - d.header.UserMsgLen) : pushPullUserState(v);
      const msg = decodeStreamMessage(plaintext);
      assert.deepEqual(msg, expectedMessage(d, userPayload));
      if (msg.type === "pushPull") assert.equal(msg.userState.length, d.user_state_len);
    });

    if (v.serfWritten) {
      it(`${v.id} re-encodes byte for byte`, () => {
        const plaintext = recordedPlaintext(v);
        const compressed = v.json.layers.includes("compress(lzw)");
        const msg = decodeStreamMessage(plaintext);
        assert.equal(toHex(encodeStreamMessage(msg, { compress: false })), toHex(streamInnerBytes(v)));
        assert.equal(toHex(encodeStreamMessage(msg, { compress: compressed })), toHex(plaintext));
      });
    }
  }

  it("the stream form of a user message carries UserMsgLen before the bytes", () => {
    const v = vectors.find((x) => x.id === "edge/tcp-user-message-stream")!;
    const msg = decodeStreamMessage(v.bin);
    assert.equal(msg.type, "user");
    const payload = msg.type === "user" ? msg.payload : new Uint8Array(0);
    assert.equal(payload.length, 43);
    assert.equal(toHex(encodeStreamMessage(msg, { compress: false })), toHex(v.bin));
    assert.equal(toHex(encodeMessage(msg)), `08${toHex(payload)}`);
  });

  it("modern encoding from a foreign peer (bin8, str8, array Vsn) decodes like go-style", () => {
    const modern = vectors.find((x) => x.id === "foreign/tcp-pushpull-join-request-modern-encoding")!;
    const msg = decodeStreamMessage(modern.bin);
    assert.equal(msg.type, "pushPull");
    const state = msg.type === "pushPull" ? msg.nodes[0]! : undefined;
    assert.equal(state?.name, "py-modern-encoding-with-a-long-name-0123456789");
    assert.deepEqual(state?.vsn, fromHex("010502020505"));
    // Written back the go-msgpack way: str family for bytes, str16 never str8 for the long name.
    const reencoded = toHex(encodeMessage(msg));
    assert.ok(reencoded.includes("a441646472a47f000001"), "Addr as fixstr");
    assert.ok(reencoded.includes("a356736ea6010502020505"), "Vsn as a 6-byte fixstr");
    assert.ok(reencoded.includes("a44e616d65da002e"), "46-byte name as str16");
  });
});
