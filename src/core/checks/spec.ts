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

/** Field bounds of contract.md, in one place so that messages and schema cannot disagree. */
export const SPEC_BOUNDS = {
  intervalMs: { min: 100, max: 3_600_000, default: 5000 },
  timeoutMs: { min: 10, max: 60_000, default: 2000 },
  healthyThreshold: { min: 1, max: 10, default: 2 },
  unhealthyThreshold: { min: 1, max: 10, default: 3 },
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

function isHttpUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
}

const specSchema = z.strictObject({
  url: z
    .string({ error: "url is required and must be a string" })
    .refine(isHttpUrl, { error: "url must be an absolute http: or https: URL" }),
  method: z.enum(["GET", "HEAD"], { error: 'method must be "GET" or "HEAD"' }).default("GET"),
  intervalMs: boundedInt("intervalMs").default(SPEC_BOUNDS.intervalMs.default),
  timeoutMs: boundedInt("timeoutMs").optional(),
  expectStatus: z
    .array(z.unknown(), {
      error: 'expectStatus must be an array of status codes and ranges such as "200-399"',
    })
    .min(1, { error: "expectStatus must list at least one status code or range" })
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
      for (const [name, value] of Object.entries(headers)) {
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
  bodyContains: z.string({ error: "bodyContains must be a string" }).optional(),
});

const KNOWN_FIELDS = Object.keys(specSchema.shape);

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
  const result = specSchema.safeParse(input);
  if (!result.success) throw toValidationError(result.error.issues);
  const data = result.data;
  const timeoutMs = data.timeoutMs ?? Math.min(SPEC_BOUNDS.timeoutMs.default, data.intervalMs);
  if (timeoutMs > data.intervalMs) {
    throw new ValidationError(
      `timeoutMs (${timeoutMs}) must not be above intervalMs (${data.intervalMs}): probes of one origin never overlap`,
      "timeoutMs",
    );
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
  return spec;
}

/**
 * Checks an origin id: 1-128 characters of `[A-Za-z0-9._:-]` (safe in a URL path segment, a log line
 * and a Prometheus label). Returns it typed as a string; throws {@link ValidationError} (field `id`).
 */
export function validateOriginId(id: unknown): string {
  if (typeof id !== "string" || !ORIGIN_ID.test(id)) {
    throw new ValidationError(
      `origin id must be 1-${ORIGIN_ID_MAX_LENGTH} characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"`,
      "id",
    );
  }
  return id;
}

/** Whether `id` is a valid origin id, without throwing (for peer input). */
export function isOriginId(id: unknown): id is string {
  return typeof id === "string" && ORIGIN_ID.test(id);
}

const SPEC_KEYS = new Set<string>(KNOWN_FIELDS);

function isBoundedInt(value: unknown, field: keyof typeof SPEC_BOUNDS): boolean {
  const { min, max } = SPEC_BOUNDS[field];
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

function isHeaders(value: unknown): value is Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  for (const [name, v] of Object.entries(value)) {
    if (!HEADER_NAME.test(name) || typeof v !== "string" || HEADER_VALUE_FORBIDDEN.test(v)) return false;
  }
  return true;
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
    isHttpUrl(v.url) &&
    (v.method === "GET" || v.method === "HEAD") &&
    isBoundedInt(v.intervalMs, "intervalMs") &&
    isBoundedInt(v.timeoutMs, "timeoutMs") &&
    (v.timeoutMs as number) <= (v.intervalMs as number) &&
    Array.isArray(v.expectStatus) &&
    v.expectStatus.length > 0 &&
    v.expectStatus.every((item) => typeof parseStatusItem(item) !== "string") &&
    isBoundedInt(v.healthyThreshold, "healthyThreshold") &&
    isBoundedInt(v.unhealthyThreshold, "unhealthyThreshold") &&
    isHeaders(v.headers) &&
    (v.bodyContains === undefined || typeof v.bodyContains === "string")
  );
}
