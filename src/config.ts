import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { join as joinPath } from "node:path";
import { z } from "zod";
import { keyringFileExists } from "./adapters/keyring-file.js";
import { type Address, parseAddress } from "./core/address.js";
import type { ProfileName } from "./core/membership/config.js";
import { ConfigError } from "./errors.js";

/**
 * The agent's configuration, resolved once at start from flags, environment and a JSON file, in
 * that order of precedence, then defaults (contract.md "heck agent"). Every error names the field.
 */
export interface AgentConfig {
  name: string;
  bind: Address;
  advertise: Address;
  http: Address;
  join: Address[];
  dataDir: string;
  profile: ProfileName;
  /** base64 gossip key (16, 24 or 32 bytes). */
  encrypt: string | undefined;
  /** Allows plain-text gossip on an address beyond loopback (issue 7, item 2). */
  insecureGossip: boolean;
  apiToken: string | undefined;
  logLevel: "debug" | "info" | "warn" | "error";
  /**
   * Refuse probe targets in loopback, link-local, private, unique-local and other special-purpose
   * ranges, when a spec is accepted and on the resolved address at every probe.
   */
  denyPrivateTargets: boolean;
  /** The most live origins the cluster takes; an upsert beyond it is refused with 409. */
  maxOrigins: number;
  /**
   * Random jitter of each probe around its instant, in percent of the interval (Envoy's
   * `interval_jitter_percent`, centred here); 0 keeps every probe on the origin's grid.
   */
  probeJitterPercent: number;
  /**
   * How far V8 lets the JavaScript heap grow past what survived its last full collection before
   * the next one, in percent (heap-growth.ts); 0 leaves the sizing to V8 (up to 300%).
   */
  heapGrowthPercent: number;
}

/** The default of `heapGrowthPercent`. */
export const DEFAULT_HEAP_GROWTH_PERCENT = 20;

/** The default of `maxOrigins`: ten times the size heck is built and measured for. */
export const DEFAULT_MAX_ORIGINS = 1_000_000;

/**
 * Raw settings as flags, env variables or a config file give them: strings, except the booleans
 * and numbers that a flag without a value or a JSON file may carry.
 */
export type RawSettings = Partial<
  Record<keyof AgentConfig | "config", string | string[] | boolean | number | undefined>
>;

const SETTINGS = [
  "name",
  "bind",
  "advertise",
  "http",
  "join",
  "dataDir",
  "profile",
  "encrypt",
  "insecureGossip",
  "apiToken",
  "logLevel",
  "denyPrivateTargets",
  "maxOrigins",
  "probeJitterPercent",
  "heapGrowthPercent",
] as const;
type Setting = (typeof SETTINGS)[number];

/** `dataDir` → `HECK_DATA_DIR`. */
export function envName(setting: string): string {
  return `HECK_${setting.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

const nameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 characters of [A-Za-z0-9._-]");

const fileSchema = z
  .object({
    name: z.string(),
    bind: z.string(),
    advertise: z.string(),
    http: z.string(),
    join: z.union([z.string(), z.array(z.string())]),
    dataDir: z.string(),
    profile: z.string(),
    encrypt: z.string(),
    insecureGossip: z.boolean(),
    apiToken: z.string(),
    logLevel: z.string(),
    denyPrivateTargets: z.union([z.boolean(), z.string()]),
    maxOrigins: z.union([z.number(), z.string()]),
    probeJitterPercent: z.union([z.number(), z.string()]),
    heapGrowthPercent: z.union([z.number(), z.string()]),
  })
  .partial()
  .strict();

/** Reads a JSON config file; unknown keys are refused so that a typo never falls back to a default. */
export function readConfigFile(path: string): RawSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
  const result = fileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const keys = issue && "keys" in issue ? (issue.keys as string[]) : [];
    const field = keys[0] ?? issue?.path.join(".") ?? "?";
    throw new ConfigError(`config file ${path}: ${field}: ${issue?.message ?? "invalid"}`);
  }
  return result.data as RawSettings;
}

function fromEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const key of SETTINGS) {
    const value = env[envName(key)];
    if (value !== undefined && value !== "") out[key] = value;
  }
  return out;
}

function address(field: string, text: string): Address {
  const a = parseAddress(text.trim());
  if (!a) throw new ConfigError(`${field}: "${text}" is not HOST:PORT`);
  return a;
}

function list(value: RawSettings[keyof RawSettings]): string[] {
  if (value === undefined) return [];
  const items = (Array.isArray(value) ? value : [value]).map(String);
  return items
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/**
 * Resolves the agent config: flag > env > file > default. `flags.config` (or HECK_CONFIG) names
 * the JSON file.
 */
export function resolveAgentConfig(flags: RawSettings, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const envSettings = fromEnv(env);
  const configPath = (flags.config as string | undefined) ?? env.HECK_CONFIG;
  const file = configPath ? readConfigFile(configPath) : {};
  const pick = (key: Setting): RawSettings[Setting] => flags[key] ?? envSettings[key] ?? file[key];
  const one = (key: Setting): string | undefined => {
    const v = pick(key);
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    return last === undefined ? undefined : String(last);
  };
  const yes = (key: Setting): boolean => {
    const v = pick(key);
    const text = Array.isArray(v) ? v[v.length - 1] : v;
    if (text === undefined || text === false || text === "false" || text === "0") return false;
    if (text === true || text === "true" || text === "1") return true;
    throw new ConfigError(`${key}: "${text}" must be true or false`);
  };

  const name = one("name") ?? hostname();
  const nameCheck = nameSchema.safeParse(name);
  if (!nameCheck.success) throw new ConfigError(`name: "${name}" ${nameCheck.error.issues[0]?.message}`);

  const bind = address("bind", one("bind") ?? "127.0.0.1:7946");
  const advertiseText = one("advertise");
  const advertise = advertiseText ? address("advertise", advertiseText) : { ...bind };
  if (!isIP(advertise.host)) {
    throw new ConfigError(`advertise: "${advertise.host}" must be an IP address that other nodes can reach`);
  }
  if (advertise.host === "0.0.0.0" || advertise.host === "::") {
    throw new ConfigError("advertise: a wildcard bind address needs --advertise with a reachable IP");
  }
  const http = address("http", one("http") ?? "127.0.0.1:8700");
  const joinSetting = pick("join");
  if (typeof joinSetting === "boolean") throw new ConfigError("join: expects HOST:PORT");
  const join = list(joinSetting).map((j) => address("join", j));

  const profile = one("profile") ?? "lan";
  if (profile !== "lan" && profile !== "wan" && profile !== "local") {
    throw new ConfigError(`profile: "${profile}" must be lan, wan or local`);
  }
  const logLevel = one("logLevel") ?? "info";
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error") {
    throw new ConfigError(`logLevel: "${logLevel}" must be debug, info, warn or error`);
  }
  const encrypt = one("encrypt");
  if (encrypt !== undefined) {
    const bytes = Buffer.from(encrypt, "base64");
    if (![16, 24, 32].includes(bytes.length) || bytes.toString("base64") !== encrypt.trim()) {
      throw new ConfigError("encrypt: must be base64 of 16, 24 or 32 bytes (see `heck keygen`)");
    }
  }
  // Without a key anyone who reaches the gossip port can write into the cluster, bypassing
  // --api-token: beyond loopback that takes an explicit choice.
  const insecureGossip = yes("insecureGossip");
  const dataDir = one("dataDir") ?? joinPath("heck-data", name);
  // A keyring file in the data dir (left by `heck keys`) encrypts gossip as --encrypt does.
  if (encrypt === undefined && !insecureGossip && !isLoopback(bind.host) && !keyringFileExists(dataDir)) {
    throw new ConfigError(
      `bind: ${bind.host} is reachable beyond this machine and gossip is not encrypted; pass --encrypt KEY (see \`heck keygen\`) or, to accept plain-text gossip, --insecure-gossip`,
    );
  }
  const denyText = one("denyPrivateTargets") ?? "false";
  if (!["true", "false", "1", "0"].includes(denyText)) {
    throw new ConfigError(`denyPrivateTargets: "${denyText}" must be true or false`);
  }
  const maxOrigins = numberSetting(
    "maxOrigins",
    one("maxOrigins") ?? String(DEFAULT_MAX_ORIGINS),
    INTEGER,
    (n) => Number.isSafeInteger(n) && n >= 1,
    "a positive integer",
  );
  const probeJitterPercent = numberSetting(
    "probeJitterPercent",
    String(one("probeJitterPercent") ?? "0"),
    /^[0-9]+(\.[0-9]+)?$/,
    (n) => n <= 50,
    "a number from 0 to 50",
  );
  const heapGrowthPercent = numberSetting(
    "heapGrowthPercent",
    String(one("heapGrowthPercent") ?? DEFAULT_HEAP_GROWTH_PERCENT),
    INTEGER,
    (n) => n <= 300,
    "an integer from 0 to 300",
  );
  return {
    name,
    bind,
    advertise,
    http,
    join,
    dataDir,
    profile,
    encrypt,
    insecureGossip,
    apiToken: one("apiToken"),
    logLevel,
    denyPrivateTargets: denyText === "true" || denyText === "1",
    maxOrigins,
    probeJitterPercent,
    heapGrowthPercent,
  };
}

/** 127.0.0.0/8, ::1 and the name localhost: addresses no other machine can send to. */
function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

const INTEGER = /^[0-9]+$/;

/** The number `text` spells for setting `name`, which must match `pattern` and pass `within`. */
function numberSetting(
  name: string,
  text: string,
  pattern: RegExp,
  within: (n: number) => boolean,
  what: string,
): number {
  const n = Number(text);
  if (!pattern.test(text.trim()) || !within(n)) throw new ConfigError(`${name}: "${text}" must be ${what}`);
  return n;
}
