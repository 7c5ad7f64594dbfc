import { z } from "zod";
import { originSpecSchema } from "../core/checks/spec.js";
import {
  batchRequestSchema,
  HEALTH_STATUSES,
  joinRequestSchema,
  keyRequestSchema,
  originIdParamsSchema,
  originsQuerySchema,
  putOriginBodySchema,
  recentEventsQuerySchema,
} from "./schemas.js";

/**
 * `GET /v1/openapi.json`: an OpenAPI 3.1 description of the HTTP API. Request parts come from the
 * zod schemas the routes validate with (schemas.ts), turned into JSON Schema by `z.toJSONSchema`;
 * answers are described by the schemas below. A test checks that every route the server registers
 * is here, and that every request example validates.
 */

const MEMBER_STATUSES = ["alive", "suspect", "dead", "left"] as const;
const isoTime = z.iso.datetime().describe("ISO 8601");

const errorSchema = z.object({
  error: z.object({
    code: z.string().describe("stable snake_case code: invalid_input, unknown_field, unauthorized, ..."),
    message: z.string(),
    field: z.string().optional(),
    details: z
      .array(
        z.object({
          index: z.int(),
          field: z.string().optional(),
          code: z.string(),
          message: z.string(),
        }),
      )
      .optional()
      .describe("one entry per refused item of a batch"),
  }),
});

const keyReportSchema = z.object({
  operation: z.enum(["list", "install", "use", "remove"]),
  ok: z.boolean().describe("every member answered, and without an error"),
  members: z.int().describe("members asked (alive or suspect), the answering node included"),
  responses: z.int(),
  failures: z.array(z.object({ node: z.string(), message: z.string() })),
  messages: z.array(z.object({ node: z.string(), message: z.string() })),
  keys: z
    .array(z.object({ key: z.string(), members: z.int(), primary: z.int() }))
    .describe("list: every key installed anywhere, most widely held first"),
});

const healthViewSchema = z.object({
  status: z.enum(HEALTH_STATUSES),
  reporter: z.string().nullable().describe("the node whose probe set the status"),
  checkedAt: isoTime.nullable(),
  changedAt: isoTime.nullable(),
  latencyMs: z.number().nullable(),
  error: z.string().nullable(),
  confirmedBy: z.string().nullable().describe("the member whose probe confirmed the turn to unhealthy"),
});

/** The view's spec part is the spec schema's output: every default filled in. */
const originViewSchema = z.object({
  id: z.string(),
  owner: z.string().nullable().describe("the member that should probe it now, by this node's view"),
  health: healthViewSchema,
});

const healthEventSchema = z.object({
  id: z.string(),
  status: z.enum(HEALTH_STATUSES),
  previous: z.enum(HEALTH_STATUSES),
  reporter: z.string().nullable(),
  at: isoTime,
});
const memberEventSchema = z.object({ name: z.string(), status: z.enum(MEMBER_STATUSES), at: isoTime });

const selfSchema = z.object({
  name: z.string(),
  version: z.string(),
  gossipAddress: z.string(),
  httpAddress: z.string(),
  members: z.object({ alive: z.int(), suspect: z.int(), dead: z.int(), left: z.int() }),
  origins: z.int(),
  owned: z.int(),
});

const membersSchema = z.object({
  members: z.array(
    z.object({
      name: z.string(),
      address: z.string(),
      status: z.enum(MEMBER_STATUSES),
      incarnation: z.int(),
    }),
  ),
});

const historySchema = z.object({
  latency: z.array(z.object({ at: isoTime, ms: z.number(), ok: z.boolean() })),
  transitions: z.array(
    z.object({
      at: isoTime,
      status: z.enum(HEALTH_STATUSES),
      previous: z.enum(HEALTH_STATUSES),
      reporter: z.string().nullable(),
    }),
  ),
});

const ownersSchema = z.object({
  owners: z.array(
    z.object({
      name: z.string(),
      origins: z.int(),
      healthy: z.int(),
      unhealthy: z.int(),
      unknown: z.int(),
    }),
  ),
});

const recentEventsSchema = z.object({
  events: z.array(
    z.union([
      healthEventSchema.extend({ kind: z.literal("health") }),
      memberEventSchema.extend({ kind: z.literal("member") }),
    ]),
  ),
});

interface Answer {
  description: string;
  /** JSON answers: a zod schema, or a JSON Schema already built. */
  schema?: z.ZodType | Record<string, unknown>;
  /** Other media types: the type and a short JSON Schema of the text. */
  media?: string;
}

interface Example {
  summary: string;
  value: unknown;
}

/** One route of the API as the document describes it. */
export interface Operation {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** In Fastify's syntax (`/v1/origins/:id`), as registered. */
  url: string;
  summary: string;
  tag: "system" | "keys" | "origins" | "events" | "dashboard";
  /** Served without a token even when the agent has `--api-token`. */
  public?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  queryExamples?: Example[];
  body?: z.ZodType;
  bodyExamples?: Example[];
  answers: Record<number, Answer>;
}

const originView = (): Record<string, unknown> => {
  const spec = toSchema(originSpecSchema, "output");
  const view = toSchema(originViewSchema, "output");
  return {
    ...spec,
    description: "the spec with every default filled in, plus id, owner and health",
    properties: { ...(view.properties as object), ...(spec.properties as object) },
    required: [...(view.required as string[]), ...(spec.required as string[])],
  };
};

/** The keys of the keyring examples: one per operation, so that each applies after the other. */
export const EXAMPLE_KEYS = {
  install: "kUa7+LyZ7g9TTk0dKc1ADnwAM+8fOjJ7I4fJxSqCt7M=",
  use: "3Fq0Y2m6b1QJ9n8Vx0cW5rT7uK4pL2sA1dE6gH9jZkI=",
  remove: "Qm9vdHN0cmFwcGluZyBhIGtleSByaW5nIGV4YW1wbGU=",
} as const;

const EXAMPLE_SPEC = { url: "https://www.example.com/healthz", intervalMs: 10_000, expectStatus: [200] };

export const OPERATIONS: readonly Operation[] = [
  {
    method: "GET",
    url: "/healthz",
    summary: "liveness of the HTTP server",
    tag: "system",
    public: true,
    answers: { 200: { description: "up", schema: z.object({ status: z.literal("ok") }) } },
  },
  {
    method: "GET",
    url: "/v1/self",
    summary: "the answering node: name, version, addresses and counts",
    tag: "system",
    answers: { 200: { description: "the node", schema: selfSchema } },
  },
  {
    method: "GET",
    url: "/v1/members",
    summary: "the cluster's members as this node sees them, itself included",
    tag: "system",
    answers: { 200: { description: "members by name", schema: membersSchema } },
  },
  {
    method: "POST",
    url: "/v1/join",
    summary: "join a cluster through members' gossip addresses (push-pull with each)",
    tag: "system",
    body: joinRequestSchema,
    bodyExamples: [{ summary: "two seeds", value: { addresses: ["10.0.0.1:7946", "10.0.0.2:7946"] } }],
    answers: {
      200: { description: "how many answered", schema: z.object({ joined: z.int() }) },
    },
  },
  {
    method: "POST",
    url: "/v1/leave",
    summary: "leave the cluster gracefully and stop the agent (as SIGTERM)",
    tag: "system",
    answers: { 202: { description: "leaving", schema: z.object({ status: z.literal("leaving") }) } },
  },
  {
    method: "GET",
    url: "/v1/origins",
    summary: "one page of origins in id order; follow nextCursor until it is null",
    tag: "origins",
    query: originsQuerySchema,
    queryExamples: [
      { summary: "unhealthy origins, 500 a page", value: { status: "unhealthy", limit: "500" } },
    ],
    answers: {
      200: {
        description: "a page; it may be short, even empty, before the last (only nextCursor null ends it)",
        schema: {
          type: "object",
          properties: {
            origins: { type: "array", items: { $ref: "#/components/schemas/OriginView" } },
            nextCursor: { type: ["string", "null"] },
          },
          required: ["origins", "nextCursor"],
        },
      },
    },
  },
  {
    method: "POST",
    url: "/v1/origins",
    summary: "upsert up to 10,000 origins, all or nothing",
    tag: "origins",
    body: batchRequestSchema,
    bodyExamples: [
      {
        summary: "two origins",
        value: {
          origins: [
            { id: "www", ...EXAMPLE_SPEC },
            { id: "db", url: "tcp://10.0.0.5:5432", intervalMs: 5000 },
          ],
        },
      },
    ],
    answers: {
      200: { description: "stored", schema: z.object({ upserted: z.int() }) },
      409: { description: "the cluster's origin limit would be passed", schema: errorSchema },
    },
  },
  {
    method: "GET",
    url: "/v1/origins/:id",
    summary: "one origin",
    tag: "origins",
    params: originIdParamsSchema,
    answers: { 200: { description: "the origin", schema: { $ref: "#/components/schemas/OriginView" } } },
  },
  {
    method: "PUT",
    url: "/v1/origins/:id",
    summary: "create or replace one origin",
    tag: "origins",
    params: originIdParamsSchema,
    body: putOriginBodySchema,
    bodyExamples: [
      { summary: "an HTTPS check", value: EXAMPLE_SPEC },
      {
        summary: "every default given",
        value: {
          url: "http://10.0.0.7:8080/ping",
          method: "HEAD",
          intervalMs: 5000,
          timeoutMs: 2000,
          expectStatus: ["200-399"],
          healthyThreshold: 2,
          unhealthyThreshold: 3,
          headers: { "X-Probe": "heck" },
        },
      },
    ],
    answers: {
      200: { description: "replaced", schema: { $ref: "#/components/schemas/OriginView" } },
      201: { description: "created", schema: { $ref: "#/components/schemas/OriginView" } },
      409: { description: "the cluster's origin limit would be passed", schema: errorSchema },
    },
  },
  {
    method: "DELETE",
    url: "/v1/origins/:id",
    summary: "remove one origin",
    tag: "origins",
    params: originIdParamsSchema,
    answers: { 204: { description: "removed" } },
  },
  {
    method: "GET",
    url: "/v1/origins/:id/history",
    summary: "this node's probes of the last hour and the last status changes it saw",
    tag: "origins",
    params: originIdParamsSchema,
    answers: { 200: { description: "the history", schema: historySchema } },
  },
  {
    method: "GET",
    url: "/v1/owners",
    summary: "live origins per owner, by status",
    tag: "origins",
    answers: { 200: { description: "owners by name", schema: ownersSchema } },
  },
  {
    method: "GET",
    url: "/v1/events",
    summary:
      "Server-Sent Events: `event: health` and `event: member`, one line of JSON data each; " +
      "also takes the token as ?token=",
    tag: "events",
    answers: {
      200: {
        description: "an endless stream; a comment line every 15 s keeps it open",
        media: "text/event-stream",
      },
    },
  },
  {
    method: "GET",
    url: "/v1/events/recent",
    summary: "the newest events this node sent on its stream, oldest first",
    tag: "events",
    query: recentEventsQuerySchema,
    queryExamples: [{ summary: "the last 20", value: { limit: "20" } }],
    answers: { 200: { description: "events", schema: recentEventsSchema } },
  },
  {
    method: "GET",
    url: "/v1/openapi.json",
    summary: "this document",
    tag: "system",
    answers: { 200: { description: "OpenAPI 3.1", schema: { type: "object" } } },
  },
  {
    method: "GET",
    url: "/v1/keys",
    summary: "the gossip keys of every member (Serf agents included), as serf keys -list",
    tag: "keys",
    answers: {
      200: { description: "the members' report", schema: keyReportSchema },
      409: { description: "gossip encryption is not enabled on this node", schema: errorSchema },
    },
  },
  ...(["install", "use", "remove"] as const).map(
    (operation): Operation => ({
      method: "POST",
      url: `/v1/keys/${operation}`,
      summary: {
        install: "installs a key on every member, for decryption only",
        use: "makes an installed key every member's primary key, which seals all gossip",
        remove: "removes a key from every member (never the primary key)",
      }[operation],
      tag: "keys",
      body: keyRequestSchema,
      bodyExamples: [{ summary: "a 32-byte key", value: { key: EXAMPLE_KEYS[operation] } }],
      answers: {
        200: {
          description: "the members' report: ok is false when a member refused or did not answer",
          schema: keyReportSchema,
        },
        409: { description: "gossip encryption is not enabled on this node", schema: errorSchema },
      },
    }),
  ),
  {
    method: "GET",
    url: "/metrics",
    summary: "Prometheus metrics",
    tag: "system",
    answers: { 200: { description: "text exposition format", media: "text/plain" } },
  },
  {
    method: "GET",
    url: "/",
    summary: "the dashboard (it asks for the token itself)",
    tag: "dashboard",
    public: true,
    answers: { 200: { description: "the page", media: "text/html" } },
  },
];

/** JSON Schema of a zod schema, without the `$schema` key (the document declares the dialect once). */
export function toSchema(schema: z.ZodType, io: "input" | "output" = "input"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: "draft-2020-12",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return rest;
}

/** `/v1/origins/:id` as OpenAPI writes it: `/v1/origins/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function parameters(op: Operation): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const add = (where: "path" | "query", object: z.ZodObject) => {
    const json = toSchema(object);
    const required = new Set((json.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries(json.properties as Record<string, Record<string, unknown>>)) {
      const { description, ...rest } = schema;
      const example = op.queryExamples?.find((e) => (e.value as Record<string, unknown>)[name] !== undefined);
      out.push({
        name,
        in: where,
        required: where === "path" || required.has(name),
        ...(description === undefined ? {} : { description }),
        schema: rest,
        ...(where === "query" && example
          ? { example: (example.value as Record<string, unknown>)[name] }
          : {}),
      });
    }
  };
  if (op.params) add("path", op.params);
  if (op.query) add("query", op.query);
  return out;
}

function responses(op: Operation, tokenRequired: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(op.answers)) {
    let content: Record<string, unknown> | undefined;
    if (answer.media !== undefined) content = { [answer.media]: { schema: { type: "string" } } };
    else if (answer.schema !== undefined) {
      const schema = answer.schema instanceof z.ZodType ? toSchema(answer.schema, "output") : answer.schema;
      content = { "application/json": { schema } };
    }
    out[status] = { description: answer.description, ...(content ? { content } : {}) };
  }
  const error = { $ref: "#/components/responses/Error" };
  if (op.body !== undefined || op.query !== undefined || op.params !== undefined) out["400"] ??= error;
  if (op.params !== undefined) out["404"] ??= error;
  if (op.body !== undefined) {
    out["413"] ??= error;
    out["415"] ??= error;
  }
  if (tokenRequired && !op.public) out["401"] ??= error;
  out.default = error;
  return out;
}

/**
 * The whole document. `tokenRequired`: the agent runs with `--api-token`, so every operation but
 * the public ones requires the bearer token.
 */
export function openApiDocument(options: {
  version: string;
  tokenRequired: boolean;
}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const path = openApiPath(op.url);
    paths[path] ??= {};
    const params = parameters(op);
    const operation: Record<string, unknown> = {
      operationId: `${op.method.toLowerCase()} ${path}`,
      summary: op.summary,
      tags: [op.tag],
      ...(params.length > 0 ? { parameters: params } : {}),
      responses: responses(op, options.tokenRequired),
    };
    if (op.body !== undefined) {
      const examples = Object.fromEntries(
        (op.bodyExamples ?? []).map((e, i) => [`example${i + 1}`, { summary: e.summary, value: e.value }]),
      );
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: toSchema(op.body), examples } },
      };
    }
    if (op.public) operation.security = [];
    paths[path][op.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: {
      title: "heck",
      version: options.version,
      description:
        "The HTTP API of a heck agent: every node answers for the whole cluster, from its eventually " +
        'consistent view. Errors are {"error": {"code", "message"}}.',
    },
    tags: [
      { name: "system", description: "the node, the cluster's membership, metrics" },
      { name: "keys", description: "the gossip keyring of every member, as serf keys" },
      { name: "origins", description: "the origin catalog and its health" },
      { name: "events", description: "health and membership changes" },
      { name: "dashboard", description: "the web page" },
    ],
    paths,
    components: {
      schemas: {
        OriginView: originView(),
        OriginSpec: toSchema(originSpecSchema),
        Error: toSchema(errorSchema),
      },
      responses: {
        Error: {
          description: "the request was refused",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "the agent's --api-token" } },
    },
    ...(options.tokenRequired ? { security: [{ bearer: [] }] } : {}),
  };
}
