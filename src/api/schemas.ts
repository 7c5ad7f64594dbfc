import { z } from "zod";
import { MAX_PAGE_SIZE } from "../agent/origins-page.js";
import { parseAddress } from "../core/address.js";
import { originIdSchema, originSpecSchema } from "../core/checks/spec.js";
import { ValidationError } from "../errors.js";

/**
 * The schemas of every request the API takes: path parameters, query strings and bodies. The
 * routes validate with them and `GET /v1/openapi.json` is generated from them (openapi.ts), so the
 * document describes exactly what is accepted. Messages name the field, as the spec's do.
 */

export { originIdSchema, originSpecSchema };

/** contract.md: up to 10,000 origins per batch request. */
export const MAX_BATCH_ORIGINS = 10_000;
/** A join names a handful of seeds; more than this is a mistake, not a bigger cluster. */
export const MAX_JOIN_ADDRESSES = 64;
/** `GET /v1/events/recent` answers this many events when no `limit` is given. */
export const DEFAULT_RECENT_EVENTS = 100;
/** The most `GET /v1/events/recent` answers: the size of the node's event ring. */
export const MAX_RECENT_EVENTS = 500;

export const HEALTH_STATUSES = ["healthy", "unhealthy", "unknown"] as const;

export const originIdParamsSchema = z.strictObject({ id: originIdSchema });

/** `PUT /v1/origins/{id}`: a spec, which may repeat the path's id (a view fetched with GET, edited). */
export const putOriginBodySchema = originSpecSchema.extend({
  id: originIdSchema.optional().describe("when given, must equal the id in the path"),
});

/** One entry of `POST /v1/origins`. */
export const batchItemSchema = originSpecSchema.extend({ id: originIdSchema });

const batchCountError = `origins: at most ${MAX_BATCH_ORIGINS} per request, send several batches`;

/**
 * `POST /v1/origins` as the route checks it first: the envelope. Each item is then checked on its
 * own against {@link batchItemSchema}, so that every bad item is reported, not just the first.
 */
export const batchEnvelopeSchema = z.strictObject({
  origins: z
    .array(z.unknown(), { error: "origins: must be an array" })
    .max(MAX_BATCH_ORIGINS, { error: batchCountError }),
});

/** `POST /v1/origins`, the envelope and its items together. */
export const batchRequestSchema = batchEnvelopeSchema.extend({
  origins: z.array(batchItemSchema).max(MAX_BATCH_ORIGINS, { error: batchCountError }),
});

export const joinRequestSchema = z.strictObject({
  addresses: z
    .array(
      z
        .string({ error: "must be a HOST:PORT string" })
        .refine((text) => parseAddress(text) !== undefined, { error: "is not HOST:PORT" })
        .describe("gossip address of a member, HOST:PORT"),
      { error: "addresses: must be an array" },
    )
    .min(1, { error: "addresses: at least one address is required" })
    .max(MAX_JOIN_ADDRESSES, { error: `addresses: at most ${MAX_JOIN_ADDRESSES} per request` }),
});

/** `POST /v1/keys/{install,use,remove}`: one gossip key. */
export const keyRequestSchema = z.strictObject({
  key: z
    .string({ error: "key: must be a base64 string" })
    .describe("base64 of a 16, 24 or 32-byte key, as heck keygen prints it"),
});

/** A query value given once, not empty. */
const queryText = (name: string) =>
  z.string({ error: `${name}: must be given once, with a value` }).min(1, {
    error: `${name}: must be given once, with a value`,
  });

const queryInt = (name: string, max: number) => {
  const error = `${name}: must be an integer from 1 to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(1, { error }).max(max, { error });
};

export const originsQuerySchema = z.strictObject({
  status: z
    .enum(HEALTH_STATUSES, { error: `status: must be one of ${HEALTH_STATUSES.join(", ")}` })
    .optional()
    .describe("only origins with this status"),
  owner: queryText("owner").optional().describe("only origins this member owns, by this node's view"),
  q: queryText("q").optional().describe("only ids that contain this text, case-insensitive"),
  limit: queryInt("limit", MAX_PAGE_SIZE).optional().describe("origins per page; default 1000"),
  cursor: queryText("cursor").optional().describe("the previous page's nextCursor"),
});

export const recentEventsQuerySchema = z.strictObject({
  limit: queryInt("limit", MAX_RECENT_EVENTS)
    .optional()
    .describe(`events to answer, newest last; default ${DEFAULT_RECENT_EVENTS}`),
});

/** Path of an issue as `origins[3].url`. */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

/**
 * Validates a request part with its schema; throws {@link ValidationError} naming the field of
 * the first problem: `unknown_field` for a field the schema does not know (as the spec does),
 * `invalid_input` otherwise. `where` names the part ("body", "query"); `prefix` goes before the
 * names of unknown fields ("?" for query parameters).
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: "body" | "query" | "params",
  prefix = "",
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const unknown = issues.find((i) => i.code === "unrecognized_keys");
  if (unknown && unknown.code === "unrecognized_keys") {
    const field = `${prefix}${formatPath([...unknown.path, unknown.keys[0] ?? ""])}`;
    throw new ValidationError(`${field}: unknown field`, field, "unknown_field");
  }
  const first = issues[0];
  if (!first || (first.path.length === 0 && first.code === "invalid_type")) {
    throw new ValidationError(`${where} must be a JSON object`, where === "body" ? undefined : where);
  }
  const field = formatPath(first.path);
  // Messages of the schemas above start with the field's name; others get the path prefixed.
  const message = first.message.startsWith(String(first.path[0]))
    ? first.message
    : `${field}: ${first.message}`;
  throw new ValidationError(message, field);
}
