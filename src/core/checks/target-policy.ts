/**
 * Which probe targets an agent run with `denyPrivateTargets` refuses: addresses that reach the
 * node itself or its private network rather than the public internet. Without it, anyone who may
 * add an origin can aim the cluster at internal services (cloud metadata at 169.254.169.254, an
 * admin port on loopback), and `bodyContains` turns a probe into an oracle over their answers.
 *
 * The check runs twice: when a spec is accepted (on an IP literal, or on what the name resolves to
 * then) and at probe time on the address the connection actually uses, so that a name that
 * resolves to a public address when the spec is stored and to 127.0.0.1 later (DNS rebinding) is
 * still refused. Pure.
 */
import { ipToBytes } from "../../wire/ip.js";

/** An IPv4 range as its first address's 32-bit value and prefix length. */
interface V4Range {
  base: number;
  bits: number;
  reason: string;
}

/** RFC 6890 special-purpose ranges that are not the public internet. */
const V4_DENIED: readonly V4Range[] = [
  { base: 0x00000000, bits: 8, reason: "unspecified (0.0.0.0/8)" },
  { base: 0x0a000000, bits: 8, reason: "private (10.0.0.0/8)" },
  { base: 0x64400000, bits: 10, reason: "shared address space (100.64.0.0/10)" },
  { base: 0x7f000000, bits: 8, reason: "loopback (127.0.0.0/8)" },
  { base: 0xa9fe0000, bits: 16, reason: "link-local (169.254.0.0/16)" },
  { base: 0xac100000, bits: 12, reason: "private (172.16.0.0/12)" },
  { base: 0xc0000000, bits: 24, reason: "IETF protocol assignments (192.0.0.0/24)" },
  { base: 0xc0a80000, bits: 16, reason: "private (192.168.0.0/16)" },
  { base: 0xc6120000, bits: 15, reason: "benchmarking (198.18.0.0/15)" },
  { base: 0xe0000000, bits: 4, reason: "multicast (224.0.0.0/4)" },
  { base: 0xf0000000, bits: 4, reason: "reserved (240.0.0.0/4)" },
];

function v4Reason(b: Uint8Array): string | undefined {
  const value =
    ((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number);
  for (const r of V4_DENIED) {
    const mask = r.bits === 0 ? 0 : (~0 << (32 - r.bits)) >>> 0;
    if (((value >>> 0) & mask) >>> 0 === r.base) return r.reason;
  }
  return undefined;
}

function v6Reason(b: Uint8Array): string | undefined {
  const zeroTo = (n: number) => b.subarray(0, n).every((x) => x === 0);
  if (zeroTo(15) && b[15] === 0) return "unspecified (::)";
  if (zeroTo(15) && b[15] === 1) return "loopback (::1)";
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address to judge.
  if (zeroTo(10) && b[10] === 0xff && b[11] === 0xff) return v4Reason(b.subarray(12));
  if (
    b[0] === 0x00 &&
    b[1] === 0x64 &&
    b[2] === 0xff &&
    b[3] === 0x9b &&
    b.subarray(4, 12).every((x) => x === 0)
  ) {
    return v4Reason(b.subarray(12));
  }
  const first = b[0] as number;
  const second = b[1] as number;
  if (first === 0xfe && (second & 0xc0) === 0x80) return "link-local (fe80::/10)";
  if (first === 0xfe && (second & 0xc0) === 0xc0) return "site-local (fec0::/10)";
  if ((first & 0xfe) === 0xfc) return "unique-local (fc00::/7)";
  if (first === 0xff) return "multicast (ff00::/8)";
  return undefined;
}

/** The address bytes of an IP literal (brackets allowed around IPv6), or undefined for a name. */
export function ipLiteralBytes(host: string): Uint8Array | undefined {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (!/^[0-9.]+$/.test(bare) && !bare.includes(":")) return undefined;
  try {
    return ipToBytes(bare.split("%")[0] as string);
  } catch {
    return undefined;
  }
}

/**
 * Why `address` (an IPv4 or IPv6 literal) is not a public target, e.g. "loopback (127.0.0.0/8)",
 * or undefined when it is public. Text that is not an IP address is refused too ("not an IP
 * address"): the caller asks only about addresses it is about to connect to.
 */
export function deniedAddressReason(address: string): string | undefined {
  const bytes = ipLiteralBytes(address);
  if (bytes === undefined) return "not an IP address";
  return bytes.length === 4 ? v4Reason(bytes) : v6Reason(bytes);
}

/**
 * Why a URL's host is refused before any lookup: an IP literal in a denied range, or a name that
 * always means this machine (`localhost` and its subdomains, RFC 6761 §6.3). Undefined when the
 * host is a public address or a name, which is judged again on its resolved address.
 */
export function deniedHostReason(host: string): string | undefined {
  const lower = host.toLowerCase().replace(/\.$/, "");
  if (lower === "localhost" || lower.endsWith(".localhost")) return "loopback (localhost)";
  if (ipLiteralBytes(lower) === undefined) return undefined;
  return deniedAddressReason(lower);
}
