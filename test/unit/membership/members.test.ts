import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { seededRng } from "../../../src/core/env.js";
import {
  type AliveClaim,
  type AliveVerdict,
  deadApplies,
  judgeAlive,
  type MemberState,
  MemberTable,
  refutingIncarnation,
  suspectApplies,
} from "../../../src/core/membership/members.js";
import type { MemberStatus } from "../../../src/core/membership/ports.js";

const VSN = Uint8Array.of(1, 5, 2, 2, 5, 5);
const HOME = { host: "10.0.0.1", port: 7946 };
const ELSEWHERE = { host: "10.0.0.2", port: 7946 };

function member(status: MemberStatus, incarnation: number, statusSince = 0, name = "x"): MemberState {
  return {
    name,
    address: HOME,
    addr: Uint8Array.of(10, 0, 0, 1),
    meta: new Uint8Array(0),
    vsn: VSN,
    incarnation,
    status,
    statusSince,
  };
}

function claim(incarnation: number, address = HOME, meta = new Uint8Array(0)): AliveClaim {
  return { incarnation, address, meta, vsn: VSN };
}

describe("judgeAlive (docs/wire.md §6.2)", () => {
  const reclaim = 30_000;
  const cases: Array<[string, MemberState | undefined, AliveClaim, boolean, number, AliveVerdict]> = [
    ["a new node with incarnation >= 1 is applied", undefined, claim(1), false, 0, "apply"],
    ["a new node with incarnation 0 is ignored", undefined, claim(0), false, 0, "ignore"],
    ["a strictly newer incarnation is applied", member("alive", 3), claim(4), false, 0, "apply"],
    ["an equal incarnation is ignored", member("alive", 3), claim(3), false, 0, "ignore"],
    ["an older incarnation is ignored", member("suspect", 3), claim(2), false, 0, "ignore"],
    ["a newer alive revives a dead node", member("dead", 3), claim(4), false, 0, "apply"],
    ["a newer alive revives a left node", member("left", 3), claim(4), false, 0, "apply"],
    [
      "another address for a live name conflicts",
      member("alive", 3),
      claim(9, ELSEWHERE),
      false,
      0,
      "conflict",
    ],
    [
      "a left name may move to a new address at any incarnation",
      member("left", 3),
      claim(1, ELSEWHERE),
      false,
      0,
      "apply",
    ],
    [
      "a dead name may move only after deadNodeReclaimTime",
      member("dead", 3, 0),
      claim(1, ELSEWHERE),
      false,
      10_000,
      "conflict",
    ],
    [
      "a dead name moves once deadNodeReclaimTime has passed",
      member("dead", 3, 0),
      claim(1, ELSEWHERE),
      false,
      40_000,
      "apply",
    ],
    [
      "our own alive echoed back with our incarnation is ignored (§8.13)",
      member("alive", 5),
      claim(5),
      true,
      0,
      "ignore",
    ],
    ["an older alive about us is ignored", member("alive", 5), claim(4), true, 0, "ignore"],
    ["a newer alive about us is refuted", member("alive", 5), claim(6), true, 0, "refute"],
    [
      "our incarnation with other Meta is refuted",
      member("alive", 5),
      claim(5, HOME, Uint8Array.of(1)),
      true,
      0,
      "refute",
    ],
  ];
  for (const [name, known, c, isSelf, now, expected] of cases) {
    it(name, () => assert.equal(judgeAlive(known, c, isSelf, now, reclaim), expected));
  }

  it("with deadNodeReclaimTime 0 a dead name never moves", () => {
    assert.equal(judgeAlive(member("dead", 3, 0), claim(9, ELSEWHERE), false, 1e9, 0), "conflict");
  });
});

describe("suspect and dead applicability", () => {
  const suspects: Array<[MemberStatus, number, number, boolean]> = [
    ["alive", 3, 3, true],
    ["alive", 3, 4, true],
    ["alive", 3, 2, false],
    ["suspect", 3, 3, false],
    ["dead", 3, 5, false],
    ["left", 3, 5, false],
  ];
  for (const [status, known, inc, expected] of suspects) {
    it(`suspect(inc ${inc}) on ${status}@${known} -> ${expected}`, () =>
      assert.equal(suspectApplies(member(status, known), inc), expected));
  }
  it("suspect or dead about an unknown node never applies", () => {
    assert.equal(suspectApplies(undefined, 9), false);
    assert.equal(deadApplies(undefined, 9), false);
  });

  const deads: Array<[MemberStatus, number, number, boolean]> = [
    ["alive", 3, 3, true],
    ["suspect", 3, 3, true],
    ["suspect", 3, 4, true],
    ["alive", 3, 2, false],
    ["dead", 3, 4, false],
    ["left", 3, 4, false],
  ];
  for (const [status, known, inc, expected] of deads) {
    it(`dead(inc ${inc}) on ${status}@${known} -> ${expected}`, () =>
      assert.equal(deadApplies(member(status, known), inc), expected));
  }
});

describe("refutingIncarnation = max(own + 1, accused + 1)", () => {
  const cases: Array<[own: number, accused: number, expected: number]> = [
    [1, 1, 2],
    [1, 5, 6],
    [7, 3, 8],
    [0, 0, 1],
  ];
  for (const [own, accused, expected] of cases) {
    it(`own ${own}, accused ${accused} -> ${expected}`, () =>
      assert.equal(refutingIncarnation(own, accused), expected));
  }
});

describe("MemberTable", () => {
  function table(n: number): MemberTable {
    const t = new MemberTable(seededRng(3));
    for (let i = 0; i < n; i++) t.add(member("alive", 1, 0, `m${i}`));
    return t;
  }

  it("probes every other live member exactly once per cycle, skipping self and departed", () => {
    const t = table(10);
    (t.get("m3") as MemberState).status = "dead";
    (t.get("m4") as MemberState).status = "left";
    for (let cycle = 0; cycle < 3; cycle++) {
      const seen: string[] = [];
      for (let i = 0; i < 7; i++) seen.push(t.nextProbeTarget("m0")?.name ?? "none");
      assert.deepEqual([...seen].sort(), ["m1", "m2", "m5", "m6", "m7", "m8", "m9"]);
    }
  });

  it("has no probe target when alone", () => {
    const t = table(1);
    assert.equal(t.nextProbeTarget("m0"), undefined);
  });

  it("refuses a duplicate name", () => {
    const t = table(2);
    assert.throws(() => t.add(member("alive", 1, 0, "m1")));
  });

  it("picks distinct random members that pass the filter", () => {
    const t = table(20);
    for (let i = 0; i < 50; i++) {
      const picked = t.randomMembers(3, (s) => s.name !== "m0" && s.name !== "m1");
      assert.equal(picked.length, 3);
      assert.equal(new Set(picked.map((s) => s.name)).size, 3);
      assert.ok(picked.every((s) => s.name !== "m0" && s.name !== "m1"));
    }
    assert.equal(t.randomMembers(5, (s) => s.name === "m7").length, 1);
  });

  it("forgets selected members and keeps the probe position", () => {
    const t = table(6);
    const first = t.nextProbeTarget("none");
    (t.get("m2") as MemberState).status = "dead";
    const dropped = t.forget((s) => s.status === "dead");
    assert.deepEqual(
      dropped.map((s) => s.name),
      ["m2"],
    );
    assert.equal(t.get("m2"), undefined);
    assert.equal(t.size, 5);
    const rest = new Set<string>();
    for (let i = 0; i < 5; i++) rest.add(t.nextProbeTarget("none")?.name ?? "none");
    assert.ok(first !== undefined);
    assert.ok(!rest.has("m2"));
  });
});
