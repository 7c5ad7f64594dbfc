/** IEEE CRC-32 of the hasCrc header (docs/wire.md §4.5). */

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { withCrc } from "../../../src/wire/codec.js";
import { crc32 } from "../../../src/wire/crc32.js";
import { type Json, loadVectors, recordedPlaintext, toHex } from "./vectors.js";

describe("crc32", () => {
  it("matches the standard check value and edge inputs", () => {
    assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
    assert.equal(crc32(Uint8Array.of(0)), 0xd202ef8d);
    assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
  });

  const withCrcHeader = loadVectors().filter((v) => !v.stream && v.json.decoded.message?.type === 12);

  it("has CRC vectors from Serf and the foreign peer", () => {
    assert.ok(withCrcHeader.length >= 20);
  });

  for (const v of withCrcHeader) {
    it(`${v.id}: the CRC over the rest of the datagram matches its header`, () => {
      const plain = recordedPlaintext(v);
      const node: Json = v.json.decoded.message;
      assert.equal(node.crc_ok, true);
      assert.equal(crc32(plain.subarray(5)).toString(16).padStart(8, "0"), node.crc_hex);
      assert.equal(toHex(withCrc(plain.subarray(5))), toHex(plain));
    });
  }
});
