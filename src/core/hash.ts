/**
 * XXH32 and XXH64 (Yann Collet's xxHash) of strings, hashed as their UTF-8 bytes, through the
 * WebAssembly build of `xxhash-wasm`. Ownership hashes one short string per (origin, member)
 * pair, 100,000 of them when a member joins; in WebAssembly each costs well under the price of a
 * call into a native addon. The module is instantiated once, when this file is first imported.
 */
import xxhash from "xxhash-wasm";

const api = await xxhash();

/** XXH64 of the UTF-8 bytes of `input` with seed 0, as an unsigned 64-bit integer. */
export const xxh64: (input: string) => bigint = (input) => api.h64(input);

/** XXH32 of the UTF-8 bytes of `input` with `seed`, as an unsigned 32-bit integer. */
export const xxh32: (input: string, seed: number) => number = (input, seed) => api.h32(input, seed);
