/**
 * memberlist's AES-GCM encryption (docs/wire.md §4.4). Packets are sealed whole, without a type
 * byte and without additional data; a stream message is sealed in one `0a` frame whose 5 header
 * bytes are the additional data. The keyring seals with its primary key and opens with any key.
 */

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ConfigError, WireError } from "../errors.js";
import { MAX_STREAM_BYTES } from "./codec.js";
import { MessageType } from "./messages.js";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BLOCK_BYTES = 16;
/** Version 0 pads with PKCS#7 (protocol 1 senders); version 1 does not. heck sends version 1. */
const VERSION_PADDED = 0;
const VERSION_PLAIN = 1;
const FRAME_HEADER_BYTES = 5;

/** Decodes a base64 key as Serf's `-encrypt` takes it: 16, 24 or 32 bytes (AES-128/192/256). */
export function parseKey(base64: string): Uint8Array {
  const text = base64.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ConfigError("encryption key must be base64 (as for serf -encrypt)");
  }
  const key = new Uint8Array(Buffer.from(text, "base64"));
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new ConfigError(`encryption key must decode to 16, 24 or 32 bytes, got ${key.length}`);
  }
  return key;
}

function algorithm(key: Uint8Array): "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm" {
  if (key.length === 16) return "aes-128-gcm";
  if (key.length === 24) return "aes-192-gcm";
  if (key.length === 32) return "aes-256-gcm";
  throw new ConfigError(`encryption key must be 16, 24 or 32 bytes, got ${key.length}`);
}

/** version 1 body: version byte, nonce, ciphertext, tag. */
function seal(key: Uint8Array, plain: Uint8Array, aad: Uint8Array | undefined): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(algorithm(key), key, nonce, { authTagLength: TAG_BYTES });
  if (aad) cipher.setAAD(aad);
  const body = cipher.update(plain);
  const final = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(1 + NONCE_BYTES + body.length + final.length + TAG_BYTES);
  out[0] = VERSION_PLAIN;
  out.set(nonce, 1);
  out.set(body, 1 + NONCE_BYTES);
  out.set(final, 1 + NONCE_BYTES + body.length);
  out.set(tag, out.length - TAG_BYTES);
  return out;
}

/** Opens with one key; undefined if the tag does not authenticate. */
function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array | undefined): Uint8Array | undefined {
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const ciphertext = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv(algorithm(key), key, nonce, { authTagLength: TAG_BYTES });
  if (aad) decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const head = decipher.update(ciphertext);
    const tail = decipher.final();
    const out = new Uint8Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out;
  } catch {
    return undefined;
  }
}

function unpad(data: Uint8Array): Uint8Array {
  const n = data[data.length - 1];
  if (n === undefined || n < 1 || n > BLOCK_BYTES || n > data.length) {
    throw new WireError("decrypt: invalid PKCS#7 padding");
  }
  return data.subarray(0, data.length - n);
}

/** Whether `key` has a length AES accepts: 16, 24 or 32 bytes. */
export function isValidKeyLength(key: Uint8Array): boolean {
  return key.length === 16 || key.length === 24 || key.length === 32;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A keyring change refused, with the reason memberlist gives for the same refusal. */
export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyringError";
  }
}

/**
 * The gossip keys, as memberlist's keyring: the primary key seals everything sent, every
 * installed key is tried to open what arrives. It changes at run time (`heck keys`, Serf's key
 * queries) and the transport reads it on every packet, so a change applies to the next message.
 */
export class Keyring {
  private keys: Uint8Array[];

  /** `keys[0]` is the primary key, used to seal; all keys are tried in order to open. */
  constructor(keys: Uint8Array[]) {
    if (keys.length === 0) throw new ConfigError("keyring needs at least one key");
    for (const key of keys) algorithm(key);
    this.keys = [];
    for (const key of keys) if (!this.has(key)) this.keys.push(key.slice());
  }

  /** Copies of the installed keys, the primary first. */
  list(): Uint8Array[] {
    return this.keys.map((k) => k.slice());
  }

  primary(): Uint8Array {
    return this.keys[0]!.slice();
  }

  has(key: Uint8Array): boolean {
    return this.keys.some((k) => sameKey(k, key));
  }

  /** Adds a key for opening; installing a key already there changes nothing. Returns whether it was new. */
  install(key: Uint8Array): boolean {
    if (!isValidKeyLength(key)) throw new KeyringError("key size must be 16, 24 or 32 bytes");
    if (this.has(key)) return false;
    this.keys = [...this.keys, key.slice()];
    return true;
  }

  /** Makes an installed key the primary one, which seals from now on. */
  use(key: Uint8Array): void {
    if (!this.has(key)) throw new KeyringError("Requested key is not in the keyring");
    this.keys = [key.slice(), ...this.keys.filter((k) => !sameKey(k, key))];
  }

  /** Drops a key; the primary key cannot go. Removing a key not installed changes nothing. */
  remove(key: Uint8Array): boolean {
    if (sameKey(this.keys[0]!, key)) throw new KeyringError("Removing the primary key is not allowed");
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => !sameKey(k, key));
    return this.keys.length !== before;
  }

  /** Seals a plaintext datagram with the primary key, encryption version 1 (29 bytes overhead). */
  encryptPacket(plain: Uint8Array): Uint8Array {
    return seal(this.keys[0]!, plain, undefined);
  }

  /** Opens a datagram sealed with any keyring key, version 0 (PKCS#7 padded) or 1. */
  decryptPacket(data: Uint8Array): Uint8Array {
    return this.decrypt(data, undefined);
  }

  /** Seals a whole stream message as `0a`, uint32 BE length, version-1 body (§4.4). */
  encryptStreamFrame(plain: Uint8Array): Uint8Array {
    const bodyLength = 1 + NONCE_BYTES + plain.length + TAG_BYTES;
    if (bodyLength > MAX_STREAM_BYTES)
      throw new RangeError(`stream message of ${plain.length} bytes is too large`);
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    header[0] = MessageType.encrypt;
    new DataView(header.buffer).setUint32(1, bodyLength);
    const body = seal(this.keys[0]!, plain, header);
    const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
    out.set(header);
    out.set(body, FRAME_HEADER_BYTES);
    return out;
  }

  /** Opens one complete `0a` frame (as delimited by streamMessageLength); its header is the AAD. */
  decryptStreamFrame(frame: Uint8Array): Uint8Array {
    if (frame.length < FRAME_HEADER_BYTES || frame[0] !== MessageType.encrypt) {
      throw new WireError("decrypt: not an encrypted stream frame");
    }
    const length = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
    if (length > MAX_STREAM_BYTES) throw new WireError(`decrypt: frame of ${length} bytes is too large`);
    if (frame.length < FRAME_HEADER_BYTES + length) throw new WireError("decrypt: frame truncated");
    const header = frame.subarray(0, FRAME_HEADER_BYTES);
    return this.decrypt(frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length), header);
  }

  private decrypt(sealed: Uint8Array, aad: Uint8Array | undefined): Uint8Array {
    const version = sealed[0];
    if (version !== VERSION_PADDED && version !== VERSION_PLAIN) {
      throw new WireError(`decrypt: unsupported encryption version ${version ?? "(empty)"}`);
    }
    // Version 0 always carries at least one padding block.
    const minimum = 1 + NONCE_BYTES + TAG_BYTES + (version === VERSION_PADDED ? BLOCK_BYTES : 0);
    if (sealed.length < minimum) throw new WireError(`decrypt: ${sealed.length} bytes is too short`);
    for (const key of this.keys) {
      const plain = open(key, sealed, aad);
      if (plain) return version === VERSION_PADDED ? unpad(plain) : plain;
    }
    throw new WireError("decrypt: no installed keys could decrypt the message");
  }
}
