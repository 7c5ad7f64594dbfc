/**
 * heck's own messages inside memberlist's user messages and push-pull user state (append-only,
 * versioned). Every payload starts with two bytes:
 *
 *     byte 0   0x68 ('h'), which no Serf message starts with (Serf's first byte is a message type
 *              below 0x20), so a mixed cluster can tell the two apart
 *     byte 1   format version, 2
 *     rest     msgpack array [kind, ...]:
 *                [0, items]                       gossip: deltas and watermarks
 *                [1, node, vv, cloud, floor, flags]
 *                                                 digest: what `node` has seen (push-pull state,
 *                                                 or a standalone sync request over a stream)
 *                [2, node, session, seq, total, full, vv, cloud, floor, records]
 *                                                 one chunk of an anti-entropy session
 *
 * A version vector travels flat as [writer, counter, writer, counter, ...]; a cloud as
 * [writer, [counter, ...], ...]. A gossip item is [0, id, versions, removed] (catalog),
 * [1, id, versions, removed] (health) or [2, node, [intervalMs, at, ...]] (probe watermark);
 * `removed` holds the dots the write replaced, flat. A record of a chunk is [map, id, versions]
 * with every version the sender holds at that key. A version is
 * [writer, counter, wall, tick, value]; a catalog value is [spec, targetWriter, targetCounter] or
 * null (a tombstone), a health value [status, reporter, checkedAt, changedAt, latencyMs, error,
 * targetWriter, targetCounter, confirmedBy].
 */
import { pack, unpack } from "msgpackr";
import { isOriginSpec } from "../checks/spec.js";
import { normalSpec } from "./catalog.js";
import type { Version } from "./causal-map.js";
import { CausalContext, type Dot, isDotPart } from "./dots.js";
import { internText } from "./intern.js";
import type { CatalogValue, HealthStatus, HealthValue } from "./types.js";

export const WIRE_MAGIC = 0x68;
export const WIRE_FORMAT_VERSION = 2;
export const HEADER_BYTES = 2;
/** First bytes below this belong to other users of memberlist's user messages (Serf). */
export const FOREIGN_BELOW = 0x20;

export const KIND_GOSSIP = 0;
export const KIND_DIGEST = 1;
export const KIND_CHUNK = 2;

export const MAP_CATALOG = 0;
export const MAP_HEALTH = 1;
export const ITEM_WATERMARK = 2;

/** Cloud dots sent in a digest at most; the rest only cost a peer some redundant records. */
export const MAX_DIGEST_CLOUD = 4096;
/** HLC counters above this are refused: the clock adds one to what it observes. */
export const MAX_TICK = 2 ** 32;
const MAX_NAME = 255;

const STATUSES: ReadonlySet<unknown> = new Set<HealthStatus>(["unknown", "healthy", "unhealthy"]);

export type MapTag = typeof MAP_CATALOG | typeof MAP_HEALTH;

// ---------------------------------------------------------------------------------------------
// Encoding

/** A payload from an already-built message. */
export function frame(message: unknown[]): Uint8Array {
  const body = pack(message);
  const out = new Uint8Array(HEADER_BYTES + body.length);
  out[0] = WIRE_MAGIC;
  out[1] = WIRE_FORMAT_VERSION;
  out.set(body, HEADER_BYTES);
  return out;
}

/** msgpack of one gossip item, as a standalone copy (msgpackr returns views of a shared buffer). */
export function encodeItem(item: unknown[]): Uint8Array {
  return new Uint8Array(pack(item));
}

/** The msgpack array header for `n` items (fixarray, array16 or array32). */
function arrayHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >>> 8, n & 0xff);
  return Uint8Array.of(0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** Bytes a gossip batch adds around its items: header, [0, and the largest array header. */
export const GOSSIP_OVERHEAD_BYTES = HEADER_BYTES + 2 + 5;

/**
 * A gossip payload from already-encoded items: concatenated msgpack values after an array header
 * form a valid msgpack array, so queued items are packed once and batched by copying.
 */
export function gossipPayload(items: Uint8Array[]): Uint8Array {
  const head = arrayHeader(items.length);
  let size = HEADER_BYTES + 2 + head.length;
  for (const d of items) size += d.length;
  const out = new Uint8Array(size);
  out[0] = WIRE_MAGIC;
  out[1] = WIRE_FORMAT_VERSION;
  out[2] = 0x92; // fixarray of 2: [kind, items]
  out[3] = KIND_GOSSIP;
  out.set(head, 4);
  let at = 4 + head.length;
  for (const d of items) {
    out.set(d, at);
    at += d.length;
  }
  return out;
}

export function encodeVector(vv: ReadonlyMap<string, number>): unknown[] {
  const out: unknown[] = [];
  for (const [w, c] of vv) out.push(w, c);
  return out;
}

export function encodeCloud(ctx: CausalContext, max = Number.POSITIVE_INFINITY): unknown[] {
  const out: unknown[] = [];
  let left = max;
  for (const [w, counters] of ctx.cloud) {
    if (left <= 0) break;
    const list: number[] = [];
    for (const c of counters) {
      if (left-- <= 0) break;
      list.push(c);
    }
    out.push(w, list);
  }
  return out;
}

export function encodeDots(dots: Iterable<Dot>): unknown[] {
  const out: unknown[] = [];
  for (const d of dots) out.push(d.writer, d.counter);
  return out;
}

function catalogValueTuple(value: CatalogValue | null): unknown {
  // Held specs are in normal form already (normalSpec): sent as they are.
  return value === null ? null : [value.spec, value.target.writer, value.target.counter];
}

function healthValueTuple(v: HealthValue | null): unknown {
  if (v === null) return null;
  return [
    v.status,
    v.reporter,
    v.checkedAt,
    v.changedAt,
    v.latencyMs,
    v.error,
    v.target.writer,
    v.target.counter,
    v.confirmedBy ?? null,
  ];
}

export function encodeVersions(map: MapTag, versions: readonly Version<unknown>[]): unknown[] {
  return versions.map((v) => [
    v.writer,
    v.counter,
    v.wall,
    v.tick,
    map === MAP_CATALOG
      ? catalogValueTuple(v.value as CatalogValue | null)
      : healthValueTuple(v.value as HealthValue | null),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Decoding: every function returns undefined for malformed input and never throws.

export type Decoded = { ok: true; message: unknown[] } | { ok: false; reason: string } | { ok: "ignored" };

export function decodeFrame(payload: Uint8Array): Decoded {
  const first = payload[0];
  if (first === undefined || first < FOREIGN_BELOW) return { ok: "ignored" };
  if (first !== WIRE_MAGIC) return { ok: false, reason: `first byte 0x${first.toString(16)}` };
  if (payload[1] !== WIRE_FORMAT_VERSION) return { ok: false, reason: `format version ${payload[1]}` };
  let value: unknown;
  try {
    value = unpack(payload.subarray(HEADER_BYTES));
  } catch (err) {
    return { ok: false, reason: `msgpack: ${String(err)}` };
  }
  if (!Array.isArray(value) || typeof value[0] !== "number")
    return { ok: false, reason: "not a heck message" };
  return { ok: true, message: value };
}

export const isName = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= MAX_NAME;
const isTime = (v: unknown): v is number | null =>
  v === null || (typeof v === "number" && Number.isFinite(v));
const isText = (v: unknown): v is string | null => v === null || typeof v === "string";

export function decodeVector(raw: unknown): Map<string, number> | undefined {
  if (!Array.isArray(raw) || raw.length % 2 !== 0) return undefined;
  const vv = new Map<string, number>();
  for (let i = 0; i < raw.length; i += 2) {
    const w = raw[i];
    const c = raw[i + 1];
    if (!isDotPart(w, c) || vv.has(w as string)) return undefined;
    vv.set(w as string, c as number);
  }
  return vv;
}

export function decodeContext(rawVector: unknown, rawCloud: unknown): CausalContext | undefined {
  const vv = decodeVector(rawVector);
  if (!vv || !Array.isArray(rawCloud) || rawCloud.length % 2 !== 0) return undefined;
  const ctx = CausalContext.from(vv);
  for (let i = 0; i < rawCloud.length; i += 2) {
    const w = rawCloud[i];
    const list = rawCloud[i + 1];
    if (!Array.isArray(list)) return undefined;
    for (const c of list) {
      if (!isDotPart(w, c)) return undefined;
      ctx.add({ writer: w as string, counter: c as number });
    }
  }
  return ctx;
}

export function decodeDots(raw: unknown): Dot[] | undefined {
  if (!Array.isArray(raw) || raw.length % 2 !== 0) return undefined;
  const out: Dot[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!isDotPart(raw[i], raw[i + 1])) return undefined;
    out.push({ writer: raw[i] as string, counter: raw[i + 1] as number });
  }
  return out;
}

function decodeCatalogValue(raw: unknown): CatalogValue | null | undefined {
  if (raw === null) return null;
  if (!Array.isArray(raw) || raw.length !== 3) return undefined;
  const [spec, tw, tc] = raw;
  if (!isOriginSpec(spec) || !isDotPart(tw, tc)) return undefined;
  return { spec: normalSpec(spec), target: { writer: internText(tw as string), counter: tc as number } };
}

function decodeHealthValue(raw: unknown): HealthValue | undefined {
  if (!Array.isArray(raw) || raw.length !== 9) return undefined;
  const [status, reporter, checkedAt, changedAt, latencyMs, error, tw, tc, confirmedBy] = raw;
  if (
    !STATUSES.has(status) ||
    !isText(reporter) ||
    !isTime(checkedAt) ||
    !isTime(changedAt) ||
    !isTime(latencyMs) ||
    (latencyMs !== null && latencyMs < 0) ||
    !isText(error) ||
    !isDotPart(tw, tc) ||
    !(confirmedBy === null || isName(confirmedBy))
  ) {
    return undefined;
  }
  return {
    status: internText(status as string) as HealthStatus,
    reporter: internText(reporter),
    checkedAt,
    changedAt,
    latencyMs,
    error: internText(error),
    target: { writer: internText(tw as string), counter: tc as number },
    confirmedBy: internText(confirmedBy as string | null),
  };
}

/** The versions of one key, or undefined when any is malformed or a dot repeats. */
export function decodeVersions(map: MapTag, raw: unknown): Version<unknown>[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > 64) return undefined;
  const out: Version<unknown>[] = [];
  for (const item of raw) {
    if (!Array.isArray(item) || item.length !== 5) return undefined;
    const [writer, counter, wall, tick, rawValue] = item;
    if (!isDotPart(writer, counter)) return undefined;
    if (!Number.isSafeInteger(wall) || (wall as number) < 0) return undefined;
    if (!Number.isSafeInteger(tick) || (tick as number) < 0 || (tick as number) > MAX_TICK) return undefined;
    const value = map === MAP_CATALOG ? decodeCatalogValue(rawValue) : decodeHealthValue(rawValue);
    if (value === undefined) return undefined;
    if (out.some((v) => v.writer === writer && v.counter === counter)) return undefined;
    out.push({
      // Kept for the life of the version: one shared copy per writer, not a slice of the message.
      writer: internText(writer as string),
      counter: counter as number,
      wall: wall as number,
      tick: tick as number,
      value,
    });
  }
  return out;
}
