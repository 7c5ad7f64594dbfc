/**
 * The msgpack subset memberlist speaks, written the way go-msgpack 0.5.5 writes it and read as
 * leniently as it reads (docs/wire.md §2). Pure: no `node:*` imports.
 *
 * Writing (§2.1): struct keys in byte-wise sorted order, byte fields and strings in the str family
 * without str8 (fixstr, then str16, then str32), integers in their smallest form.
 * Reading (§2.2): byte fields also accept str8, bin8/16/32, nil and arrays of small integers;
 * string fields accept the str family and nil but refuse bin, as Serf does. Every declared length
 * is checked against the bytes present before anything is allocated.
 */

import { WireError } from "../errors.js";

const utf8Encoder = new TextEncoder();
// Go strings are arbitrary bytes, so invalid UTF-8 in a peer's node name is not an error.
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

/** Nesting bound for skipped values, so a deep array cannot exhaust the call stack. */
const MAX_SKIP_DEPTH = 64;

/**
 * Thrown when a value runs past the end of the buffer. A stream reader treats it as "wait for
 * more bytes"; `needed` is the total buffer length the read asked for.
 */
export class TruncatedError extends WireError {
  readonly needed: number;
  constructor(needed: number, have: number) {
    super(`msgpack: truncated, need ${needed} bytes, have ${have}`);
    this.needed = needed;
    this.name = "TruncatedError";
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** One struct field to write: its Go field name and how to write its value. */
export type StructField = readonly [key: string, write: (w: MsgpackWriter) => void];

/**
 * A buffer that one writer at a time writes into, returned by {@link MsgpackWriter.finish}: nearly
 * every message is encoded start to finish before the next, and a buffer of its own for each
 * (off the JavaScript heap at this size) cost more than the encoding itself. A writer that finds
 * it taken, because another is still writing, gets a buffer of its own.
 */
const scratch = new Uint8Array(64 * 1024);
let scratchTaken = false;

export class MsgpackWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor() {
    if (scratchTaken) {
      this.buf = new Uint8Array(256);
    } else {
      scratchTaken = true;
      this.buf = scratch;
    }
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    if (this.buf === scratch) scratchTaken = false;
    this.buf = next;
  }

  /** Appends one byte as it is (a message type byte before a msgpack body). */
  u8(b: number): this {
    this.reserve(1);
    this.buf[this.len++] = b;
    return this;
  }

  private be(value: number, bytes: 2 | 4): void {
    this.reserve(bytes);
    for (let i = bytes - 1; i >= 0; i--) this.buf[this.len + i] = (value >>> ((bytes - 1 - i) * 8)) & 0xff;
    this.len += bytes;
  }

  /** Appends bytes as they are (raw user state after a push-pull, payloads after a header). */
  raw(bytes: Uint8Array): this {
    const n = bytes.length;
    this.reserve(n);
    if (n <= 16) {
      // Struct keys, addresses and Vsn: a byte loop costs less than a call to set.
      const buf = this.buf;
      for (let i = 0; i < n; i++) buf[this.len + i] = bytes[i]!;
    } else {
      this.buf.set(bytes, this.len);
    }
    this.len += n;
    return this;
  }

  nil(): this {
    this.u8(0xc0);
    return this;
  }

  bool(value: boolean): this {
    this.u8(value ? 0xc3 : 0xc2);
    return this;
  }

  /** An integer in its smallest form; non-negative values use the unsigned family (§2.1). */
  int(value: number | bigint): this {
    // The common case, an unsigned 32-bit number, without a BigInt: the same bytes as below.
    if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) {
      if (value < 0x80) return this.u8(value);
      if (value <= 0xff) return this.u8(0xcc).u8(value);
      if (value <= 0xffff) {
        this.u8(0xcd);
        this.be(value, 2);
        return this;
      }
      this.u8(0xce);
      this.be(value, 4);
      return this;
    }
    const v = BigInt(value);
    if (v >= 0n) {
      if (v < 0x80n) this.u8(Number(v));
      else if (v <= 0xffn) this.u8(0xcc).u8(Number(v));
      else if (v <= 0xffffn) {
        this.u8(0xcd);
        this.be(Number(v), 2);
      } else if (v <= 0xffffffffn) {
        this.u8(0xce);
        this.be(Number(v), 4);
      } else if (v <= 0xffffffffffffffffn) {
        this.u8(0xcf);
        this.be(Number(v >> 32n), 4);
        this.be(Number(v & 0xffffffffn), 4);
      } else throw new RangeError(`msgpack: integer ${v} does not fit in 64 bits`);
    } else if (v >= -32n) this.u8(Number(v) & 0xff);
    else if (v >= -0x80n) this.u8(0xd0).u8(Number(v) & 0xff);
    else if (v >= -0x8000n) {
      this.u8(0xd1);
      this.be(Number(v) & 0xffff, 2);
    } else if (v >= -0x80000000n) {
      this.u8(0xd2);
      this.be(Number(v) >>> 0, 4);
    } else if (v >= -0x8000000000000000n) {
      const u = BigInt.asUintN(64, v);
      this.u8(0xd3);
      this.be(Number(u >> 32n), 4);
      this.be(Number(u & 0xffffffffn), 4);
    } else throw new RangeError(`msgpack: integer ${v} does not fit in 64 bits`);
    return this;
  }

  float64(value: number): this {
    this.u8(0xcb);
    this.reserve(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, value);
    this.len += 8;
    return this;
  }

  /** Bytes in the str family, never str8 and never bin: go-msgpack's form for `[]byte` (§2.1). */
  bytes(value: Uint8Array): this {
    const n = value.length;
    if (n < 32) this.u8(0xa0 | n);
    else if (n <= 0xffff) {
      this.u8(0xda);
      this.be(n, 2);
    } else {
      this.u8(0xdb);
      this.be(n, 4);
    }
    return this.raw(value);
  }

  /** A Go string: UTF-8 in the same str family as bytes. */
  str(value: string): this {
    const n = value.length;
    if (n < 32) {
      // Short ASCII (node names, struct keys) written directly: the bytes UTF-8 would give.
      let ascii = true;
      for (let i = 0; i < n; i++) {
        if (value.charCodeAt(i) > 0x7f) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.reserve(n + 1);
        this.buf[this.len++] = 0xa0 | n;
        for (let i = 0; i < n; i++) this.buf[this.len++] = value.charCodeAt(i);
        return this;
      }
    }
    return this.bytes(utf8Encoder.encode(value));
  }

  arrayHeader(n: number): this {
    return this.#containerHeader(n, 0x90, 0xdc);
  }

  mapHeader(n: number): this {
    return this.#containerHeader(n, 0x80, 0xde);
  }

  /** fix form below 16 entries, then the 16-bit form (`code16`) and the 32-bit one (`code16 + 1`). */
  #containerHeader(n: number, fix: number, code16: number): this {
    if (n < 16) this.u8(fix | n);
    else if (n <= 0xffff) {
      this.u8(code16);
      this.be(n, 2);
    } else {
      this.u8(code16 + 1);
      this.be(n, 4);
    }
    return this;
  }

  /** A Go struct: a map whose keys are sorted byte-wise, as go-msgpack emits them (§2.1). */
  struct(fields: readonly StructField[]): this {
    const keyed = fields.map(([key, write]) => ({ key: utf8Encoder.encode(key), write }));
    keyed.sort((a, b) => compareBytes(a.key, b.key));
    this.mapHeader(keyed.length);
    for (const { key, write } of keyed) {
      this.bytes(key);
      write(this);
    }
    return this;
  }

  /** Gives up what was written, and the shared buffer with it (a write that failed halfway). */
  discard(): void {
    if (this.buf === scratch) scratchTaken = false;
    this.buf = new Uint8Array(0);
    this.len = 0;
  }

  /** The bytes written, as a copy of their own; the writer is done with after this. */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    if (this.buf === scratch) {
      scratchTaken = false;
      // A later call must not see the next writer's bytes.
      this.buf = out;
    }
    return out;
  }
}

/** Reads msgpack from `data[offset..]`. Every method throws `WireError` on malformed input. */
export class MsgpackReader {
  private readonly data: Uint8Array;
  #view: DataView | undefined;
  pos: number;

  constructor(data: Uint8Array, offset = 0) {
    this.data = data;
    this.pos = offset;
  }

  /** Made on first use: most messages hold no 64-bit integer and no float. */
  private get view(): DataView {
    if (this.#view === undefined) {
      this.#view = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    }
    return this.#view;
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.data.length) throw new TruncatedError(this.pos + n, this.data.length);
  }

  private byte(): number {
    this.need(1);
    return this.data[this.pos++]!;
  }

  private uint(bytes: 1 | 2 | 4): number {
    this.need(bytes);
    const d = this.data;
    const at = this.pos;
    this.pos += bytes;
    if (bytes === 1) return d[at]!;
    if (bytes === 2) return (d[at]! << 8) | d[at + 1]!;
    return ((d[at]! << 24) >>> 0) + ((d[at + 1]! << 16) | (d[at + 2]! << 8) | d[at + 3]!);
  }

  /** Takes `n` raw bytes (a view, not a copy). */
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  peek(): number {
    this.need(1);
    return this.data[this.pos]!;
  }

  /** Length of a str-family value starting at `tag`, or undefined if `tag` is not one. */
  private strLength(tag: number): number | undefined {
    if ((tag & 0xe0) === 0xa0) return tag & 0x1f;
    if (tag === 0xd9) return this.uint(1);
    if (tag === 0xda) return this.uint(2);
    if (tag === 0xdb) return this.uint(4);
    return undefined;
  }

  private binLength(tag: number): number | undefined {
    if (tag === 0xc4) return this.uint(1);
    if (tag === 0xc5) return this.uint(2);
    if (tag === 0xc6) return this.uint(4);
    return undefined;
  }

  /** Array length, or undefined if the next byte is not an array header. Consumes the header. */
  private arrayLength(tag: number): number | undefined {
    if ((tag & 0xf0) === 0x90) return tag & 0x0f;
    if (tag === 0xdc) return this.uint(2);
    if (tag === 0xdd) return this.uint(4);
    return undefined;
  }

  private mapLength(tag: number): number | undefined {
    if ((tag & 0xf0) === 0x80) return tag & 0x0f;
    if (tag === 0xde) return this.uint(2);
    if (tag === 0xdf) return this.uint(4);
    return undefined;
  }

  /** Each entry takes at least one byte, so a count beyond the bytes left cannot be real. */
  private checkCount(count: number, bytesPerEntry: number): void {
    this.need(count * bytesPerEntry);
  }

  /** A map header; returns the number of entries. */
  readMapHeader(): number {
    const tag = this.byte();
    const n = this.mapLength(tag);
    if (n === undefined) throw new WireError(`msgpack: expected map, got 0x${hex(tag)}`);
    this.checkCount(n, 2);
    return n;
  }

  readArrayHeader(): number {
    const tag = this.byte();
    const n = this.arrayLength(tag);
    if (n === undefined) throw new WireError(`msgpack: expected array, got 0x${hex(tag)}`);
    this.checkCount(n, 1);
    return n;
  }

  /** True (and consumed) if the next value is nil. */
  readNil(): boolean {
    if (this.peek() !== 0xc0) return false;
    this.pos++;
    return true;
  }

  /** A Go `string`: str family or nil (empty). bin is refused, as Serf refuses it (§2.2). */
  readString(): string {
    const tag = this.byte();
    if (tag === 0xc0) return "";
    const n = this.strLength(tag);
    if (n === undefined) throw new WireError(`msgpack: expected str, got 0x${hex(tag)}`);
    this.need(n);
    const at = this.pos;
    this.pos += n;
    return (
      (n <= SHARED_MAX_BYTES ? sharedAscii(this.data, at, n) : undefined) ??
      (n <= 64 ? asciiText(this.data, at, n) : undefined) ??
      utf8Decoder.decode(this.data.subarray(at, at + n))
    );
  }

  /**
   * A Go `[]byte`: str family, bin family, or an array of integers 0..255 (§2.2). Returns null
   * for nil so callers can tell nil from empty; the result is a copy.
   */
  readBytesOrNull(): Uint8Array | null {
    const tag = this.byte();
    if (tag === 0xc0) return null;
    const n = this.strLength(tag) ?? this.binLength(tag);
    if (n !== undefined) {
      this.need(n);
      const at = this.pos;
      this.pos += n;
      if (n > 32) return this.data.slice(at, at + n);
      // Addresses and version vectors: a byte loop costs less than slice's generic path.
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = this.data[at + i]!;
      return out;
    }
    const count = this.arrayLength(tag);
    if (count === undefined) throw new WireError(`msgpack: expected bytes, got 0x${hex(tag)}`);
    this.checkCount(count, 1);
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const v = this.readInteger();
      if (v < 0n || v > 0xffn) throw new WireError(`msgpack: byte array element ${v} out of range`);
      out[i] = Number(v);
    }
    return out;
  }

  /** A Go `[]byte` where nil and empty mean the same. */
  readBytes(): Uint8Array {
    return this.readBytesOrNull() ?? new Uint8Array(0);
  }

  /**
   * {@link readBytes} for the short values read by the thousand and kept by many (addresses,
   * Vsn, small Meta): equal bytes give the same array, which nobody may modify. Longer values,
   * and forms other than str and bin8, are copies as with readBytes.
   */
  readSharedBytes(): Uint8Array {
    const tag = this.peek();
    let at: number;
    let n: number;
    if ((tag & 0xe0) === 0xa0) {
      n = tag & 0x1f;
      at = this.pos + 1;
    } else if (tag === 0xc4 && this.pos + 1 < this.data.length) {
      n = this.data[this.pos + 1]!;
      at = this.pos + 2;
    } else {
      return this.readBytes();
    }
    // Too long to share, or truncated: readBytes copies, or throws as it always does.
    if (n > SHARED_MAX_BYTES || at + n > this.data.length) return this.readBytes();
    this.pos = at + n;
    return sharedBytes(this.data, at, n);
  }

  /** Any msgpack integer format, as a bigint so 64-bit values stay exact. */
  readInteger(): bigint {
    const tag = this.byte();
    if (tag < 0x80) return BigInt(tag);
    if (tag >= 0xe0) return BigInt(tag - 0x100);
    switch (tag) {
      case 0xcc:
        return BigInt(this.uint(1));
      case 0xcd:
        return BigInt(this.uint(2));
      case 0xce:
        return BigInt(this.uint(4));
      case 0xcf: {
        this.need(8);
        const v = this.view.getBigUint64(this.pos);
        this.pos += 8;
        return v;
      }
      case 0xd0: {
        this.need(1);
        return BigInt(this.view.getInt8(this.pos++));
      }
      case 0xd1: {
        this.need(2);
        const v = this.view.getInt16(this.pos);
        this.pos += 2;
        return BigInt(v);
      }
      case 0xd2: {
        this.need(4);
        const v = this.view.getInt32(this.pos);
        this.pos += 4;
        return BigInt(v);
      }
      case 0xd3: {
        this.need(8);
        const v = this.view.getBigInt64(this.pos);
        this.pos += 8;
        return v;
      }
      default:
        throw new WireError(`msgpack: expected integer, got 0x${hex(tag)}`);
    }
  }

  /**
   * An unsigned Go integer no larger than `max` (e.g. 0xffff for uint16). Overflow and negative
   * values are refused, as go-msgpack refuses them (§2.2).
   */
  readUint(max: number): number {
    // positive fixint, uint8, uint16 and uint32 without a BigInt; the checks below are the same.
    const tag = this.peek();
    if (tag < 0x80 || tag === 0xcc || tag === 0xcd || tag === 0xce) {
      this.pos++;
      const n = tag < 0x80 ? tag : this.uint(tag === 0xcc ? 1 : tag === 0xcd ? 2 : 4);
      if (n > max) throw new WireError(`msgpack: value ${n} overflows (max ${max})`);
      return n;
    }
    const v = this.readInteger();
    if (v < 0n) throw new WireError(`msgpack: negative value ${v} for an unsigned field`);
    if (v > BigInt(max)) throw new WireError(`msgpack: value ${v} overflows (max ${max})`);
    return Number(v);
  }

  /** A Go bool: `c2`/`c3`, and also the integers 0 and 1 (§2.2). */
  readBool(): boolean {
    const tag = this.peek();
    if (tag === 0xc2 || tag === 0xc3) {
      this.pos++;
      return tag === 0xc3;
    }
    const v = this.readInteger();
    if (v === 0n || v === 1n) return v === 1n;
    throw new WireError(`msgpack: expected bool, got integer ${v}`);
  }

  readFloat64(): number {
    const tag = this.byte();
    if (tag === 0xcb) {
      this.need(8);
      const v = this.view.getFloat64(this.pos);
      this.pos += 8;
      return v;
    }
    if (tag === 0xca) {
      this.need(4);
      const v = this.view.getFloat32(this.pos);
      this.pos += 4;
      return v;
    }
    throw new WireError(`msgpack: expected float, got 0x${hex(tag)}`);
  }

  /** Skips one complete value of any type, checking that it is well formed and complete. */
  skip(depth = 0): void {
    if (depth > MAX_SKIP_DEPTH) throw new WireError("msgpack: nesting too deep");
    const tag = this.byte();
    if (tag < 0x80 || tag >= 0xe0) return;
    const str = this.strLength(tag) ?? this.binLength(tag);
    if (str !== undefined) {
      this.take(str);
      return;
    }
    const arr = this.arrayLength(tag);
    if (arr !== undefined) {
      this.checkCount(arr, 1);
      for (let i = 0; i < arr; i++) this.skip(depth + 1);
      return;
    }
    const map = this.mapLength(tag);
    if (map !== undefined) {
      this.checkCount(map, 2);
      for (let i = 0; i < 2 * map; i++) this.skip(depth + 1);
      return;
    }
    const fixed = FIXED_SIZES.get(tag);
    if (fixed !== undefined) {
      this.take(fixed);
      return;
    }
    const ext = EXT_LENGTH_BYTES.get(tag);
    if (ext !== undefined) {
      this.take(this.uint(ext) + 1);
      return;
    }
    throw new WireError(`msgpack: invalid type byte 0x${hex(tag)}`);
  }

  /**
   * Reads a Go struct and calls `onField` for each field present. go-msgpack accepts a struct as
   * a map keyed by field name (case-sensitive; order free) or as an array in declaration order
   * (§2.2), so `declared` lists the field names in Go declaration order. `onField` must consume
   * the value of every field it knows and return false for the rest, which are skipped. It is
   * handed `target` and this reader, so a callback made once can serve every read.
   */
  readStruct<T>(
    declared: readonly string[],
    onField: (key: string, target: T, reader: MsgpackReader) => boolean,
    target?: T,
  ): void {
    const tag = this.peek();
    const arr = (tag & 0xf0) === 0x90 || tag === 0xdc || tag === 0xdd;
    if (arr) {
      const n = this.readArrayHeader();
      for (let i = 0; i < n; i++) {
        const key = declared[i];
        if (key === undefined || !onField(key, target as T, this)) this.skip();
      }
      return;
    }
    const n = this.readMapHeader();
    for (let i = 0; i < n; i++) {
      const keyTag = this.byte();
      const len = this.strLength(keyTag);
      if (len === undefined) throw new WireError(`msgpack: struct key must be str, got 0x${hex(keyTag)}`);
      this.need(len);
      const at = this.pos;
      this.pos += len;
      const key =
        declaredName(this.data, at, len, declared) ?? utf8Decoder.decode(this.data.subarray(at, at + len));
      if (!onField(key, target as T, this)) this.skip();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Values decoded before. A cluster's gossip repeats the same few hundred node names, addresses
// and version vectors millions of times; a small table of the last value seen per hash of its
// bytes gives most of them without an allocation, and members whose tables hold the same value
// hold one copy (a thousand tables of a thousand members each, in one simulated process).

/** Strings and byte values up to this long are looked up in the tables below. */
const SHARED_MAX_BYTES = 32;
const SHARED_BITS = 15;
const sharedTexts = new Array<string | undefined>(1 << SHARED_BITS).fill(undefined);
const sharedArrays = new Array<Uint8Array | undefined>(1 << SHARED_BITS).fill(undefined);

/**
 * Beside each place of the two tables above, what it holds: the length + 1 (0 for nothing), then
 * the first eight bytes as two words (see {@link keyOf}). A value of up to eight bytes (an IPv4
 * address, a Vsn, a short name) is recognised by these three numbers alone, without reading the
 * string or array itself, which in a heap of a gigabyte is as likely as not out of the cache; a
 * longer one is compared in full once they match.
 */
const KEY_BYTES = 8;
const textKeys = new Int32Array(3 << SHARED_BITS);
const arrayKeys = new Int32Array(3 << SHARED_BITS);
/** The two words {@link keyOf} made last. */
let keyLow = 0;
let keyHigh = 0;

/**
 * The byte value returned last for each length: a message's Vsn and Meta are nearly always those
 * of the message before, found here without hashing.
 */
const lastArrays = new Array<Uint8Array>(SHARED_MAX_BYTES + 1).fill(new Uint8Array(0));

/** FNV-1a of the bytes and their length, reduced to a table slot. */
function slotOf(data: Uint8Array, at: number, length: number): number {
  let h = 0x811c9dc5 ^ length;
  for (let i = at; i < at + length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return finalSlot(h);
}

/**
 * The table slot for hash `h`, its bits mixed first: FNV-1a alone leaves the top bits poorly
 * spread for values that differ in their last byte only (addresses of one subnet).
 */
function finalSlot(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x45d9f3b);
  x ^= x >>> 16;
  return x >>> (32 - SHARED_BITS);
}

/** Sets keyLow and keyHigh to the first eight of the `length` bytes at `at`, little-endian. */
function keyOf(data: Uint8Array, at: number, length: number): void {
  const n = Math.min(length, KEY_BYTES);
  let low = 0;
  let high = 0;
  for (let i = 0; i < n && i < 4; i++) low |= data[at + i]! << (i << 3);
  for (let i = 4; i < n; i++) high |= data[at + i]! << ((i - 4) << 3);
  keyLow = low;
  keyHigh = high;
}

/** Whether place `slot` of a table with `keys` may hold the value of `length` bytes keyed last. */
function keyMatches(keys: Int32Array, slot: number, length: number): boolean {
  const k = slot * 3;
  return keys[k] === length + 1 && keys[k + 1] === keyLow && keys[k + 2] === keyHigh;
}

/** Moves the key of place `slot` to `slot + 1` and puts the one made last in its place. */
function pushKey(keys: Int32Array, slot: number, length: number): void {
  const k = slot * 3;
  keys[k + 3] = keys[k]!;
  keys[k + 4] = keys[k + 1]!;
  keys[k + 5] = keys[k + 2]!;
  keys[k] = length + 1;
  keys[k + 1] = keyLow;
  keys[k + 2] = keyHigh;
}

/** `bytes` as an ASCII string, the one decoded last from the same bytes when there is one. */
function sharedAscii(data: Uint8Array, at: number, length: number): string | undefined {
  // ASCII check and hash in one pass.
  let h = 0x811c9dc5 ^ length;
  for (let i = at; i < at + length; i++) {
    const b = data[i]!;
    if (b > 0x7f) return undefined;
    h = Math.imul(h ^ b, 0x01000193);
  }
  keyOf(data, at, length);
  // Two places per hash, so that two values whose hashes collide do not evict each other in
  // turn: the newest in the first, the one it displaced in the second.
  const slot = finalSlot(h) & ~1;
  for (let s = slot; s <= slot + 1; s++) {
    if (!keyMatches(textKeys, s, length)) continue;
    const text = sharedTexts[s] as string;
    if (length <= KEY_BYTES || sameText(text, data, at)) return text;
  }
  const text = asciiText(data, at, length) as string;
  sharedTexts[slot + 1] = sharedTexts[slot];
  sharedTexts[slot] = text;
  pushKey(textKeys, slot, length);
  return text;
}

function sameText(text: string, data: Uint8Array, at: number): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== data[at + i]) return false;
  return true;
}

function sameBytes(known: Uint8Array, data: Uint8Array, at: number): boolean {
  for (let i = 0; i < known.length; i++) if (known[i] !== data[at + i]) return false;
  return true;
}

/** A copy of `bytes`, or the copy made last of the same bytes. */
function sharedBytes(data: Uint8Array, at: number, length: number): Uint8Array {
  const last = lastArrays[length]!;
  if (last.length === length && sameBytes(last, data, at)) return last;
  keyOf(data, at, length);
  // Two places per hash, as for strings above.
  const slot = slotOf(data, at, length) & ~1;
  let known: Uint8Array | undefined;
  for (let s = slot; s <= slot + 1 && known === undefined; s++) {
    if (!keyMatches(arrayKeys, s, length)) continue;
    const candidate = sharedArrays[s] as Uint8Array;
    if (length <= KEY_BYTES || sameBytes(candidate, data, at)) known = candidate;
  }
  if (known === undefined) {
    known = new Uint8Array(length);
    for (let i = 0; i < length; i++) known[i] = data[at + i]!;
    sharedArrays[slot + 1] = sharedArrays[slot];
    sharedArrays[slot] = known;
    pushKey(arrayKeys, slot, length);
  }
  lastArrays[length] = known;
  return known;
}

/**
 * `bytes` as a string when they are all ASCII, where UTF-8 decoding gives one character per
 * byte; undefined otherwise. Node names and field names are short and ASCII, and decoding them
 * here costs less than a call into TextDecoder.
 */
function asciiText(data: Uint8Array, at: number, length: number): string | undefined {
  let s = "";
  for (let i = at; i < at + length; i++) {
    const b = data[i]!;
    if (b > 0x7f) return undefined;
    s += String.fromCharCode(b);
  }
  return s;
}

/**
 * The ASCII name in `declared` that `data[at, at + length)` spells, found without decoding them: struct keys are
 * read for every field of every message, and nearly all of them are declared Go field names.
 */
function declaredName(
  data: Uint8Array,
  at: number,
  length: number,
  declared: readonly string[],
): string | undefined {
  next: for (const name of declared) {
    if (name.length !== length) continue;
    for (let i = 0; i < length; i++) {
      const c = name.charCodeAt(i);
      if (c > 0x7f || c !== data[at + i]) continue next;
    }
    return name;
  }
  return undefined;
}

/** Payload sizes of fixed-width types (nil/bool/ints/floats/fixext) after the type byte. */
const FIXED_SIZES = new Map<number, number>([
  [0xc0, 0],
  [0xc2, 0],
  [0xc3, 0],
  [0xca, 4],
  [0xcb, 8],
  [0xcc, 1],
  [0xcd, 2],
  [0xce, 4],
  [0xcf, 8],
  [0xd0, 1],
  [0xd1, 2],
  [0xd2, 4],
  [0xd3, 8],
  [0xd4, 2],
  [0xd5, 3],
  [0xd6, 5],
  [0xd7, 9],
  [0xd8, 17],
]);

/** ext8/16/32: width of the length field; the value is one type byte plus `length` bytes. */
const EXT_LENGTH_BYTES = new Map<number, 1 | 2 | 4>([
  [0xc7, 1],
  [0xc8, 2],
  [0xc9, 4],
]);

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}

/** How a msgpack value is laid out after its type byte, for readers that skip values piecemeal. */
export interface ValueLayout {
  /** A container counts values that follow; a payload is that many raw bytes. */
  kind: "container" | "payload";
  /** Bytes of the big-endian length field right after the type byte. */
  lengthBytes: 0 | 1 | 2 | 4;
  /** The length when the type byte itself gives it (fix types, fixed-width numbers, nil, bool). */
  fixed?: number;
  /** Values per counted entry: 1 for an array, 2 for a map (key and value); 1 for payloads. */
  perEntry: 1 | 2;
  /** Payload bytes beyond the length field's count: the type byte of an ext. */
  extra: 0 | 1;
}

/**
 * The layout of the value whose type byte is `tag`, or undefined for the never-used byte 0xc1.
 * positive and negative fixints are payloads of length 0. Agrees with {@link MsgpackReader.skip}.
 */
export function valueLayout(tag: number): ValueLayout | undefined {
  if (tag < 0x80 || tag >= 0xe0) return { kind: "payload", lengthBytes: 0, fixed: 0, perEntry: 1, extra: 0 };
  if ((tag & 0xe0) === 0xa0)
    return { kind: "payload", lengthBytes: 0, fixed: tag & 0x1f, perEntry: 1, extra: 0 };
  if ((tag & 0xf0) === 0x90)
    return { kind: "container", lengthBytes: 0, fixed: tag & 0x0f, perEntry: 1, extra: 0 };
  if ((tag & 0xf0) === 0x80)
    return { kind: "container", lengthBytes: 0, fixed: tag & 0x0f, perEntry: 2, extra: 0 };
  const fixed = FIXED_SIZES.get(tag);
  if (fixed !== undefined) return { kind: "payload", lengthBytes: 0, fixed, perEntry: 1, extra: 0 };
  const ext = EXT_LENGTH_BYTES.get(tag);
  if (ext !== undefined) return { kind: "payload", lengthBytes: ext, perEntry: 1, extra: 1 };
  switch (tag) {
    case 0xd9:
    case 0xc4:
      return { kind: "payload", lengthBytes: 1, perEntry: 1, extra: 0 };
    case 0xda:
    case 0xc5:
      return { kind: "payload", lengthBytes: 2, perEntry: 1, extra: 0 };
    case 0xdb:
    case 0xc6:
      return { kind: "payload", lengthBytes: 4, perEntry: 1, extra: 0 };
    case 0xdc:
      return { kind: "container", lengthBytes: 2, perEntry: 1, extra: 0 };
    case 0xdd:
      return { kind: "container", lengthBytes: 4, perEntry: 1, extra: 0 };
    case 0xde:
      return { kind: "container", lengthBytes: 2, perEntry: 2, extra: 0 };
    case 0xdf:
      return { kind: "container", lengthBytes: 4, perEntry: 2, extra: 0 };
    default:
      return undefined;
  }
}

/** A big-endian unsigned length of `bytes` bytes at `at` (0 bytes: 0). The bytes must be there. */
export function readLength(buf: Uint8Array, at: number, bytes: 0 | 1 | 2 | 4): number {
  if (bytes === 0) return 0;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (bytes === 1) return view.getUint8(at);
  if (bytes === 2) return view.getUint16(at);
  return view.getUint32(at);
}
