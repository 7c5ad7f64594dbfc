/**
 * memberlist's 6-byte version vector `Vsn` = [pmin, pmax, pcur, dmin, dmax, dcur] (docs/wire.md §6.1):
 * the memberlist protocol range and current version, then the delegate's. A peer's pmax decides
 * which optional features we may use towards it (§7).
 */

export interface ProtocolVersions {
  pmin: number;
  pmax: number;
  pcur: number;
  dmin: number;
  dmax: number;
  dcur: number;
}

/** Protocol versions that unlock optional behaviour towards a peer (docs/wire.md §7). */
export const ProtocolFeature = {
  /** pmax >= 3: the peer answers a ping sent over TCP. */
  tcpPing: 3,
  /** pmax >= 4: an intermediary returns a nack when the target stays silent. */
  nack: 4,
  /** pmax >= 5: the peer checks a CRC header on packets. */
  crc: 5,
} as const;

/** Reads a Vsn; an empty one means all zero (as memberlist stores it). Other lengths below 6 are undefined. */
export function parseVsn(vsn: Uint8Array): ProtocolVersions | undefined {
  if (vsn.length === 0) return { pmin: 0, pmax: 0, pcur: 0, dmin: 0, dmax: 0, dcur: 0 };
  if (vsn.length < 6) return undefined;
  return {
    pmin: vsn[0] ?? 0,
    pmax: vsn[1] ?? 0,
    pcur: vsn[2] ?? 0,
    dmin: vsn[3] ?? 0,
    dmax: vsn[4] ?? 0,
    dcur: vsn[5] ?? 0,
  };
}

/**
 * Whether an alive carrying this Vsn may be applied. memberlist drops a range with pmin = 0,
 * pmax = 0 or pmin > pmax; a Vsn of 1 to 5 bytes is refused too, because Serf itself cannot read
 * one (docs/wire.md §6.1) and spreading it would crash Serf peers.
 */
export function acceptableVsn(vsn: Uint8Array): boolean {
  if (vsn.length === 0) return true;
  const v = parseVsn(vsn);
  return v !== undefined && v.pmin !== 0 && v.pmax !== 0 && v.pmin <= v.pmax;
}

/** The peer's highest memberlist protocol version (0 when unknown). */
export function protocolMax(vsn: Uint8Array): number {
  return vsn.length >= 6 ? (vsn[1] ?? 0) : 0;
}

/**
 * memberlist's push-pull compatibility check over every alive node, ours and the peer's (docs/wire.md
 * §5, §6.1): each node's current protocol and delegate versions must lie within the intersection
 * of everyone's ranges. Pass the peer's nodes first: the first offender is named, as memberlist
 * checks remote nodes before local ones. Returns the refusal text, or undefined when compatible.
 */
export function incompatibility(nodes: ReadonlyArray<{ name: string; vsn: Uint8Array }>): string | undefined {
  const parsed: Array<{ name: string; v: ProtocolVersions }> = [];
  for (const node of nodes) {
    const v = parseVsn(node.vsn);
    if (v === undefined) return `Node '${node.name}' has a malformed version vector`;
    parsed.push({ name: node.name, v });
  }
  if (parsed.length === 0) return undefined;
  let maxPmin = 0;
  let minPmax = 255;
  let maxDmin = 0;
  let minDmax = 255;
  for (const { v } of parsed) {
    // A node without a Vsn does not narrow the range; it is then checked with version 0 and
    // fails, which is how memberlist refuses it.
    if (v.pmax === 0 && v.dmax === 0) continue;
    maxPmin = Math.max(maxPmin, v.pmin);
    minPmax = Math.min(minPmax, v.pmax);
    maxDmin = Math.max(maxDmin, v.dmin);
    minDmax = Math.min(minDmax, v.dmax);
  }
  for (const { name, v } of parsed) {
    if (v.pcur < maxPmin || v.pcur > minPmax) {
      return `Node '${name}' protocol version (${v.pcur}) is incompatible: [${maxPmin}, ${minPmax}]`;
    }
    if (v.dcur < maxDmin || v.dcur > minDmax) {
      return `Node '${name}' delegate protocol version (${v.dcur}) is incompatible: [${maxDmin}, ${minDmax}]`;
    }
  }
  return undefined;
}
