import type { MemberView } from "../core/membership/ports.js";

/**
 * Members that failed or left, kept in the node's answer after the membership layer forgets them.
 * memberlist drops a dead or left member after a short reclaim time (15-60 s) because the protocol
 * has no more use for it; an operator still does, so, as Serf lists failed and left members for a
 * day, heck keeps showing them until they come back or `retainMs` passes.
 */
export class DepartedMembers {
  readonly #retainMs: number;
  readonly #byName = new Map<string, MemberView>();

  /** @param retainMs how long a departed member stays listed. @default 24 h */
  constructor(retainMs = 24 * 60 * 60 * 1000) {
    this.#retainMs = retainMs;
  }

  /** Records a member's latest state: remembered while dead or left, dropped once it returns. */
  note(member: MemberView): void {
    if (member.status === "dead" || member.status === "left") this.#byName.set(member.name, { ...member });
    else this.#byName.delete(member.name);
  }

  /** `current` plus the departed members it no longer lists, minus those older than retainMs. */
  withDeparted(current: MemberView[], now: number): MemberView[] {
    if (this.#byName.size === 0) return current;
    const listed = new Set(current.map((m) => m.name));
    const out = [...current];
    for (const [name, member] of this.#byName) {
      if (now - member.statusSince > this.#retainMs) this.#byName.delete(name);
      else if (!listed.has(name)) out.push(member);
    }
    return out;
  }
}
