import { lookup } from "node:dns/promises";
import type { FastifyInstance } from "fastify";
import type { HeckNodeApi } from "../../agent/node-api.js";
import { DEFAULT_PAGE_SIZE } from "../../agent/origins-page.js";
import { parseOriginSpec, validateOriginId } from "../../core/checks/spec.js";
import { deniedAddressReason, deniedHostReason } from "../../core/checks/target-policy.js";
import type { OriginSpec } from "../../core/state/types.js";
import { type HeckError, NotFoundError, ValidationError } from "../../errors.js";
import { ApiError, type ErrorDetail } from "../errors.js";
import { batchEnvelopeSchema, MAX_BATCH_ORIGINS, originsQuerySchema, parseInput } from "../schemas.js";

/** A batch with many bad items reports this many of them; the message names the first. */
const MAX_REPORTED_DETAILS = 100;

export interface OriginRouteOptions {
  /** Body limit of `POST /v1/origins`, which carries up to {@link MAX_BATCH_ORIGINS} specs. */
  batchBodyLimitBytes: number;
  /**
   * The most live origins the cluster takes: an upsert that would add origins beyond it is refused
   * with 409 `origin_limit_reached` (replacing an existing origin is always allowed). Counted in
   * this node's view, so concurrent writes through several nodes may overshoot it a little.
   * @default unlimited
   */
  maxOrigins?: number;
  /**
   * Refuse specs whose target is loopback, link-local, private or unique-local: an IP literal or
   * `localhost` at once, a name on the addresses it resolves to now (400 `target_denied`). The
   * prober checks the resolved address again at every probe.
   * @default false
   */
  denyPrivateTargets?: boolean;
  /** Resolves a host name to its addresses for `denyPrivateTargets`. @default dns.lookup, all */
  resolveHost?: (host: string) => Promise<string[]>;
}

/** How long acceptance waits for a name to resolve; a name that does not resolve is judged at probe time. */
const ACCEPT_LOOKUP_TIMEOUT_MS = 2000;

type IdParams = { Params: { id: string } };

/** The origin catalog: one origin by id, the whole list with filters, and the batch upsert. */
export function registerOriginRoutes(
  app: FastifyInstance,
  node: HeckNodeApi,
  options: OriginRouteOptions,
): void {
  app.get("/v1/origins", async (request) => {
    const { status, owner, q, cursor, limit } = parseInput(
      originsQuerySchema,
      request.query ?? {},
      "query",
      "?",
    );
    return node.originsPage({
      limit: limit ?? DEFAULT_PAGE_SIZE,
      ...(cursor === undefined ? {} : { cursor }),
      ...(status === undefined ? {} : { status }),
      ...(owner === undefined ? {} : { owner }),
      ...(q === undefined ? {} : { idContains: q }),
    });
  });

  app.get<IdParams>("/v1/origins/:id", async (request) => {
    const id = validateOriginId(request.params.id);
    const view = node.origin(id);
    if (!view) throw new NotFoundError(`origin ${JSON.stringify(id)} does not exist`);
    return view;
  });

  const resolveHost = options.resolveHost ?? resolveAll;

  /** Throws 409 when adding `added` origins would pass the cap. */
  const checkCapacity = (added: number) => {
    const max = options.maxOrigins;
    if (max === undefined || added === 0) return;
    const live = node.originCount();
    if (live + added > max) {
      throw new ApiError(
        409,
        "origin_limit_reached",
        `the cluster holds ${live} origins and takes at most ${max} (--max-origins); ` +
          `${added} more would pass it: delete origins or raise the limit`,
      );
    }
  };

  /** Throws 400 `target_denied` for a private target when the agent refuses them. */
  const checkTargets = async (specs: readonly OriginSpec[], label: (i: number) => string) => {
    if (!options.denyPrivateTargets) return;
    const byHost = new Map<string, number>();
    specs.forEach((spec, i) => {
      const host = new URL(spec.url).hostname;
      if (!byHost.has(host)) byHost.set(host, i);
    });
    for (const [host, i] of byHost) {
      const reason = deniedHostReason(host);
      if (reason !== undefined) throw targetDenied(label(i), host, reason);
    }
    const names = [...byHost].filter(([host]) => !/^[0-9.]+$|^\[/.test(host));
    const denied = await Promise.all(
      names.map(async ([host, i]) => {
        const addresses = await withTimeout(resolveHost(host), ACCEPT_LOOKUP_TIMEOUT_MS).catch(() => []);
        for (const address of addresses) {
          const reason = deniedAddressReason(address);
          if (reason !== undefined) return targetDenied(label(i), `${host} (${address})`, reason);
        }
        return undefined;
      }),
    );
    const first = denied.find((e) => e !== undefined);
    if (first) throw first;
  };

  app.put<IdParams>("/v1/origins/:id", async (request, reply) => {
    const id = validateOriginId(request.params.id);
    const spec = parseOriginSpec(withoutMatchingId(request.body, id));
    await checkTargets([spec], () => "url");
    checkCapacity(node.origin(id) === undefined ? 1 : 0);
    const { created, view } = node.putOrigin(id, spec);
    if (created) reply.header("location", `/v1/origins/${encodeURIComponent(id)}`);
    return reply.code(created ? 201 : 200).send(view);
  });

  app.delete<IdParams>("/v1/origins/:id", async (request, reply) => {
    const id = validateOriginId(request.params.id);
    if (!node.deleteOrigin(id)) throw new NotFoundError(`origin ${JSON.stringify(id)} does not exist`);
    return reply.code(204).send();
  });

  app.post("/v1/origins", { bodyLimit: options.batchBodyLimitBytes }, async (request) => {
    const items = parseBatch(request.body);
    await checkTargets(
      items.map((item) => item.spec),
      (i) => `origins[${i}].url`,
    );
    checkCapacity(items.filter((item) => node.origin(item.id) === undefined).length);
    return { upserted: node.putOrigins(items) };
  });
}

function targetDenied(field: string, target: string, reason: string): HeckError {
  return new ValidationError(
    `${field}: target ${target} is ${reason}; this agent refuses private targets (--deny-private-targets)`,
    field,
    "target_denied",
  );
}

async function resolveAll(host: string): Promise<string[]> {
  const answers = await lookup(host, { all: true });
  return answers.map((a) => a.address);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error("lookup timed out")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A PUT body may repeat the id of its path, so that a view fetched with GET (minus `owner` and
 * `health`) can be edited and sent back; a different id is refused rather than one of them
 * silently winning.
 */
function withoutMatchingId(body: unknown, id: string): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body) || !("id" in body)) return body;
  const { id: bodyId, ...spec } = body as Record<string, unknown>;
  if (bodyId !== id) {
    throw new ValidationError(`id: ${JSON.stringify(bodyId)} in the body differs from the path's`, "id");
  }
  return spec;
}

/**
 * Validates a whole batch before anything is stored (all or nothing). Every refused item is
 * reported with its index and field, so a client can fix a large file in one round trip; a
 * repeated id is refused because which of the two specs should win is ambiguous.
 */
function parseBatch(body: unknown): Array<{ id: string; spec: OriginSpec }> {
  const raw = parseInput(batchEnvelopeSchema, body, "body").origins;

  const items: Array<{ id: string; spec: OriginSpec }> = [];
  const details: ErrorDetail[] = [];
  let refused = 0;
  const firstIndexOf = new Map<string, number>();
  raw.forEach((entry, index) => {
    try {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        throw new ValidationError(`origins[${index}] must be a JSON object`, `origins[${index}]`);
      }
      const { id: rawId, ...rest } = entry as Record<string, unknown>;
      const id = validateOriginId(rawId);
      const earlier = firstIndexOf.get(id);
      if (earlier !== undefined) {
        throw new ValidationError(`id: ${JSON.stringify(id)} repeats origins[${earlier}]`, "id");
      }
      firstIndexOf.set(id, index);
      items.push({ id, spec: parseOriginSpec(rest) });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      refused++;
      if (details.length < MAX_REPORTED_DETAILS) details.push(itemDetail(index, err));
    }
  });

  const first = details[0];
  if (first) {
    const more = refused > 1 ? ` (and ${refused - 1} more refused item${refused > 2 ? "s" : ""})` : "";
    throw new ApiError(
      400,
      first.code as ValidationError["code"],
      `${first.message}${more}; nothing was stored`,
      {
        ...(first.field === undefined ? {} : { field: first.field }),
        details,
      },
    );
  }
  return items;
}

function itemDetail(index: number, err: ValidationError): ErrorDetail {
  const prefix = `origins[${index}]`;
  const field =
    err.field === undefined ? prefix : err.field.startsWith(prefix) ? err.field : `${prefix}.${err.field}`;
  const message = err.message.startsWith(prefix) ? err.message : `${prefix}: ${err.message}`;
  return { index, field, code: err.code, message };
}
