import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { SerfClock } from "../../../src/core/membership/serf-intent.js";
import {
  decodeKeyRequest,
  decodeKeyResponse,
  decodeSerfQuery,
  decodeSerfQueryResponse,
  encodeKeyRequest,
  encodeKeyResponse,
  encodeSerfQuery,
  encodeSerfQueryResponse,
  filtersSelect,
  QueryFilterType,
} from "../../../src/core/membership/serf-query.js";
import { WireError } from "../../../src/errors.js";
import { MsgpackWriter } from "../../../src/wire/msgpack.js";
import { fromHex, loadVectors, pushPullUserState } from "../wire/vectors.js";

const vectors = loadVectors();
const vector = (name: string) => {
  const v = vectors.find((x) => x.id === `plain/${name}`);
  if (!v) throw new Error(`no vector ${name}`);
  return v;
};
/** A captured Serf user message without its memberlist type byte. */
const userPayload = (name: string) => {
  const v = vector(name);
  const hex = (v.json.stages[0]?.hex as string | undefined) ?? Buffer.from(v.bin).toString("hex");
  assert.equal(hex.slice(0, 2), "08");
  return fromHex(hex.slice(2));
};

describe("Serf's query messages (docs/wire.md §6.4, §6.10)", () => {
  it("reads the query Serf sent for `serf query whoami q-payload`, and writes it back byte for byte", () => {
    const captured = userPayload("udp-user-serf-query");
    const q = decodeSerfQuery(captured);
    assert.equal(q.ltime, 1n);
    assert.equal(q.id, 1172715167);
    assert.deepEqual([...q.addr], [127, 0, 0, 1]);
    assert.equal(q.port, 17946);
    assert.equal(q.sourceNode, "alpha");
    assert.deepEqual(q.filters, []);
    assert.equal(q.flags, 1);
    assert.equal(q.relayFactor, 0);
    assert.equal(q.timeoutNs, 2_000_000_000n);
    assert.equal(q.name, "whoami");
    assert.equal(Buffer.from(q.payload).toString(), "q-payload");
    assert.deepEqual(encodeSerfQuery(q), captured);
  });

  it("reads Serf's query ack, and writes it back byte for byte", () => {
    const captured = userPayload("udp-user-serf-query-response");
    const resp = decodeSerfQueryResponse(captured);
    // charlie's delivery ack: the ack flag and no payload.
    assert.deepEqual(resp, {
      ltime: 1n,
      id: 1172715167,
      from: "charlie",
      flags: 1,
      payload: new Uint8Array(0),
    });
    assert.deepEqual(encodeSerfQueryResponse(resp), captured);
  });

  it("key requests and responses go round, an empty key list as nil", () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i);
    assert.deepEqual(decodeKeyRequest(encodeKeyRequest(key)), key);
    const failed = {
      result: false,
      message: "Removing the primary key is not allowed",
      keys: [],
      primaryKey: "",
    };
    const bytes = encodeKeyResponse(failed);
    assert.equal(bytes[0], 8);
    // Go struct keys in byte order: Keys (nil), Message, PrimaryKey, Result.
    assert.deepEqual([...bytes.subarray(1, 8)], [0x84, 0xa4, 0x4b, 0x65, 0x79, 0x73, 0xc0]);
    assert.deepEqual(decodeKeyResponse(bytes), failed);
    const listed = { result: true, message: "", keys: ["a2V5MQ==", "a2V5Mg=="], primaryKey: "a2V5MQ==" };
    assert.deepEqual(decodeKeyResponse(encodeKeyResponse(listed)), listed);
  });

  it("refuses messages of another type and malformed bodies with a WireError", () => {
    assert.throws(() => decodeSerfQuery(Uint8Array.of(5, 0x80)), WireError);
    assert.throws(() => decodeSerfQuery(Uint8Array.of(4, 0x81, 0xa2)), WireError);
    assert.throws(
      () => decodeSerfQueryResponse(Uint8Array.of(5, 0x81, 0xa2, 0x49, 0x44, 0xcf, 1, 0, 0, 0, 0, 0, 0, 0)),
      WireError,
    );
    assert.throws(() => decodeKeyResponse(Uint8Array.of(7, 0x80)), WireError);
    assert.throws(() => decodeKeyRequest(Uint8Array.of(7, 0x81, 0xa3, 0x4b, 0x65, 0x79, 0xc3)), WireError);
  });

  it("filters select by node name and by a tag's regular expression; unknown filters select nobody", () => {
    const nodes = new MsgpackWriter().u8(QueryFilterType.node).arrayHeader(2).str("a").str("b").finish();
    const tag = new MsgpackWriter()
      .u8(QueryFilterType.tag)
      .struct([
        ["Tag", (w) => w.str("heck")],
        ["Expr", (w) => w.str("^0\\.")],
      ])
      .finish();
    assert.equal(filtersSelect([], "z", {}), true);
    assert.equal(filtersSelect([nodes], "a", {}), true);
    assert.equal(filtersSelect([nodes], "c", {}), false);
    assert.equal(filtersSelect([tag], "a", { heck: "0.1.0" }), true);
    assert.equal(filtersSelect([tag], "a", {}), false);
    assert.equal(filtersSelect([nodes, tag], "b", { heck: "0.1.0" }), true);
    assert.equal(filtersSelect([Uint8Array.of(9)], "a", {}), false);
    assert.equal(filtersSelect([Uint8Array.of(0, 0xc1)], "a", {}), false);
  });

  it("the query clock moves past every query time heard and Serf's push-pull QueryLTime", () => {
    const clock = new SerfClock();
    assert.equal(clock.queryTime, 1n);
    clock.witnessQuery(1n);
    assert.equal(clock.queryTime, 2n);
    clock.witnessQuery(41n);
    clock.witnessQuery(3n);
    assert.equal(clock.queryTime, 42n);
    const fresh = new SerfClock();
    const state = pushPullUserState(vector("tcp-pushpull-join-response"));
    fresh.witness(state);
    // Serf takes the peer's QueryLTime minus one; its captured state says 1.
    assert.equal(fresh.queryTime, 1n);
  });
});
