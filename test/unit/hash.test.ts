import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { xxh32 as reference32, xxh64 as reference64 } from "@node-rs/xxhash";
import fc from "fast-check";
import { xxh32, xxh64 } from "../../src/core/hash.js";

// The WebAssembly hashes that ownership and probe phases use, checked against an independent
// native implementation of xxHash on the UTF-8 bytes of arbitrary strings: ASCII, any Unicode
// (surrogate pairs included) and lengths across every block size of both algorithms.
describe("xxHash of strings", () => {
  const strings = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 }));

  it("XXH64 equals the native implementation on the UTF-8 bytes", () => {
    fc.assert(
      fc.property(strings, (s) => {
        assert.equal(xxh64(s), reference64(Buffer.from(s, "utf8"), 0n));
      }),
      { numRuns: 2000 },
    );
  });

  it("XXH32 equals the native implementation on the UTF-8 bytes, for any seed", () => {
    fc.assert(
      fc.property(strings, fc.nat({ max: 0xffffffff }), (s, seed) => {
        assert.equal(xxh32(s, seed), reference32(Buffer.from(s, "utf8"), seed));
      }),
      { numRuns: 2000 },
    );
  });

  it("matches the specification's reference values", () => {
    assert.equal(xxh64("abc"), 0x44bc2cf5ad770999n);
    assert.equal(xxh32("abc", 0), 0x32d153ff);
  });
});
