/** go-msgpack 0.5.5's forms on write and its leniency on read (docs/wire.md §2). */

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WireError } from "../../../src/errors.js";
import { MsgpackReader, MsgpackWriter, TruncatedError } from "../../../src/wire/msgpack.js";
import { fromHex, toHex } from "./vectors.js";

function written(write: (w: MsgpackWriter) => void): string {
  const w = new MsgpackWriter();
  write(w);
  return toHex(w.finish());
}

function reader(hex: string): MsgpackReader {
  return new MsgpackReader(fromHex(hex));
}

describe("MsgpackWriter", () => {
  it("writes bytes in the str family: fixstr below 32, then str16, then str32, never str8 or bin", () => {
    assert.equal(
      written((w) => w.bytes(new Uint8Array(0))),
      "a0",
    );
    assert.equal(
      written((w) => w.bytes(Uint8Array.of(0x7f, 0, 0, 1))),
      "a47f000001",
    );
    assert.equal(written((w) => w.bytes(new Uint8Array(31))).slice(0, 2), "bf");
    assert.equal(written((w) => w.bytes(new Uint8Array(32))).slice(0, 6), "da0020");
    assert.equal(written((w) => w.bytes(new Uint8Array(130))).slice(0, 6), "da0082");
    assert.equal(written((w) => w.bytes(new Uint8Array(0xffff))).slice(0, 6), "daffff");
    assert.equal(written((w) => w.bytes(new Uint8Array(0x10000))).slice(0, 10), "db00010000");
  });

  it("writes strings as UTF-8 in the same family (a 58-byte error text is str16)", () => {
    assert.equal(
      written((w) => w.str("alpha")),
      "a5616c706861",
    );
    assert.equal(
      written((w) => w.str("é")),
      "a2c3a9",
    );
    assert.equal(written((w) => w.str("x".repeat(58))).slice(0, 6), "da003a");
  });

  it("writes integers in their smallest form, non-negative ones unsigned", () => {
    const cases: Array<[number | bigint, string]> = [
      [0, "00"],
      [127, "7f"],
      [128, "cc80"],
      [255, "ccff"],
      [256, "cd0100"],
      [17947, "cd461b"],
      [65535, "cdffff"],
      [65536, "ce00010000"],
      [2_000_000_000, "ce77359400"],
      [0xffffffff, "ceffffffff"],
      [2 ** 32, "cf0000000100000000"],
      [0xffffffffffffffffn, "cfffffffffffffffff"],
      [-1, "ff"],
      [-32, "e0"],
      [-33, "d0df"],
      [-128, "d080"],
      [-129, "d1ff7f"],
      [-32769, "d2ffff7fff"],
      [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
    ];
    for (const [value, hex] of cases)
      assert.equal(
        written((w) => w.int(value)),
        hex,
        String(value),
      );
    assert.throws(() => new MsgpackWriter().int(2n ** 64n), RangeError);
  });

  it("writes nil, booleans, float64 and array headers", () => {
    assert.equal(
      written((w) => w.nil().bool(false).bool(true)),
      "c0c2c3",
    );
    assert.equal(
      written((w) => w.float64(1.5)),
      "cb3ff8000000000000",
    );
    assert.equal(
      written((w) => w.float64(0)),
      "cb0000000000000000",
    );
    assert.equal(
      written((w) => w.arrayHeader(15)),
      "9f",
    );
    assert.equal(
      written((w) => w.arrayHeader(512)),
      "dc0200",
    );
    assert.equal(
      written((w) => w.mapHeader(16)),
      "de0010",
    );
  });

  it("writes a struct as a map with byte-wise sorted keys, whatever the given order", () => {
    const hex = written((w) =>
      w.struct([
        ["b", (v) => v.int(1)],
        ["a", (v) => v.int(2)],
        ["B", (v) => v.int(3)],
        ["Ab", (v) => v.int(4)],
      ]),
    );
    // "Ab" < "B" < "a" < "b": upper case sorts before lower case, as Go's sort of field names.
    assert.equal(hex, "84a2416204a14203a16102a16201");
  });

  it("grows its buffer for large output", () => {
    const w = new MsgpackWriter();
    for (let i = 0; i < 1000; i++) w.bytes(new Uint8Array(100).fill(i & 0xff));
    const out = w.finish();
    assert.equal(out.length, 1000 * 103); // da + uint16 length + 100 bytes
    assert.equal(out[out.length - 1], 999 & 0xff);
  });
});

describe("MsgpackWriter buffers", () => {
  it("keeps writers that overlap apart, and what finish returned stays as it was", () => {
    const a = new MsgpackWriter().str("first");
    const b = new MsgpackWriter().str("second");
    const outA = a.finish();
    const c = new MsgpackWriter().str("third");
    assert.equal(toHex(b.finish()), toHex(Uint8Array.from([0xa6, ...Buffer.from("second")])));
    assert.equal(toHex(c.finish()), toHex(Uint8Array.from([0xa5, ...Buffer.from("third")])));
    assert.equal(toHex(outA), toHex(Uint8Array.from([0xa5, ...Buffer.from("first")])));
  });

  it("grows past 64 KiB and gives the buffer back after a discarded write", () => {
    const big = new MsgpackWriter().raw(new Uint8Array(100_000).fill(7)).finish();
    assert.equal(big.length, 100_000);
    const failed = new MsgpackWriter().str("half");
    failed.discard();
    assert.equal(toHex(new MsgpackWriter().nil().finish()), "c0");
  });
});

describe("MsgpackReader", () => {
  it("reads equal short byte values as one shared array, longer ones and other forms as copies", () => {
    const read = (hex: string) => new MsgpackReader(fromHex(hex)).readSharedBytes();
    const a = read("a40a000001");
    assert.equal(toHex(a), "0a000001");
    assert.equal(read("a40a000001"), a);
    assert.equal(read("c4040a000001"), a);
    assert.notEqual(read("a40a000002"), a);
    assert.equal(toHex(read("940a000001")), "0a000001");
    const long = `da0021${"07".repeat(33)}`;
    assert.notEqual(read(long), read(long));
    assert.throws(() => read("a40a00"), TruncatedError);
  });

  it("reads byte fields from str, str8, bin and arrays of small integers (§2.2)", () => {
    for (const hex of [
      "a37f0001",
      "d9037f0001",
      "da00037f0001",
      "c4037f0001",
      "c500037f0001",
      "c6000000037f0001",
    ]) {
      assert.equal(toHex(reader(hex).readBytes()), "7f0001", hex);
    }
    assert.equal(toHex(reader("96010502020505").readBytes()), "010502020505");
    assert.equal(toHex(reader("93cc7f00d000").readBytes()), "7f0000");
  });

  it("tells nil from empty bytes only where asked", () => {
    assert.equal(reader("c0").readBytesOrNull(), null);
    assert.deepEqual(reader("a0").readBytesOrNull(), new Uint8Array(0));
    assert.deepEqual(reader("c0").readBytes(), new Uint8Array(0));
  });

  it("refuses byte-array elements outside 0..255", () => {
    assert.throws(() => reader("92cd010000").readBytes(), /out of range/);
    assert.throws(() => reader("91ff").readBytes(), /out of range/);
  });

  it("reads strings from the str family and nil, and refuses bin as Serf does", () => {
    assert.equal(reader("a5616c706861").readString(), "alpha");
    assert.equal(reader("d905616c706861").readString(), "alpha");
    assert.equal(reader("c0").readString(), "");
    assert.throws(
      () => reader("c405616c706861").readString(),
      (e) => e instanceof WireError && /c4/.test(e.message),
    );
  });

  it("reads any integer width and refuses overflow and negative unsigned values", () => {
    assert.equal(reader("cf0000000000000001").readUint(0xffffffff), 1);
    assert.equal(reader("d20000ffff").readUint(0xffff), 0xffff);
    assert.equal(reader("cd461b").readUint(0xffff), 17947);
    assert.throws(() => reader("ce00010000").readUint(0xffff), /overflows/);
    assert.throws(() => reader("cfffffffffffffffff").readUint(Number.MAX_SAFE_INTEGER), /overflows/);
    assert.throws(() => reader("ff").readUint(0xffff), /negative/);
    assert.throws(() => reader("a131").readUint(10), /expected integer/);
    assert.equal(reader("d3ffffffffffffffff").readInteger(), -1n);
  });

  it("reads booleans as c2/c3 and as the integers 0 and 1", () => {
    assert.equal(reader("c3").readBool(), true);
    assert.equal(reader("c2").readBool(), false);
    assert.equal(reader("01").readBool(), true);
    assert.equal(reader("00").readBool(), false);
    assert.throws(() => reader("02").readBool(), WireError);
  });

  it("reads float64 and float32", () => {
    assert.equal(reader("cb3ff8000000000000").readFloat64(), 1.5);
    assert.equal(reader("ca3fc00000").readFloat64(), 1.5);
    assert.throws(() => reader("01").readFloat64(), WireError);
  });

  it("refuses a declared length beyond the buffer without allocating it", () => {
    const huge = ["db7fffffff", "c6ffffffff", "ddffffffff", "dfffffffff", "c9ffffffff01"];
    for (const hex of huge) {
      assert.throws(
        () => reader(hex).skip(),
        (e) => e instanceof TruncatedError && e.needed > 1e9,
        hex,
      );
    }
    assert.throws(() => reader("ddffffffff").readBytes(), TruncatedError);
    assert.throws(() => reader("dfffffffff").readMapHeader(), TruncatedError);
    assert.throws(() => reader("a5616c").readString(), /need 6 bytes, have 3/);
  });

  it("skips every type, including ext and nested containers, and stops at the end of the value", () => {
    const values = "c0c2cb000000000000000092a16181a162c3d40102c70201aabbd6ff01020304c9000000010761";
    const r = reader(`${values}7f`);
    for (let i = 0; i < 8; i++) r.skip();
    assert.equal(r.remaining, 1);
    assert.throws(() => reader("c1").skip(), /invalid type byte 0xc1/);
  });

  it("refuses nesting deeper than its bound instead of overflowing the stack", () => {
    assert.throws(() => reader("91".repeat(100_000)).skip(), /nesting too deep/);
  });

  it("reads a struct from a map (unknown keys skipped, case-sensitive) or an array in declaration order", () => {
    const seen: Array<[string, number]> = [];
    const visit = (r: MsgpackReader) => (key: string) => {
      if (key !== "SeqNo" && key !== "Node") return false;
      seen.push([key, key === "SeqNo" ? r.readUint(0xffffffff) : r.readString().length]);
      return true;
    };
    const m = reader("83a5736571756f05a55365714e6f07a44e6f6465a3616263");
    m.readStruct(["SeqNo", "Node"], visit(m));
    assert.deepEqual(seen, [
      ["SeqNo", 7],
      ["Node", 3],
    ]);
    seen.length = 0;
    const a = reader("930ba3616263c3");
    a.readStruct(["SeqNo", "Node"], visit(a));
    assert.deepEqual(seen, [
      ["SeqNo", 11],
      ["Node", 3],
    ]);
    assert.equal(a.remaining, 0);
    assert.throws(() => reader("8101a1").readStruct([], () => false), /key must be str/);
    assert.throws(() => reader("05").readStruct([], () => false), /expected map/);
  });
});
