import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { deniedAddressReason, deniedHostReason } from "../../../src/core/checks/target-policy.js";

describe("target policy", () => {
  it("refuses loopback, link-local, private, unique-local and other special ranges", () => {
    const cases: Array<[string, RegExp]> = [
      ["127.0.0.1", /loopback/],
      ["127.255.1.2", /loopback/],
      ["::1", /loopback/],
      ["169.254.169.254", /link-local/],
      ["fe80::1", /link-local/],
      ["10.1.2.3", /private/],
      ["172.16.0.1", /private/],
      ["172.31.255.255", /private/],
      ["192.168.1.1", /private/],
      ["fd00::1", /unique-local/],
      ["fc00::1", /unique-local/],
      ["0.0.0.0", /unspecified/],
      ["::", /unspecified/],
      ["100.64.0.1", /shared/],
      ["224.0.0.1", /multicast/],
      ["255.255.255.255", /reserved/],
      ["::ffff:127.0.0.1", /loopback/],
      ["::ffff:10.0.0.1", /private/],
      ["64:ff9b::a9fe:a9fe", /link-local/],
    ];
    for (const [address, reason] of cases) assert.match(deniedAddressReason(address) ?? "", reason, address);
  });

  it("lets public addresses through, including neighbours of the denied ranges", () => {
    for (const address of [
      "8.8.8.8",
      "1.1.1.1",
      "172.15.255.255",
      "172.32.0.0",
      "192.169.0.1",
      "11.0.0.1",
      "2606:4700::1111",
      "fe00::1",
    ]) {
      assert.equal(deniedAddressReason(address), undefined, address);
    }
  });

  it("refuses localhost names and private literals in URLs; other names wait for their address", () => {
    assert.match(deniedHostReason("localhost") ?? "", /loopback/);
    assert.match(deniedHostReason("api.localhost.") ?? "", /loopback/);
    assert.match(deniedHostReason("[::1]") ?? "", /loopback/);
    assert.match(deniedHostReason("169.254.169.254") ?? "", /link-local/);
    assert.equal(deniedHostReason("example.com"), undefined);
    assert.equal(deniedHostReason("93.184.216.34"), undefined);
  });
});
