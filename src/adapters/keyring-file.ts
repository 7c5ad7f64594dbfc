import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { parseKey } from "../wire/crypto.js";

/**
 * The gossip keyring on disk, `<dataDir>/keyring.json`: a JSON array of base64 keys, the primary
 * key first, the format of Serf's `-keyring-file`. Written whenever `heck keys` or Serf's key
 * queries change the keyring, so that a restart keeps the rotated keys; once it exists it takes
 * precedence over `--encrypt`.
 */

export const KEYRING_FILE = "keyring.json";

export function keyringPath(dataDir: string): string {
  return join(dataDir, KEYRING_FILE);
}

export function keyringFileExists(dataDir: string): boolean {
  return existsSync(keyringPath(dataDir));
}

/** The keys of the keyring file, primary first; undefined when there is none. Throws ConfigError. */
export function loadKeyringFile(path: string): Uint8Array[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`keyring file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`keyring file ${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new ConfigError(`keyring file ${path}: must be a JSON array of one or more base64 keys`);
  }
  return parsed.map((entry, i) => {
    if (typeof entry !== "string") throw new ConfigError(`keyring file ${path}: entry ${i} is not a string`);
    try {
      return parseKey(entry);
    } catch (err) {
      throw new ConfigError(`keyring file ${path}: entry ${i}: ${(err as Error).message}`);
    }
  });
}

/** Replaces the keyring file whole (write, then rename), readable by its owner only. */
export function saveKeyringFile(path: string, keys: readonly Uint8Array[]): void {
  const text = `${JSON.stringify(
    keys.map((k) => Buffer.from(k).toString("base64")),
    null,
    2,
  )}\n`;
  const temp = `${path}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}
