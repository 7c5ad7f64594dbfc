import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { DepartedMembers } from "../../../src/agent/departed.js";
import type { MemberStatus, MemberView } from "../../../src/core/membership/ports.js";

const member = (name: string, status: MemberStatus, statusSince = 0): MemberView => ({
  name,
  address: { host: "127.0.0.1", port: 7946 },
  status,
  incarnation: 1,
  meta: new Uint8Array(),
  statusSince,
});

describe("departed members", () => {
  test("a dead member stays listed after the membership layer forgets it", () => {
    const departed = new DepartedMembers(60_000);
    departed.note(member("b", "dead", 1000));
    const listed = departed.withDeparted([member("a", "alive")], 2000);
    assert.deepEqual(
      listed.map((m) => [m.name, m.status]),
      [
        ["a", "alive"],
        ["b", "dead"],
      ],
    );
  });

  test("the membership layer's own entry wins while it still lists the member", () => {
    const departed = new DepartedMembers(60_000);
    departed.note(member("b", "left", 1000));
    const listed = departed.withDeparted([member("a", "alive"), member("b", "left", 1000)], 2000);
    assert.equal(listed.filter((m) => m.name === "b").length, 1);
  });

  test("a member that comes back is no longer remembered as departed", () => {
    const departed = new DepartedMembers(60_000);
    departed.note(member("b", "dead", 1000));
    departed.note(member("b", "alive", 5000));
    assert.deepEqual(
      departed.withDeparted([], 6000).map((m) => m.name),
      [],
    );
  });

  test("departed members expire after the retention time", () => {
    const departed = new DepartedMembers(60_000);
    departed.note(member("b", "dead", 1000));
    assert.equal(departed.withDeparted([], 61_000).length, 1);
    assert.equal(departed.withDeparted([], 61_001).length, 0);
  });
});
