/** AES-GCM packets and stream frames as memberlist seals them (docs/wire.md §4.4). */

import * as assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { WireError } from "../../../src/errors.js";
import {
  decodePacket,
  decodeStreamMessage,
  encodeMessage,
  streamMessageLength,
} from "../../../src/wire/codec.js";
import { Keyring, parseKey } from "../../../src/wire/crypto.js";
import { HECK_VSN } from "../../../src/wire/messages.js";
import { DECRYPTED_STAGE, keysJson, loadVectors, stageHex, toHex } from "./vectors.js";

const keys = keysJson();
const K1 = parseKey(keys.K1_primary_32_bytes);
const K2 = parseKey(keys.K2_secondary_16_bytes_edge_cases_only);
const WRONG = parseKey(keys["wrong_key_used_in_edge_udp-ping-wrong-key"]);
const vectors = loadVectors();
const encrypted = vectors.filter((v) => v.encrypted);

function isWireError(pattern: RegExp) {
  return (e: unknown) => e instanceof WireError && pattern.test(e.message);
}

describe("parseKey", () => {
  it("decodes Serf's base64 keys", () => {
    assert.deepEqual(
      [...K1],
      Array.from({ length: 32 }, (_, i) => i),
    );
    assert.equal(new TextDecoder().decode(K2), "defghijklmnopqrs");
    assert.equal(parseKey(Buffer.alloc(24, 7).toString("base64")).length, 24);
  });

  it("refuses keys that are not 16, 24 or 32 bytes, or not base64", () => {
    assert.throws(() => parseKey(Buffer.alloc(20).toString("base64")), /16, 24 or 32 bytes, got 20/);
    assert.throws(() => parseKey("not base64!"), /base64/);
    assert.throws(() => parseKey(""), /got 0/);
  });
});

describe("Keyring with captured traffic", () => {
  const ring = new Keyring([K1, K2]);

  it("finds encrypted vectors in every folder", () => {
    assert.deepEqual(new Set(encrypted.map((v) => v.dir)), new Set(["encrypted", "foreign", "edge"]));
  });

  for (const v of encrypted.filter((x) => x.id !== "edge/udp-ping-wrong-key")) {
    it(`${v.id} opens to the recorded plaintext`, () => {
      const plain = v.stream ? ring.decryptStreamFrame(v.bin) : ring.decryptPacket(v.bin);
      assert.equal(toHex(plain), stageHex(v, DECRYPTED_STAGE));
    });
  }

  it("opens a join sealed with the secondary key only when that key is installed", () => {
    const v = vectors.find((x) => x.id === "edge/tcp-pushpull-join-request-secondary-key")!;
    assert.equal(v.json.decoded.encryption.key_index, 1);
    assert.equal(decodeStreamMessage(ring.decryptStreamFrame(v.bin)).type, "pushPull");
    assert.throws(() => new Keyring([K1]).decryptStreamFrame(v.bin), isWireError(/no installed keys/));
    assert.equal(toHex(new Keyring([K2]).decryptStreamFrame(v.bin)), stageHex(v, DECRYPTED_STAGE));
  });

  it("rejects a ping sealed with a key it does not hold, which that key opens", () => {
    const v = vectors.find((x) => x.id === "edge/udp-ping-wrong-key")!;
    assert.throws(() => ring.decryptPacket(v.bin), isWireError(/no installed keys/));
    const plain = new Keyring([WRONG]).decryptPacket(v.bin);
    assert.equal(toHex(plain), stageHex(v, DECRYPTED_STAGE));
    assert.equal(decodePacket(plain).messages[0]?.type, "ping");
  });

  it("rejects a plaintext ping sent to an encrypting node", () => {
    const v = vectors.find((x) => x.id === "edge/udp-ping-plaintext-to-encrypting-agent")!;
    assert.throws(() => ring.decryptPacket(v.bin), WireError);
  });

  it("authenticates the 5 frame header bytes: the body alone, or a changed header, fails", () => {
    const v = vectors.find((x) => x.id === "encrypted/tcp-ping-fallback-ack")!;
    assert.throws(() => ring.decryptPacket(v.bin.subarray(5)), isWireError(/no installed keys/));
    const longer = new Uint8Array(v.bin.length + 1);
    longer.set(v.bin);
    longer[4] = v.bin[4]! + 1;
    assert.throws(() => ring.decryptStreamFrame(longer), isWireError(/no installed keys/));
  });

  it("accepts version 0 (PKCS#7 padded) packets, as Serf does", () => {
    const plain = encodeMessage({ type: "nack", seqNo: 77 });
    const pad = 16 - (plain.length % 16);
    const padded = Buffer.concat([plain, Buffer.alloc(pad, pad)]);
    const nonce = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", K1, nonce);
    const body = Buffer.concat([cipher.update(padded), cipher.final()]);
    const packet = Buffer.concat([Buffer.of(0), nonce, body, cipher.getAuthTag()]);
    assert.equal(toHex(ring.decryptPacket(packet)), toHex(plain));
  });
});

describe("Keyring sealing", () => {
  it("seals packets with the primary key, version 1, 29 bytes of overhead", () => {
    const plain = encodeMessage({ type: "ack", seqNo: 9, payload: null });
    const sealed = new Keyring([K2, K1]).encryptPacket(plain);
    assert.equal(sealed[0], 1);
    assert.equal(sealed.length, plain.length + 29);
    assert.equal(toHex(new Keyring([K2]).decryptPacket(sealed)), toHex(plain));
    assert.throws(() => new Keyring([K1]).decryptPacket(sealed), WireError);
  });

  it("uses a fresh nonce for every packet", () => {
    const ring = new Keyring([K1]);
    const plain = Uint8Array.of(8, 1, 2, 3);
    assert.notEqual(toHex(ring.encryptPacket(plain)), toHex(ring.encryptPacket(plain)));
  });

  it("frames a stream message as 0a + length and round-trips it", () => {
    const ring = new Keyring([K1]);
    const plain = encodeMessage({
      type: "pushPull",
      join: true,
      nodes: [
        {
          name: "heck-1",
          addr: Uint8Array.of(10, 0, 0, 1),
          port: 7946,
          meta: Uint8Array.of(0xff, 0x80),
          incarnation: 1,
          state: 0,
          vsn: HECK_VSN,
        },
      ],
      userState: new Uint8Array(0),
    });
    const frame = ring.encryptStreamFrame(plain);
    assert.equal(frame[0], 0x0a);
    assert.equal(new DataView(frame.buffer).getUint32(1), frame.length - 5);
    assert.equal(streamMessageLength(frame), frame.length);
    assert.equal(toHex(ring.decryptStreamFrame(frame)), toHex(plain));
  });

  it("refuses malformed sealed input with WireError", () => {
    const ring = new Keyring([K1]);
    const sealed = ring.encryptPacket(Uint8Array.of(8));
    assert.throws(() => ring.decryptPacket(new Uint8Array(0)), isWireError(/version/));
    assert.throws(
      () => ring.decryptPacket(Uint8Array.of(2, ...sealed.subarray(1))),
      isWireError(/version 2/),
    );
    assert.throws(() => ring.decryptPacket(sealed.subarray(0, 28)), isWireError(/too short/));
    assert.throws(() => ring.decryptPacket(Uint8Array.of(0, ...sealed.subarray(1))), WireError);
    const frame = ring.encryptStreamFrame(Uint8Array.of(8));
    assert.throws(
      () => ring.decryptStreamFrame(frame.subarray(0, frame.length - 1)),
      isWireError(/truncated/),
    );
    assert.throws(
      () => ring.decryptStreamFrame(Uint8Array.of(0x0a, 0x02, 0, 0, 0)),
      isWireError(/too large/),
    );
    assert.throws(() => ring.decryptStreamFrame(sealed), isWireError(/not an encrypted stream frame/));
  });

  it("refuses an empty keyring or a key of the wrong size", () => {
    assert.throws(() => new Keyring([]), /at least one key/);
    assert.throws(() => new Keyring([new Uint8Array(15)]), /16, 24 or 32/);
  });
});
