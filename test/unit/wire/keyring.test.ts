/** The keyring at run time: memberlist's install, use and remove, and what each does to sealing. */

import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { WireError } from "../../../src/errors.js";
import { Keyring, KeyringError } from "../../../src/wire/crypto.js";

const OLD = randomBytes(16);
const NEW = randomBytes(32);
const OTHER = randomBytes(24);
const b64 = (keys: Uint8Array[]) => keys.map((k) => Buffer.from(k).toString("base64"));

describe("Keyring changes", () => {
  it("install adds a key for opening only; the primary key still seals", () => {
    const ring = new Keyring([OLD]);
    assert.equal(ring.install(NEW), true);
    assert.deepEqual(b64(ring.list()), b64([OLD, NEW]));
    const sealed = ring.encryptPacket(Uint8Array.of(1, 2, 3));
    // Sealed with OLD: a node holding only OLD opens it, one holding only NEW does not.
    assert.deepEqual(new Keyring([OLD]).decryptPacket(sealed), Uint8Array.of(1, 2, 3));
    assert.throws(() => new Keyring([NEW]).decryptPacket(sealed), WireError);
  });

  it("installing a key already there changes nothing", () => {
    const ring = new Keyring([OLD, NEW]);
    assert.equal(ring.install(Uint8Array.from(NEW)), false);
    assert.deepEqual(b64(ring.list()), b64([OLD, NEW]));
  });

  it("refuses keys of a length AES does not take, and keeps the ring as it was", () => {
    const ring = new Keyring([OLD]);
    assert.throws(
      () => ring.install(randomBytes(15)),
      (e: unknown) => e instanceof KeyringError && /16, 24 or 32/.test(e.message),
    );
    assert.throws(() => ring.install(new Uint8Array(0)), KeyringError);
    assert.deepEqual(b64(ring.list()), b64([OLD]));
  });

  it("use makes an installed key primary: it seals from the next message on, and both keys open", () => {
    const ring = new Keyring([OLD]);
    ring.install(NEW);
    ring.use(NEW);
    assert.deepEqual(b64(ring.list()), b64([NEW, OLD]));
    assert.deepEqual(Buffer.from(ring.primary()), Buffer.from(NEW));
    const sealed = ring.encryptPacket(Uint8Array.of(9));
    assert.deepEqual(new Keyring([NEW]).decryptPacket(sealed), Uint8Array.of(9));
    assert.throws(() => new Keyring([OLD]).decryptPacket(sealed), WireError);
    // A peer still sealing with OLD is understood.
    assert.deepEqual(
      ring.decryptPacket(new Keyring([OLD]).encryptPacket(Uint8Array.of(7))),
      Uint8Array.of(7),
    );
    const frame = new Keyring([OLD]).encryptStreamFrame(Uint8Array.of(6, 5));
    assert.deepEqual(ring.decryptStreamFrame(frame), Uint8Array.of(6, 5));
  });

  it("use of a key not installed is refused and changes nothing", () => {
    const ring = new Keyring([OLD, NEW]);
    assert.throws(
      () => ring.use(OTHER),
      (e: unknown) => e instanceof KeyringError && /not in the keyring/.test(e.message),
    );
    assert.deepEqual(b64(ring.list()), b64([OLD, NEW]));
  });

  it("remove drops a secondary key, after which what it sealed no longer opens", () => {
    const ring = new Keyring([NEW, OLD]);
    const fromOld = new Keyring([OLD]).encryptPacket(Uint8Array.of(1));
    assert.deepEqual(ring.decryptPacket(fromOld), Uint8Array.of(1));
    assert.equal(ring.remove(OLD), true);
    assert.deepEqual(b64(ring.list()), b64([NEW]));
    assert.throws(() => ring.decryptPacket(fromOld), WireError);
    assert.equal(ring.remove(OTHER), false, "removing a key not installed changes nothing");
  });

  it("the primary key cannot be removed", () => {
    const ring = new Keyring([NEW, OLD]);
    assert.throws(
      () => ring.remove(NEW),
      (e: unknown) => e instanceof KeyringError && /primary key/.test(e.message),
    );
    assert.deepEqual(b64(ring.list()), b64([NEW, OLD]));
  });

  it("list and primary hand out copies", () => {
    const ring = new Keyring([OLD]);
    ring.list()[0]!.fill(0);
    ring.primary().fill(0);
    assert.deepEqual(b64(ring.list()), b64([OLD]));
  });
});
