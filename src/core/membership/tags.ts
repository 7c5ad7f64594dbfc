import { MsgpackReader, MsgpackWriter } from "../../wire/msgpack.js";

/**
 * Node metadata in Serf's tag format (docs/wire.md §6.3): the byte 0xFF, then a msgpack map of
 * strings. heck announces itself with a `heck` tag holding its version, so a heck node tells heck
 * members from Serf agents sharing the cluster (only heck members own origins and take heck's
 * state), and `serf members` shows heck nodes with that tag.
 */

const TAGS_PREFIX = 0xff;
/** Meta may hold at most 512 bytes (docs/wire.md §6.3). */
export const MAX_META_BYTES = 512;
export const HECK_TAG = "heck";

export function encodeTags(tags: Readonly<Record<string, string>>): Uint8Array {
  const w = new MsgpackWriter();
  w.raw(Uint8Array.of(TAGS_PREFIX));
  const entries = Object.entries(tags);
  w.mapHeader(entries.length);
  for (const [key, value] of entries) w.str(key).str(value);
  const out = w.finish();
  if (out.length > MAX_META_BYTES)
    throw new RangeError(`tags take ${out.length} bytes; at most ${MAX_META_BYTES}`);
  return out;
}

/** The tags of a member's meta; undefined when it holds none (legacy role or malformed). */
export function decodeTags(meta: Uint8Array): Record<string, string> | undefined {
  if (meta[0] !== TAGS_PREFIX) return undefined;
  try {
    const r = new MsgpackReader(meta, 1);
    const n = r.readMapHeader();
    const out: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const key = r.readString();
      out[key] = r.readString();
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Whether a member's meta says it is a heck node. */
export function isHeckMeta(meta: Uint8Array): boolean {
  return decodeTags(meta)?.[HECK_TAG] !== undefined;
}
