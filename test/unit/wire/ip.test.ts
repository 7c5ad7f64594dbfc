/** Addresses as the 4 or 16 bytes memberlist sends (docs/wire.md §3, §6.2). */

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError, WireError } from "../../../src/errors.js";
import { bytesToIp, ipToBytes } from "../../../src/wire/ip.js";
import { toHex } from "./vectors.js";

describe("ipToBytes / bytesToIp", () => {
  it("turns IPv4 into exactly 4 bytes and back", () => {
    assert.equal(toHex(ipToBytes("127.0.0.1")), "7f000001");
    assert.equal(toHex(ipToBytes("255.255.255.255")), "ffffffff");
    assert.equal(bytesToIp(Uint8Array.of(10, 0, 0, 254)), "10.0.0.254");
  });

  it("parses IPv6 in full, compressed and IPv4-embedded forms", () => {
    assert.equal(toHex(ipToBytes("::1")), `${"00".repeat(15)}01`);
    assert.equal(toHex(ipToBytes("::")), "00".repeat(16));
    assert.equal(toHex(ipToBytes("2001:db8::8:800:200c:417a")), "20010db80000000000080800200c417a");
    assert.equal(toHex(ipToBytes("fe80:0:0:0:0:0:0:1")), `fe80${"00".repeat(13)}01`);
    assert.equal(toHex(ipToBytes("::ffff:127.0.0.1")), `${"00".repeat(10)}ffff7f000001`);
    assert.equal(toHex(ipToBytes("1:2:3:4:5:6:1.2.3.4")), "00010002000300040005000601020304");
    assert.equal(toHex(ipToBytes("1::")), `0001${"00".repeat(14)}`);
  });

  it("prints IPv6 canonically (RFC 5952)", () => {
    assert.equal(bytesToIp(ipToBytes("2001:0DB8:0:0:0:0:2:1")), "2001:db8::2:1");
    assert.equal(bytesToIp(ipToBytes("2001:db8:0:1:1:1:1:1")), "2001:db8:0:1:1:1:1:1");
    assert.equal(bytesToIp(ipToBytes("2001:0:0:1:0:0:0:1")), "2001:0:0:1::1");
    assert.equal(bytesToIp(ipToBytes("2001:db8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
    assert.equal(bytesToIp(ipToBytes("::1")), "::1");
    assert.equal(bytesToIp(ipToBytes("::")), "::");
    assert.equal(bytesToIp(ipToBytes("::ffff:10.1.2.3")), "::ffff:10.1.2.3");
  });

  it("refuses text that is not an address", () => {
    for (const bad of [
      "",
      "1.2.3",
      "256.0.0.1",
      "01.2.3.4",
      "1.2.3.4.5",
      "1:::2",
      "1::2::3",
      "12345::",
      "g::1",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
    ]) {
      assert.throws(() => ipToBytes(bad), ValidationError, bad);
    }
  });

  it("refuses peer bytes that are neither 4 nor 16 long", () => {
    assert.throws(() => bytesToIp(Uint8Array.of(1, 2, 3)), WireError);
    assert.throws(() => bytesToIp(new Uint8Array(0)), WireError);
  });
});
