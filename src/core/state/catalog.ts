/**
 * Origin specs as the replicated catalog keeps them: one normal form for the wire and for storage,
 * equality without allocation, and the notion of a spec's probe target.
 */
import { Interner, internText, ownText } from "./intern.js";
import type { OriginSpec } from "./types.js";

const shared = new Interner<unknown>();

function copyValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyValue);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = copyValue(v);
    }
    return out;
  }
  return typeof value === "string" ? ownText(value) : value;
}

/**
 * A deep copy of a spec with keys in sorted order and no undefined values: what goes on the wire
 * (msgpack has no undefined) and what is kept of a peer's spec (nothing of a decoded object
 * survives). Its nested lists and maps (expectStatus, headers) are shared, frozen copies: callers
 * MUST NOT mutate a spec the state holds.
 */
export function normalSpec(spec: OriginSpec): OriginSpec {
  // The specs of a catalog arrive in long runs that differ in their URL alone (a bulk load, a
  // bootstrap): such a spec is the last one's normal form with its own URL.
  const last = lastNormal;
  if (last !== undefined && sameButUrl(spec, last)) {
    const out = { ...last };
    out.url = ownText(spec.url);
    return out;
  }
  const normal = buildNormalSpec(spec);
  lastNormal = normal;
  return normal;
}

/** The normal form {@link normalSpec} built last. */
let lastNormal: OriginSpec | undefined;

/** Whether `spec` has the fields of `normal` (a spec in normal form), equal but for the URL. */
function sameButUrl(spec: OriginSpec, normal: OriginSpec): boolean {
  const s = spec as unknown as Record<string, unknown>;
  const n = normal as unknown as Record<string, unknown>;
  let count = 0;
  for (const key in s) {
    const value = s[key];
    if (value === undefined) continue;
    count++;
    if (key !== "url" && !equalValues(value, n[key])) return false;
  }
  let expected = 0;
  for (const _ in n) expected++;
  return count === expected;
}

function buildNormalSpec(spec: OriginSpec): OriginSpec {
  const out = copyValue(spec) as Record<string, unknown>;
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === "object" && value !== null) {
      out[key] = shared.get(`${key}\u0000${JSON.stringify(value)}`, () => Object.freeze(value));
    }
  }
  const normal = out as unknown as OriginSpec;
  normal.method = internText(normal.method) as OriginSpec["method"];
  const keys = Object.keys(normal).length;
  if (keys === REQUIRED_KEYS) return compactSpec(normal);
  if (keys === REQUIRED_KEYS + 1 && normal.confirm === false) return compactConfirmSpec(normal);
  return normal;
}

/** Fields every parsed spec has (contract.md "Origin spec"); the others are optional. */
const REQUIRED_KEYS = 8;

/**
 * A spec of the required fields only, built as one literal in sorted key order: it has the same
 * keys in the same order as the copy, but all of them in the object itself (a copy built key by key
 * keeps most in a separate property array), and every such spec shares one hidden class.
 */
function compactSpec(s: OriginSpec): OriginSpec {
  const spec: OriginSpec = {
    expectStatus: s.expectStatus,
    headers: s.headers,
    healthyThreshold: s.healthyThreshold,
    intervalMs: s.intervalMs,
    method: s.method,
    timeoutMs: s.timeoutMs,
    unhealthyThreshold: s.unhealthyThreshold,
    url: s.url,
  };
  // Unexpected keys (never from parseOriginSpec): keep the copy as it is.
  for (const key of Object.keys(s)) if (!(key in spec)) return s;
  return spec;
}

/** The same, for the one optional field a catalog commonly sets on every origin: `confirm: false`. */
function compactConfirmSpec(s: OriginSpec): OriginSpec {
  const spec: OriginSpec = {
    confirm: false,
    expectStatus: s.expectStatus,
    headers: s.headers,
    healthyThreshold: s.healthyThreshold,
    intervalMs: s.intervalMs,
    method: s.method,
    timeoutMs: s.timeoutMs,
    unhealthyThreshold: s.unhealthyThreshold,
    url: s.url,
  };
  for (const key of Object.keys(s)) if (!(key in spec)) return s;
  return spec;
}

function equalValues(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equalValues(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!equalValues((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/**
 * Whether `b` is a spec equal to `a`, field by field (key order and undefined fields aside). `b`
 * may be any value, e.g. undecoded peer input.
 */
export function sameSpec(a: OriginSpec | null, b: unknown): boolean {
  return equalValues(a, b);
}

/** A canonical text of a spec: equal specs give equal text whatever order their keys were built in. */
export function canonicalSpec(spec: OriginSpec | null): string {
  return JSON.stringify(spec === null ? null : copyValue(spec));
}

/**
 * Whether two specs probe the same thing: same URL, method, headers (the Host override included)
 * and TLS settings. A status measured against one target says nothing about another, so a spec
 * whose target changed starts `unknown`; a change of interval, timeout, thresholds or
 * expectations keeps the status.
 */
export function sameTarget(a: OriginSpec, b: OriginSpec): boolean {
  return (
    a.url === b.url &&
    a.method === b.method &&
    equalValues(a.headers, b.headers) &&
    a.hostHeader === b.hostHeader &&
    a.tlsServerName === b.tlsServerName &&
    a.tlsSkipVerify === b.tlsSkipVerify &&
    a.tlsCa === b.tlsCa
  );
}
