/**
 * Origin ownership by rendezvous hashing, also called highest random weight (Thaler & Ravishankar,
 * "Using Name-Based Mappings to Increase Hit Rates", IEEE/ACM ToN 1998). Every member scores every
 * origin with a hash of the pair and the highest score owns it. Unlike a hash ring this needs no
 * shared structure and no virtual nodes: any node that knows the same alive members computes the
 * same owner, and when a member goes only its own origins move (each to its runner-up), about 1/n
 * of them, while a joining member takes about 1/n from the others.
 *
 * The weight is part of heck's public contract, since nodes of different versions must agree:
 *
 *     weight(originId, member) = XXH64(utf8(originId + "\n" + member), seed 0)
 *
 * read as an unsigned 64-bit integer (XXH64 as specified by Yann Collet's xxHash, computed by the
 * WebAssembly build of `xxhash-wasm`, see ../hash.ts). The highest weight wins; equal weights, which need a 64-bit
 * collision, go to the member whose name sorts first by UTF-16 code units. Origin ids cannot hold a
 * newline, so the separator keeps the pair unambiguous.
 */
import { xxh64 } from "../hash.js";

/** The rendezvous score of `member` for `originId`; see the module comment for the definition. */
export function rendezvousWeight(originId: string, member: string): bigint {
  // A string argument is hashed as its UTF-8 bytes, which saves encoding it here.
  return xxh64(`${originId}\n${member}`);
}

/** Whether candidate (weight `w`, name `name`) beats the best so far. */
function beats(w: bigint, name: string, bestWeight: bigint, bestName: string): boolean {
  return w > bestWeight || (w === bestWeight && name < bestName);
}

/**
 * The member that owns `originId` among `members` (the alive members this node knows, in any order;
 * duplicates are harmless), or undefined when there are none.
 */
export function ownerOf(originId: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const member of members) {
    const w = rendezvousWeight(originId, member);
    if (best === undefined || beats(w, member, bestWeight, best)) {
      best = member;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * Owners of many origins at once: the same answer as {@link ownerOf} for each id, in one pass with
 * the member list deduplicated and its key suffixes built once. Cost is one XXH64 of a short string
 * per (origin, member) pair, i.e. 500k hashes for 100k origins over 5 members.
 */
export function ownersOf(originIds: Iterable<string>, members: readonly string[]): Map<string, string> {
  const owners = new Map<string, string>();
  const names = [...new Set(members)];
  if (names.length === 0) return owners;
  const suffixes = names.map((m) => `\n${m}`);
  for (const id of originIds) {
    let bestIndex = 0;
    let bestWeight = xxh64(id + suffixes[0]);
    for (let i = 1; i < names.length; i++) {
      const w = xxh64(id + suffixes[i]);
      if (beats(w, names[i] as string, bestWeight, names[bestIndex] as string)) {
        bestIndex = i;
        bestWeight = w;
      }
    }
    owners.set(id, names[bestIndex] as string);
  }
  return owners;
}
