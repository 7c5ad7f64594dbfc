/**
 * The origin spec as users write it (contract.md "Origin spec"), validated once at the edge and
 * stored with every default filled in. An unknown field is refused by name rather than ignored, so
 * that a typo such as `intervalMS` never silently falls back to a default.
 */
import { z } from "zod";
import { ValidationError } from "../../errors.js";
import type { OriginSpec } from "../state/types.js";
import { parseStatusItem } from "./expect-status.js";

export const ORIGIN_ID_MAX_LENGTH = 128;
const ORIGIN_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ORIGIN_ID_MESSAGE = `origin id must be 1-${ORIGIN_ID_MAX_LENGTH} characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"`;

/** An origin id: safe in a URL path segment, a log line and a Prometheus label. */
export const originIdSchema = z
  .string({ error: ORIGIN_ID_MESSAGE })
  .regex(ORIGIN_ID, { error: ORIGIN_ID_MESSAGE })
  .describe("origin id, 1-128 characters of A-Z a-z 0-9 . _ : -");

/** Field bounds of contract.md, in one place so that messages and schema cannot disagree. */
export const SPEC_BOUNDS = {
  intervalMs: { min: 100, max: 3_600_000, default: 5000 },
  fastIntervalMs: { min: 100, max: 3_600_000, default: undefined },
  downIntervalMs: { min: 100, max: 3_600_000, default: undefined },
  timeoutMs: { min: 10, max: 60_000, default: 2000 },
  healthyThreshold: { min: 1, max: 10, default: 2 },
  unhealthyThreshold: { min: 1, max: 10, default: 3 },
} as const;

/**
 * Size limits of one spec. A spec is replicated to every node and kept in memory, so its size is
 * bounded; these are far above what a health check needs.
 */
export const SPEC_LIMITS = {
  urlLength: 2048,
  headerCount: 32,
  /** Names and values of all `headers` together, in UTF-16 code units. */
  headerBytes: 8192,
  bodyContainsLength: 1024,
  expectStatusItems: 32,
  hostHeaderLength: 255,
  tlsServerNameLength: 253,
  tlsCaLength: 65_536,
} as const;

/** An RFC 9110 field-name token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Field values may hold any visible text but never a line break or NUL (request splitting). */
const HEADER_VALUE_FORBIDDEN = /[\r\n\0]/;

function boundedInt(field: keyof typeof SPEC_BOUNDS) {
  const { min, max } = SPEC_BOUNDS[field];
  const error = `${field} must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/**
 * Whether `value` is a URL heck can probe: absolute `http:` or `https:` with a host, or
 * `tcp://host:port` with a port and nothing after it (a connect check).
 */
function isProbeUrl(value: string): boolean {
  if (value.length > SPEC_LIMITS.urlLength) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.hostname === "") return false;
  if (url.protocol === "http:" || url.protocol === "https:") return true;
  return (
    url.protocol === "tcp:" &&
    url.port !== "" &&
    (url.pathname === "" || url.pathname === "/") &&
    url.search === "" &&
    url.hash === "" &&
    url.username === "" &&
    url.password === ""
  );
}

/** `https:`, `http:` or `tcp:` of a URL the schema accepted. */
export function urlScheme(url: string): "http:" | "https:" | "tcp:" {
  // A URL that begins with its scheme in lower case has that scheme: no need to parse it again
  // (a catalog arriving from a peer checks every spec).
  for (const scheme of SCHEMES) if (url.startsWith(scheme)) return scheme;
  return new URL(url).protocol as "http:" | "https:" | "tcp:";
}

const SCHEMES = ["http:", "https:", "tcp:"] as const;

/** A Host header value or TLS server name: a DNS name or IP, with an optional port for Host. */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$/;
const SERVER_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The origin spec's schema: it validates every spec the API accepts, and the API's OpenAPI
 * document is generated from it (src/api/schemas.ts), so that the two cannot disagree. Rules that
 * JSON Schema cannot state (the scheme rules, timeoutMs against the intervals) are checked after
 * it by {@link parseOriginSpec} and described in the fields' descriptions.
 */
export const originSpecSchema = z.strictObject({
  url: z
    .string({ error: "url is required and must be a string" })
    .max(SPEC_LIMITS.urlLength, { error: `url must be at most ${SPEC_LIMITS.urlLength} characters` })
    .refine(isProbeUrl, { error: "url must be an absolute http: or https: URL, or tcp://host:port" })
    .describe("absolute http: or https: URL to probe, or tcp://host:port for a connect check"),
  method: z.enum(["GET", "HEAD"], { error: 'method must be "GET" or "HEAD"' }).default("GET"),
  intervalMs: boundedInt("intervalMs").default(SPEC_BOUNDS.intervalMs.default),
  fastIntervalMs: boundedInt("fastIntervalMs").optional(),
  downIntervalMs: boundedInt("downIntervalMs").optional(),
  timeoutMs: boundedInt("timeoutMs")
    .optional()
    .describe("probe deadline, not above any interval; default min(2000, the shortest interval)"),
  expectStatus: z
    .array(
      z.unknown().meta({
        anyOf: [
          { type: "integer", minimum: 100, maximum: 599 },
          { type: "string", pattern: "^[0-9]{3}(-[0-9]{3})?$" },
        ],
      }),
      {
        error: 'expectStatus must be an array of status codes and ranges such as "200-399"',
      },
    )
    .min(1, { error: "expectStatus must list at least one status code or range" })
    .max(SPEC_LIMITS.expectStatusItems, {
      error: `expectStatus may list at most ${SPEC_LIMITS.expectStatusItems} codes and ranges`,
    })
    .superRefine((items, ctx) => {
      items.forEach((item, i) => {
        const parsed = parseStatusItem(item);
        if (typeof parsed === "string") ctx.addIssue({ code: "custom", path: [i], message: parsed });
      });
    })
    .default(() => ["200-399"]),
  healthyThreshold: boundedInt("healthyThreshold").default(SPEC_BOUNDS.healthyThreshold.default),
  unhealthyThreshold: boundedInt("unhealthyThreshold").default(SPEC_BOUNDS.unhealthyThreshold.default),
  headers: z
    .record(z.string(), z.string({ error: "headers values must be strings" }), {
      error: "headers must be an object of strings",
    })
    .superRefine((headers, ctx) => {
      const entries = Object.entries(headers);
      if (entries.length > SPEC_LIMITS.headerCount) {
        ctx.addIssue({
          code: "custom",
          message: `headers may hold at most ${SPEC_LIMITS.headerCount} fields`,
        });
        return;
      }
      let size = 0;
      for (const [name, value] of entries) size += name.length + value.length;
      if (size > SPEC_LIMITS.headerBytes) {
        ctx.addIssue({
          code: "custom",
          message: `headers may hold at most ${SPEC_LIMITS.headerBytes} characters of names and values`,
        });
        return;
      }
      for (const [name, value] of entries) {
        if (!HEADER_NAME.test(name)) {
          ctx.addIssue({ code: "custom", message: `headers: "${name}" is not a valid header name` });
        } else if (HEADER_VALUE_FORBIDDEN.test(value)) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: "a header value may not hold CR, LF or NUL",
          });
        }
      }
    })
    .default(() => ({})),
  bodyContains: z
    .string({ error: "bodyContains must be a string" })
    .max(SPEC_LIMITS.bodyContainsLength, {
      error: `bodyContains must be at most ${SPEC_LIMITS.bodyContainsLength} characters`,
    })
    .optional(),
  hostHeader: z
    .string({ error: "hostHeader must be a string" })
    .max(SPEC_LIMITS.hostHeaderLength, {
      error: `hostHeader must be at most ${SPEC_LIMITS.hostHeaderLength} characters`,
    })
    .regex(HOST_HEADER, { error: "hostHeader must be a host name or IP address with an optional :port" })
    .optional(),
  followRedirects: z.boolean({ error: "followRedirects must be true or false" }).optional(),
  freshConnection: z.boolean({ error: "freshConnection must be true or false" }).optional(),
  tlsSkipVerify: z.boolean({ error: "tlsSkipVerify must be true or false" }).optional(),
  tlsCa: z
    .string({ error: "tlsCa must be a string of PEM certificates" })
    .max(SPEC_LIMITS.tlsCaLength, { error: `tlsCa must be at most ${SPEC_LIMITS.tlsCaLength} characters` })
    .refine(isPemCertificates, { error: "tlsCa must hold one or more PEM certificates" })
    .optional(),
  tlsServerName: z
    .string({ error: "tlsServerName must be a string" })
    .max(SPEC_LIMITS.tlsServerNameLength, {
      error: `tlsServerName must be at most ${SPEC_LIMITS.tlsServerNameLength} characters`,
    })
    .regex(SERVER_NAME, { error: "tlsServerName must be a DNS name" })
    .optional(),
  confirm: z.boolean({ error: "confirm must be true or false" }).optional(),
});

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g;

/** One or more PEM certificate blocks and nothing else but white space. */
function isPemCertificates(text: string): boolean {
  const blocks = text.match(PEM_BLOCK);
  return blocks !== null && text.replace(PEM_BLOCK, "").trim() === "";
}

/** Fields that only mean something to an HTTP(S) probe, refused on a `tcp://` origin. */
const HTTP_ONLY_FIELDS = ["bodyContains", "hostHeader", "followRedirects", "freshConnection"] as const;
/** Fields that only mean something over TLS, refused on `http://` and `tcp://` origins. */
const TLS_ONLY_FIELDS = ["tlsSkipVerify", "tlsCa", "tlsServerName"] as const;

const KNOWN_FIELDS = Object.keys(originSpecSchema.shape);

/** A near miss among the known fields, so that `intervalMS` points at `intervalMs`. */
function suggestField(unknown: string): string | undefined {
  const folded = unknown.toLowerCase().replace(/[_-]/g, "");
  return KNOWN_FIELDS.find((f) => f.toLowerCase() === folded);
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

function toValidationError(issues: ReadonlyArray<z.core.$ZodIssue>): ValidationError {
  // An unknown field is reported first, whatever else is wrong: it is most likely a typo of a field
  // whose other problems are then meaningless.
  const unknown = issues.find((i) => i.code === "unrecognized_keys");
  if (unknown && unknown.code === "unrecognized_keys") {
    const field = unknown.keys[0] ?? "";
    const hint = suggestField(field);
    const others = unknown.keys.length > 1 ? ` (and ${unknown.keys.slice(1).join(", ")})` : "";
    const message = `unknown field "${field}"${others}${hint ? `; did you mean "${hint}"?` : ""}`;
    return new ValidationError(message, field, "unknown_field");
  }
  const first = issues[0];
  if (!first) return new ValidationError("invalid origin spec");
  const path = formatPath(first.path);
  if (path === "") return new ValidationError("origin spec must be a JSON object");
  const field = String(first.path[0]);
  // Messages of top-level fields already name the field; nested ones get their path prefixed.
  const message = first.path.length > 1 ? `${path}: ${first.message}` : first.message;
  return new ValidationError(message, field);
}

/**
 * Validates a user's origin spec and fills the defaults of contract.md. Throws
 * {@link ValidationError} naming the field: code `unknown_field` for a field heck does not know,
 * `invalid_input` for everything else (missing url, a bound, timeoutMs above intervalMs).
 */
export function parseOriginSpec(input: unknown): OriginSpec {
  const result = originSpecSchema.safeParse(input);
  if (!result.success) throw toValidationError(result.error.issues);
  const data = result.data;
  const scheme = urlScheme(data.url);
  for (const field of HTTP_ONLY_FIELDS) {
    if (scheme === "tcp:" && data[field] !== undefined) {
      throw new ValidationError(`${field} applies to http: and https: origins, not tcp:`, field);
    }
  }
  if (scheme === "tcp:" && Object.keys(data.headers).length > 0) {
    throw new ValidationError("headers apply to http: and https: origins, not tcp:", "headers");
  }
  for (const field of TLS_ONLY_FIELDS) {
    if (scheme !== "https:" && data[field] !== undefined) {
      throw new ValidationError(`${field} applies to https: origins only`, field);
    }
  }
  if (data.tlsSkipVerify === true && data.tlsCa !== undefined) {
    throw new ValidationError("tlsCa pins a CA to verify against; it cannot go with tlsSkipVerify", "tlsCa");
  }
  // Probes of one origin never overlap: every interval the origin can be on must leave room for
  // the whole probe.
  const shortest = Math.min(
    data.intervalMs,
    data.fastIntervalMs ?? Infinity,
    data.downIntervalMs ?? Infinity,
  );
  const timeoutMs = data.timeoutMs ?? Math.min(SPEC_BOUNDS.timeoutMs.default, shortest);
  for (const field of ["intervalMs", "fastIntervalMs", "downIntervalMs"] as const) {
    const interval = data[field];
    if (interval !== undefined && timeoutMs > interval) {
      throw new ValidationError(
        `timeoutMs (${timeoutMs}) must not be above ${field} (${interval}): probes of one origin never overlap`,
        "timeoutMs",
      );
    }
  }
  const spec: OriginSpec = {
    url: data.url,
    method: data.method,
    intervalMs: data.intervalMs,
    timeoutMs,
    expectStatus: data.expectStatus as Array<number | string>,
    healthyThreshold: data.healthyThreshold,
    unhealthyThreshold: data.unhealthyThreshold,
    headers: data.headers,
  };
  if (data.bodyContains !== undefined) spec.bodyContains = data.bodyContains;
  // Optional fields are stored only when they differ from the default, so that a spec written
  // with `followRedirects: false` and one without it are the same spec.
  if (data.fastIntervalMs !== undefined) spec.fastIntervalMs = data.fastIntervalMs;
  if (data.downIntervalMs !== undefined) spec.downIntervalMs = data.downIntervalMs;
  if (data.hostHeader !== undefined) spec.hostHeader = data.hostHeader;
  if (data.followRedirects === true) spec.followRedirects = true;
  if (data.freshConnection === true) spec.freshConnection = true;
  if (data.tlsSkipVerify === true) spec.tlsSkipVerify = true;
  if (data.tlsCa !== undefined) spec.tlsCa = data.tlsCa;
  if (data.tlsServerName !== undefined) spec.tlsServerName = data.tlsServerName;
  if (data.confirm === false) spec.confirm = false;
  return spec;
}

/**
 * Checks an origin id: 1-128 characters of `[A-Za-z0-9._:-]` (safe in a URL path segment, a log line
 * and a Prometheus label). Returns it typed as a string; throws {@link ValidationError} (field `id`).
 */
export function validateOriginId(id: unknown): string {
  const result = originIdSchema.safeParse(id);
  if (!result.success) throw new ValidationError(ORIGIN_ID_MESSAGE, "id");
  return result.data;
}

/** Whether `id` is a valid origin id, without throwing (for peer input). */
export function isOriginId(id: unknown): id is string {
  return typeof id === "string" && ORIGIN_ID.test(id);
}

const SPEC_KEYS = new Set<string>(KNOWN_FIELDS);

function isOptionalBoundedInt(value: unknown, field: keyof typeof SPEC_BOUNDS): boolean {
  return value === undefined || isBoundedInt(value, field);
}

function isOptionalString(value: unknown, max: number, pattern?: RegExp): boolean {
  return (
    value === undefined ||
    (typeof value === "string" && value.length <= max && (!pattern || pattern.test(value)))
  );
}

function isBoundedInt(value: unknown, field: keyof typeof SPEC_BOUNDS): boolean {
  const { min, max } = SPEC_BOUNDS[field];
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

function isHeaders(value: unknown): value is Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  if (entries.length > SPEC_LIMITS.headerCount) return false;
  let size = 0;
  for (const [name, v] of entries) {
    if (!HEADER_NAME.test(name) || typeof v !== "string" || HEADER_VALUE_FORBIDDEN.test(v)) return false;
    size += name.length + v.length;
  }
  return size <= SPEC_LIMITS.headerBytes;
}

/**
 * Whether `value` is a complete spec as {@link parseOriginSpec} produces it: every field present,
 * every bound kept, no field heck does not know. For specs that arrive from peers, where a verdict is
 * enough and the schema's messages are not needed: it is several times cheaper, which matters when a
 * push-pull brings a whole catalog. Every spec this accepts, parseOriginSpec returns unchanged.
 */
export function isOriginSpec(value: unknown): value is OriginSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!SPEC_KEYS.has(key)) return false;
  return (
    typeof v.url === "string" &&
    isProbeUrl(v.url) &&
    (v.method === "GET" || v.method === "HEAD") &&
    isBoundedInt(v.intervalMs, "intervalMs") &&
    isBoundedInt(v.timeoutMs, "timeoutMs") &&
    (v.timeoutMs as number) <= (v.intervalMs as number) &&
    Array.isArray(v.expectStatus) &&
    v.expectStatus.length > 0 &&
    v.expectStatus.length <= SPEC_LIMITS.expectStatusItems &&
    v.expectStatus.every((item) => typeof parseStatusItem(item) !== "string") &&
    isBoundedInt(v.healthyThreshold, "healthyThreshold") &&
    isBoundedInt(v.unhealthyThreshold, "unhealthyThreshold") &&
    isHeaders(v.headers) &&
    isOptionalString(v.bodyContains, SPEC_LIMITS.bodyContainsLength) &&
    isOptionalBoundedInt(v.fastIntervalMs, "fastIntervalMs") &&
    isOptionalBoundedInt(v.downIntervalMs, "downIntervalMs") &&
    (v.timeoutMs as number) <= ((v.fastIntervalMs as number | undefined) ?? Infinity) &&
    (v.timeoutMs as number) <= ((v.downIntervalMs as number | undefined) ?? Infinity) &&
    isOptionalString(v.hostHeader, SPEC_LIMITS.hostHeaderLength, HOST_HEADER) &&
    (v.followRedirects === undefined || v.followRedirects === true) &&
    (v.freshConnection === undefined || v.freshConnection === true) &&
    (v.tlsSkipVerify === undefined || v.tlsSkipVerify === true) &&
    (v.tlsCa === undefined ||
      (isOptionalString(v.tlsCa, SPEC_LIMITS.tlsCaLength) && isPemCertificates(v.tlsCa as string))) &&
    isOptionalString(v.tlsServerName, SPEC_LIMITS.tlsServerNameLength, SERVER_NAME) &&
    (v.confirm === undefined || v.confirm === false) &&
    fieldsFitScheme(v)
  );
}

/** The scheme rules of parseOriginSpec: HTTP-only fields off `tcp:`, TLS fields on `https:` only. */
function fieldsFitScheme(v: Record<string, unknown>): boolean {
  const scheme = urlScheme(v.url as string);
  if (scheme === "tcp:") {
    if (HTTP_ONLY_FIELDS.some((f) => v[f] !== undefined)) return false;
    if (Object.keys(v.headers as object).length > 0) return false;
  }
  if (scheme !== "https:" && TLS_ONLY_FIELDS.some((f) => v[f] !== undefined)) return false;
  return !(v.tlsSkipVerify === true && v.tlsCa !== undefined);
}
