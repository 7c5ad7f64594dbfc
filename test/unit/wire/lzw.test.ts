/** Go compress/lzw (LSB, 8-bit literals) as memberlist uses it (docs/wire.md §4.3). */

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { WireError } from "../../../src/errors.js";
import { lzwCompress, lzwDecompress } from "../../../src/wire/lzw.js";
import { fromHex, loadVectors, stageHex, toHex } from "./vectors.js";

/** Packs codes LSB-first at the given widths, as Go's writer does. */
function packCodes(codes: Array<[code: number, width: number]>): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let n = 0;
  for (const [code, width] of codes) {
    bits |= code << n;
    n += width;
    while (n >= 8) {
      out.push(bits & 0xff);
      bits >>>= 8;
      n -= 8;
    }
  }
  if (n > 0) out.push(bits & 0xff);
  return Uint8Array.from(out);
}

const serfBufs = loadVectors().flatMap((v) => {
  const buf = stageHex(v, "LZW stream");
  const plain = stageHex(v, "after LZW decompression");
  return buf && plain ? [{ id: v.id, buf: fromHex(buf), plain: fromHex(plain) }] : [];
});

describe("LZW against Serf's compressed messages", () => {
  it("has Bufs from the captures to check", () => {
    assert.ok(serfBufs.length >= 20, `${serfBufs.length} Bufs`);
  });

  for (const { id, buf, plain } of serfBufs) {
    it(`${id}: decodes Serf's Buf and re-encodes it bit for bit`, () => {
      assert.equal(toHex(lzwDecompress(buf)), toHex(plain));
      assert.equal(toHex(lzwCompress(plain)), toHex(buf));
    });
  }
});

describe("LZW", () => {
  it("encodes empty input as a clear code followed by the end code", () => {
    assert.equal(
      toHex(lzwCompress(new Uint8Array(0))),
      toHex(
        packCodes([
          [256, 9],
          [257, 9],
        ]),
      ),
    );
    assert.equal(lzwDecompress(lzwCompress(new Uint8Array(0))).length, 0);
  });

  it("starts with a clear code, so the first byte is 00 and the next has bit 0 set", () => {
    const out = lzwCompress(new TextEncoder().encode("hello"));
    assert.equal(out[0], 0);
    assert.equal(out[1]! & 1, 1);
  });

  it("accepts a stream without the leading clear code, and the code defined by itself (KwKwK)", () => {
    const A = 0x41;
    const B = 0x42;
    assert.equal(
      new TextDecoder().decode(
        lzwDecompress(
          packCodes([
            [A, 9],
            [B, 9],
            [258, 9],
            [257, 9],
          ]),
        ),
      ),
      "ABAB",
    );
    assert.equal(
      new TextDecoder().decode(
        lzwDecompress(
          packCodes([
            [A, 9],
            [258, 9],
            [257, 9],
          ]),
        ),
      ),
      "AAA",
    );
  });

  it("ignores bytes after the end code", () => {
    const data = lzwCompress(Uint8Array.of(1, 2, 3));
    const padded = new Uint8Array(data.length + 4).fill(0xff);
    padded.set(data);
    assert.deepEqual(lzwDecompress(padded), Uint8Array.of(1, 2, 3));
  });

  it("refuses a stream without an end code, and a code not yet defined", () => {
    const data = lzwCompress(new TextEncoder().encode("no end code here"));
    assert.throws(() => lzwDecompress(data.subarray(0, data.length - 2)), /without an end code/);
    assert.throws(
      () =>
        lzwDecompress(
          packCodes([
            [256, 9],
            [0x41, 9],
            [300, 9],
          ]),
        ),
      /invalid code 300/,
    );
    assert.throws(() => lzwDecompress(new Uint8Array(0)), WireError);
  });

  it("stops at the output limit instead of inflating a bomb", () => {
    const bomb = lzwCompress(new Uint8Array(1 << 20));
    assert.ok(bomb.length < 4096, `1 MiB of zeros compressed to ${bomb.length} bytes`);
    assert.equal(lzwDecompress(bomb).length, 1 << 20);
    assert.throws(
      () => lzwDecompress(bomb, 1000),
      (e) => e instanceof WireError && /exceeds 1000/.test(e.message),
    );
  });

  it("round-trips across width changes and table resets", () => {
    // 64 KiB of pseudo-random bytes from a small alphabet: thousands of codes, several resets.
    let seed = 12345;
    const data = new Uint8Array(65536);
    for (let i = 0; i < data.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      data[i] = 97 + ((seed >>> 16) % 5);
    }
    const packed = lzwCompress(data);
    assert.ok(packed.length < data.length / 2);
    assert.deepEqual(lzwDecompress(packed), data);
  });

  it("round-trips arbitrary input (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6000 }), (data) => {
        assert.deepEqual(lzwDecompress(lzwCompress(data)), data);
      }),
      { numRuns: 200, seed: 42 },
    );
  });
});
