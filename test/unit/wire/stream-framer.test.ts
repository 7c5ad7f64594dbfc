import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { WireError, WireLimitError } from "../../../src/errors.js";
import { encodeStreamMessage, StreamFramer, streamMessageLength } from "../../../src/wire/codec.js";
import { Keyring } from "../../../src/wire/crypto.js";
import type { Message } from "../../../src/wire/messages.js";
import { MsgpackWriter } from "../../../src/wire/msgpack.js";

/** A framer's answer for one buffer: the length, "more" (undefined), or the kind of refusal. */
function outcome(measure: () => number | undefined): number | "more" | "limit" | "invalid" {
  try {
    return measure() ?? "more";
  } catch (err) {
    if (err instanceof WireLimitError) return "limit";
    if (err instanceof WireError) return "invalid";
    throw err;
  }
}

const node = fc.record({
  name: fc.string({ maxLength: 12 }),
  addr: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  port: fc.integer({ min: 0, max: 0xffff }),
  meta: fc.uint8Array({ maxLength: 20 }),
  incarnation: fc.integer({ min: 0, max: 0xffffffff }),
  state: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
  vsn: fc.uint8Array({ minLength: 6, maxLength: 6 }),
});
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant("ping" as const), seqNo: fc.nat(), node: fc.string({ maxLength: 10 }) }),
  fc.record({ type: fc.constant("err" as const), error: fc.string({ maxLength: 40 }) }),
  fc.record({ type: fc.constant("user" as const), payload: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({
    type: fc.constant("pushPull" as const),
    join: fc.boolean(),
    nodes: fc.array(node, { maxLength: 8 }),
    userState: fc.uint8Array({ maxLength: 200 }),
  }),
);
const ring = new Keyring([new Uint8Array(16).fill(9)]);
/** Well-formed stream bytes (plain, compressed or sealed), sometimes damaged or cut. */
const streamBytes = fc
  .tuple(
    message,
    fc.constantFrom("plain", "compressed", "sealed"),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
    fc.uint8Array({ maxLength: 8 }),
  )
  .map(([msg, form, edits, tail]) => {
    const plain = encodeStreamMessage(msg, { compress: form === "compressed" });
    const bytes = (form === "sealed" ? ring.encryptStreamFrame(plain) : plain).slice();
    for (const [at, value] of edits) bytes[at % bytes.length] = value;
    return Uint8Array.of(...bytes, ...tail);
  });

describe("StreamFramer", () => {
  it("fed any chunking, answers at every step what it answers for that prefix whole", () => {
    fc.assert(
      fc.property(
        fc.oneof(streamBytes, fc.uint8Array({ maxLength: 120 })),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
        (bytes, sizes) => {
          const framer = new StreamFramer();
          let end = 0;
          for (let i = 0; end < bytes.length; i++) {
            end = Math.min(bytes.length, end + (sizes[i % sizes.length] as number));
            const prefix = bytes.subarray(0, end);
            const chunked = outcome(() => framer.measure(prefix));
            assert.deepEqual(
              chunked,
              outcome(() => streamMessageLength(prefix)),
              `at ${end} of ${bytes.length}`,
            );
            if (chunked !== "more") return;
          }
        },
      ),
      { numRuns: 3000, seed: 91 },
    );
  });

  it("a whole message is measured exactly, one byte at a time or at once", () => {
    fc.assert(
      fc.property(
        streamBytes.filter((b) => typeof outcome(() => streamMessageLength(b)) === "number"),
        (bytes) => {
          const expected = streamMessageLength(bytes) as number;
          const framer = new StreamFramer();
          for (let n = 1; n < expected; n++) assert.equal(framer.measure(bytes.subarray(0, n)), undefined);
          assert.equal(framer.measure(bytes.subarray(0, expected)), expected);
        },
      ),
      { numRuns: 300, seed: 92 },
    );
  });

  it("refuses a message announced beyond its bound before reading it", () => {
    const framer = new StreamFramer(64 * 1024);
    const header = new MsgpackWriter()
      .raw(Uint8Array.of(8))
      .struct([["UserMsgLen", (w) => w.int(100_000)]])
      .finish();
    assert.throws(() => framer.measure(header), WireLimitError);
    const manyEntries = new MsgpackWriter().raw(Uint8Array.of(0)).mapHeader(40_000).finish();
    assert.throws(() => new StreamFramer(64 * 1024).measure(manyEntries), WireLimitError);
    assert.equal(new StreamFramer().measure(manyEntries), undefined, "within the default bound: more bytes");
  });
});
