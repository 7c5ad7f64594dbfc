/**
 * LZW as Go's compress/lzw does it with LSB-first bit order and 8-bit literals, the only algorithm
 * memberlist's compress message knows (docs/wire.md §4.3). The encoder reproduces Go's output
 * bit for bit; the decoder follows Go's reader, including its behaviour when the table is full.
 * Pure.
 */

import { WireError, WireLimitError } from "../errors.js";

const CLEAR = 256;
const EOF = 257;
const MIN_WIDTH = 9;
const MAX_WIDTH = 12;
/** The encoder resets (emits a clear code) when this code would be assigned. */
const MAX_CODE = (1 << MAX_WIDTH) - 1;

/** Default bound on decompressed output: memberlist sets none (§4.3), so an LZW bomb stops here. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024;

class ByteSink {
  private buf: Uint8Array;
  length = 0;

  /** `cap`: the buffer never grows beyond it (callers keep `length` within it). */
  constructor(
    initial: number,
    private readonly cap = Number.POSITIVE_INFINITY,
  ) {
    this.buf = new Uint8Array(Math.max(16, Math.min(initial, cap)));
  }

  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    size = Math.max(this.length + n, Math.min(size, this.cap));
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  push(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * The encoder's dictionary, shared by every call (a call runs to its end before the next): an
 * open-addressed hash table from (prefix code << 8 | literal) to the code assigned to it, each
 * slot holding both as key << 12 | code, 0 when empty (no assigned code is 0). At most 4,096
 * codes live at once, so 8,192 slots (32 KiB) hold them half full and stay in the processor's
 * cache, where a table indexed by the key itself (16 times larger) missed it on nearly every
 * byte of a push-pull's state.
 */
const DICT_BITS = MAX_WIDTH + 1;
const DICT_MASK = (1 << DICT_BITS) - 1;
/** Allocated at the first compression, so that a process that never compresses pays nothing. */
let dict = new Uint32Array(0);

function newDictionary(): void {
  if (dict.length === 0) dict = new Uint32Array(1 << DICT_BITS);
  else dict.fill(0);
}

/** The first slot to look at for `key` (a multiplicative hash). */
function dictSlot(key: number): number {
  return Math.imul(key, 0x9e3779b1) >>> (32 - DICT_BITS);
}

/** Compresses `input` exactly as Go's `lzw.NewWriter(w, lzw.LSB, 8)` followed by Close. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const out = new ByteSink(input.length / 2 + 8);
  let bits = 0;
  let nBits = 0;
  let width = MIN_WIDTH;
  let hi = EOF;
  let overflow = 1 << MIN_WIDTH;
  newDictionary();

  const emit = (code: number): void => {
    bits |= code << nBits;
    nBits += width;
    while (nBits >= 8) {
      out.push(bits & 0xff);
      bits >>>= 8;
      nBits -= 8;
    }
  };
  // Advances the next code to assign. The width grows once that code reaches 2^width (no early
  // change); at MAX_CODE Go sends a clear code and starts over. Returns true after such a reset.
  const advance = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow <<= 1;
    }
    if (hi !== MAX_CODE) return false;
    emit(CLEAR);
    width = MIN_WIDTH;
    hi = EOF;
    overflow = 1 << MIN_WIDTH;
    newDictionary();
    return true;
  };

  // Go starts every stream with a clear code, even an empty one.
  emit(CLEAR);
  if (input.length > 0) {
    let code = input[0]!;
    for (let i = 1; i < input.length; i++) {
      const literal = input[i]!;
      const key = (code << 8) | literal;
      let slot = dictSlot(key);
      let entry = dict[slot]!;
      while (entry !== 0 && entry >>> 12 !== key) {
        slot = (slot + 1) & DICT_MASK;
        entry = dict[slot]!;
      }
      if (entry !== 0) {
        code = entry & MAX_CODE;
        continue;
      }
      emit(code);
      code = literal;
      if (advance()) continue;
      dict[slot] = ((key << 12) | hi) >>> 0;
    }
    emit(code);
    advance();
  }
  emit(EOF);
  if (nBits > 0) out.push(bits & 0xff);
  return out.finish();
}

/**
 * Decompresses a Go LZW stream (with or without the leading clear code). Data after the end code
 * is ignored; a stream without an end code, an invalid code, or output beyond `maxOutputBytes`
 * is a WireError.
 */
export function lzwDecompress(
  input: Uint8Array,
  maxOutputBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Uint8Array {
  // Never allocates beyond the bound, however the output grows (an LZW bomb expands ~700x).
  const out = new ByteSink(input.length * 3, maxOutputBytes);
  const prefix = new Uint16Array(1 << MAX_WIDTH);
  const suffix = new Uint8Array(1 << MAX_WIDTH);
  // One code expands to at most one byte per table entry; it is assembled backwards here.
  const scratch = new Uint8Array((1 << MAX_WIDTH) + 1);
  const INVALID = -1;

  let bits = 0;
  let nBits = 0;
  let pos = 0;
  let width = MIN_WIDTH;
  let hi = EOF;
  let overflow = 1 << MIN_WIDTH;
  let last = INVALID;

  for (;;) {
    while (nBits < width) {
      if (pos >= input.length) throw new WireError("lzw: data ends without an end code");
      bits |= input[pos++]! << nBits;
      nBits += 8;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    nBits -= width;

    if (code === CLEAR) {
      width = MIN_WIDTH;
      hi = EOF;
      overflow = 1 << MIN_WIDTH;
      last = INVALID;
      continue;
    }
    if (code === EOF) return out.finish();

    if (code < CLEAR) {
      if (out.length + 1 > maxOutputBytes) throw tooLarge(maxOutputBytes);
      out.push(code);
      if (last !== INVALID) {
        suffix[hi] = code;
        prefix[hi] = last;
      }
    } else if (code <= hi) {
      let i = scratch.length - 1;
      let c = code;
      if (code === hi && last !== INVALID) {
        // The code being defined right now: the last expansion plus its own first byte.
        c = last;
        while (c >= CLEAR) c = prefix[c]!;
        scratch[i--] = c;
        c = last;
      }
      while (c >= CLEAR) {
        scratch[i--] = suffix[c]!;
        c = prefix[c]!;
      }
      scratch[i] = c;
      const expansion = scratch.subarray(i);
      if (out.length + expansion.length > maxOutputBytes) throw tooLarge(maxOutputBytes);
      out.append(expansion);
      if (last !== INVALID) {
        suffix[hi] = c;
        prefix[hi] = last;
      }
    } else {
      throw new WireError(`lzw: invalid code ${code}`);
    }

    last = code;
    hi++;
    if (hi >= overflow) {
      if (width === MAX_WIDTH) {
        // A full table stops growing until the next clear code, as in Go's reader.
        last = INVALID;
        hi--;
      } else {
        width++;
        overflow <<= 1;
      }
    }
  }
}

function tooLarge(limit: number): WireError {
  return new WireLimitError(`lzw: decompressed data exceeds ${limit} bytes`);
}
