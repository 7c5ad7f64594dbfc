import { Agent, type Dispatcher, request } from "undici";
import type { OriginHistory, TimelineEvent } from "../agent/history.js";
import type { KeyReport } from "../agent/keys.js";
import type { OriginView, OwnerCount } from "../agent/node-api.js";
import type { MemberStatus } from "../core/membership/ports.js";
import type { HealthStatus, OriginSpec } from "../core/state/types.js";
import { parseEventStream } from "./sse.js";

/**
 * A typed client of heck's HTTP API (docs/interface.md "HTTP API"):
 *
 * ```ts
 * import { HeckClient } from "heck/client";
 * const heck = new HeckClient({ baseUrl: "127.0.0.1:8700" });
 * for await (const origin of heck.origins({ status: "unhealthy" })) console.log(origin.id);
 * for await (const event of heck.events({ signal })) console.log(event.kind, event);
 * await heck.close();
 * ```
 *
 * Failures come in two kinds, because callers react to them differently: {@link HeckApiError} when
 * the agent answered with an error status (its `{"error": ...}` body attached), and
 * {@link HeckUnreachableError} when no answer came at all.
 */

export type { OriginHistory, TimelineEvent } from "../agent/history.js";
export type { KeyCount, KeyOperation, KeyReport } from "../agent/keys.js";
export type {
  HealthEvent,
  HealthView,
  MemberChangeEvent,
  OriginView,
  OwnerCount,
} from "../agent/node-api.js";
export type { MemberStatus } from "../core/membership/ports.js";
export type { HealthStatus, OriginSpec } from "../core/state/types.js";
export { parseEventStream, type ServerSentEvent } from "./sse.js";

/**
 * An origin spec as a user writes it: `url` is required, every other field has a default
 * (docs/interface.md "Origin spec").
 */
export type OriginSpecInput = Partial<OriginSpec> & { url: string; [field: string]: unknown };

/** One entry of a batch upsert: the id and the spec. */
export type OriginInput = OriginSpecInput & { id: string };

/** `GET /v1/self`. */
export interface SelfInfo {
  name: string;
  version: string;
  gossipAddress: string;
  httpAddress: string;
  members: Record<MemberStatus, number>;
  origins: number;
  owned: number;
}

/** One entry of `GET /v1/members`. */
export interface MemberInfo {
  name: string;
  address: string;
  status: MemberStatus;
  incarnation: number;
}

/** One entry of `GET /v1/owners`. */
export type OwnerInfo = OwnerCount & { name: string };

/** Filters of `GET /v1/origins`. */
export interface OriginFilters {
  status?: HealthStatus;
  /** Only origins this member owns (by the answering node's view). */
  owner?: string;
  /** Only ids that contain this text, case-insensitive. */
  q?: string;
}

export interface OriginsPageQuery extends OriginFilters {
  /** 1-10,000. @default 1000 (the server's) */
  limit?: number;
  /** A previous page's `nextCursor`. */
  cursor?: string;
}

export interface OriginsPage {
  origins: OriginView[];
  /** Pass as `cursor` for the next page; null on the last. A page may be short, even empty, before it. */
  nextCursor: string | null;
}

/** What the event stream carries: the event's kind and its data (as `GET /v1/events/recent` lists them). */
export type HeckEvent = TimelineEvent;

/** The API's error body: `{"error": {"code", "message", "field"?, "details"?}}`. */
export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
  /** One entry per refused item of a batch. */
  details?: Array<{ index: number; field?: string; code: string; message: string }>;
}

/** The agent answered with an error status. */
export class HeckApiError extends Error {
  /** The HTTP status, 400 and up. */
  readonly status: number;
  /** The API's stable error code (`invalid_input`, `unknown_field`, `not_found`, ...). */
  readonly code: string;
  /** The error body as the agent sent it; a synthetic one when the body was not the API's JSON. */
  readonly body: ApiErrorBody;
  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = "HeckApiError";
    this.status = status;
    this.code = body.code;
    this.body = body;
  }

  get field(): string | undefined {
    return this.body.field;
  }

  get details(): NonNullable<ApiErrorBody["details"]> {
    return this.body.details ?? [];
  }
}

/** Nothing answered at the address: refused, unresolvable, timed out or cut off. */
export class HeckUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HeckUnreachableError";
  }
}

export interface HeckClientOptions {
  /** The agent's HTTP API: `host:port`, `[v6]:port` or an `http(s)://` URL. @default "127.0.0.1:8700" */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer <token>` to an agent started with `--api-token`. */
  apiToken?: string | undefined;
  /**
   * How long a request waits for the agent's answer, and the event stream for its next byte
   * (the agent sends a heartbeat every 15 s). @default 30000
   */
  timeoutMs?: number;
  /** A connection pool to use instead of the client's own; {@link HeckClient.close} leaves it open. */
  dispatcher?: Dispatcher;
}

export const DEFAULT_BASE_URL = "127.0.0.1:8700";
const DEFAULT_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** Pages fetched while iterating over origins: few requests for a large catalog, bounded memory. */
const ITERATION_PAGE_SIZE = 5000;

/** The base URL of `host:port`, `[v6]:port` or an `http(s)://` URL; throws a TypeError naming the input. */
export function apiBaseUrl(address: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`${JSON.stringify(address)} is not HOST:PORT or an http:// URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`${JSON.stringify(address)} must be http:// or https://`);
  }
  if (!url.pathname.endsWith("/")) url.pathname = `${url.pathname}/`;
  return url;
}

type Method = "GET" | "PUT" | "POST" | "DELETE";

export class HeckClient {
  readonly baseUrl: URL;
  readonly #apiToken: string | undefined;
  readonly #timeoutMs: number;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  #closed = false;

  constructor(options: HeckClientOptions = {}) {
    this.baseUrl = apiBaseUrl(options.baseUrl ?? DEFAULT_BASE_URL);
    this.#apiToken = options.apiToken === "" ? undefined : options.apiToken;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({
        connect: { timeout: CONNECT_TIMEOUT_MS },
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
  }

  /** Closes the client's connection pool (not one passed in as `dispatcher`). Safe to call twice. */
  async close(): Promise<void> {
    if (!this.#ownsDispatcher || this.#closed) return;
    this.#closed = true;
    await this.#dispatcher.close();
  }

  /** `GET /healthz`: resolves when the agent's HTTP server is up. */
  async healthz(options: CallOptions = {}): Promise<{ status: "ok" }> {
    return (await this.request<{ status: "ok" }>("GET", "healthz", undefined, options)).body;
  }

  /** `GET /v1/self`: the answering node's name, addresses and counts. */
  async self(options: CallOptions = {}): Promise<SelfInfo> {
    return (await this.request<SelfInfo>("GET", "v1/self", undefined, options)).body;
  }

  /** `GET /v1/members`: the cluster as the node sees it, itself included, by name. */
  async members(options: CallOptions = {}): Promise<MemberInfo[]> {
    return (await this.request<{ members: MemberInfo[] }>("GET", "v1/members", undefined, options)).body
      .members;
  }

  /** `POST /v1/join`: push-pull with each gossip address; resolves with how many answered. */
  async join(addresses: readonly string[], options: CallOptions = {}): Promise<number> {
    const { body } = await this.request<{ joined: number }>("POST", "v1/join", { addresses }, options);
    return body.joined;
  }

  /** `POST /v1/leave`: the node leaves the cluster gracefully and stops. */
  async leave(options: CallOptions = {}): Promise<{ status: "leaving" }> {
    return (await this.request<{ status: "leaving" }>("POST", "v1/leave", undefined, options)).body;
  }

  /** `GET /v1/keys`: the gossip keys of every member, and how many hold and use each. */
  async keys(options: CallOptions = {}): Promise<KeyReport> {
    return (await this.request<KeyReport>("GET", "v1/keys", undefined, options)).body;
  }

  /**
   * `POST /v1/keys/{install,use,remove}`: changes every member's keyring. Resolves with the
   * members' report; `ok` is false when a member refused or did not answer.
   */
  async changeKey(
    operation: "install" | "use" | "remove",
    key: string,
    options: CallOptions = {},
  ): Promise<KeyReport> {
    return (await this.request<KeyReport>("POST", `v1/keys/${operation}`, { key }, options)).body;
  }

  /** `PUT /v1/origins/{id}`: creates or replaces one origin. */
  async putOrigin(
    id: string,
    spec: OriginSpecInput,
    options: CallOptions = {},
  ): Promise<{ created: boolean; origin: OriginView }> {
    const { status, body } = await this.request<OriginView>("PUT", originPath(id), spec, options);
    return { created: status === 201, origin: body };
  }

  /** `POST /v1/origins`: upserts up to 10,000 origins, all or nothing; resolves with the count. */
  async upsertOrigins(origins: readonly OriginInput[], options: CallOptions = {}): Promise<number> {
    const { body } = await this.request<{ upserted: number }>("POST", "v1/origins", { origins }, options);
    return body.upserted;
  }

  /** `GET /v1/origins/{id}`; throws {@link HeckApiError} with status 404 when absent. */
  async getOrigin(id: string, options: CallOptions = {}): Promise<OriginView> {
    return (await this.request<OriginView>("GET", originPath(id), undefined, options)).body;
  }

  /** `DELETE /v1/origins/{id}`; throws {@link HeckApiError} with status 404 when absent. */
  async deleteOrigin(id: string, options: CallOptions = {}): Promise<void> {
    await this.request("DELETE", originPath(id), undefined, options);
  }

  /** `GET /v1/origins`: one page. {@link origins} follows the cursors for you. */
  async originsPage(query: OriginsPageQuery = {}, options: CallOptions = {}): Promise<OriginsPage> {
    const params = new URLSearchParams();
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.status !== undefined) params.set("status", query.status);
    if (query.owner !== undefined) params.set("owner", query.owner);
    if (query.q !== undefined) params.set("q", query.q);
    if (query.cursor !== undefined) params.set("cursor", query.cursor);
    const path = params.size === 0 ? "v1/origins" : `v1/origins?${params}`;
    const { body } = await this.request<OriginsPage>("GET", path, undefined, options);
    return { origins: body.origins, nextCursor: body.nextCursor ?? null };
  }

  /**
   * Every origin that passes the filters, in id order, following the paging cursors until the
   * last page. Pages are fetched as the loop asks for more, so memory stays at one page.
   */
  async *origins(
    filters: OriginFilters & { pageSize?: number } = {},
    options: CallOptions = {},
  ): AsyncGenerator<OriginView, void, undefined> {
    const { pageSize = ITERATION_PAGE_SIZE, ...rest } = filters;
    let cursor: string | undefined;
    do {
      const page = await this.originsPage(
        { ...rest, limit: pageSize, ...(cursor === undefined ? {} : { cursor }) },
        options,
      );
      yield* page.origins;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** {@link origins}, collected into an array. */
  async listOrigins(
    filters: OriginFilters & { pageSize?: number } = {},
    options: CallOptions = {},
  ): Promise<OriginView[]> {
    const out: OriginView[] = [];
    for await (const origin of this.origins(filters, options)) out.push(origin);
    return out;
  }

  /** `GET /v1/origins/{id}/history`: this node's recent probes and transitions of one origin. */
  async originHistory(id: string, options: CallOptions = {}): Promise<OriginHistory> {
    return (await this.request<OriginHistory>("GET", `${originPath(id)}/history`, undefined, options)).body;
  }

  /** `GET /v1/owners`: live origins per owner, by status. */
  async owners(options: CallOptions = {}): Promise<OwnerInfo[]> {
    return (await this.request<{ owners: OwnerInfo[] }>("GET", "v1/owners", undefined, options)).body.owners;
  }

  /** `GET /v1/events/recent`: the newest events the node sent on its stream, oldest first. */
  async recentEvents(limit?: number, options: CallOptions = {}): Promise<HeckEvent[]> {
    const path = limit === undefined ? "v1/events/recent" : `v1/events/recent?limit=${limit}`;
    return (await this.request<{ events: HeckEvent[] }>("GET", path, undefined, options)).body.events;
  }

  /** `GET /metrics`: the Prometheus text. */
  async metrics(options: CallOptions = {}): Promise<string> {
    return (await this.request<string>("GET", "metrics", undefined, options, "text")).body;
  }

  /** `GET /v1/openapi.json`: the OpenAPI 3.1 description of this API. */
  async openapi(options: CallOptions = {}): Promise<Record<string, unknown>> {
    return (await this.request<Record<string, unknown>>("GET", "v1/openapi.json", undefined, options)).body;
  }

  /**
   * `GET /v1/events`: health and membership changes as they happen, for as long as the loop runs.
   * Aborting `signal` (or leaving the loop) closes the stream and ends the iteration without an
   * error. The iteration also ends when the agent closes the stream (it stopped); a stream that
   * stays silent past `timeoutMs` (no heartbeat) throws {@link HeckUnreachableError}.
   *
   * `onOpen` is called once the agent has accepted the stream: events from then on are delivered.
   */
  async *events(
    options: CallOptions & { onOpen?: () => void } = {},
  ): AsyncGenerator<HeckEvent, void, undefined> {
    const { signal } = options;
    if (signal?.aborted) return;
    const local = new AbortController();
    const onAbort = () => local.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const url = new URL("v1/events", this.baseUrl);
    try {
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          method: "GET",
          headers: this.#headers("text/event-stream", false),
          dispatcher: this.#dispatcher,
          signal: local.signal,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
        });
      } catch (err) {
        if (local.signal.aborted) return;
        throw this.#unreachable(err);
      }
      if (response.statusCode >= 300) {
        const text = await response.body.text().catch(() => "");
        throw apiError(response.statusCode, text, "GET", url.pathname);
      }
      options.onOpen?.();
      try {
        for await (const message of parseEventStream(response.body as AsyncIterable<Uint8Array>)) {
          if (message.event !== "health" && message.event !== "member") continue;
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            continue;
          }
          yield { kind: message.event, ...(data as object) } as HeckEvent;
        }
      } catch (err) {
        if (local.signal.aborted) return;
        throw this.#unreachable(err);
      } finally {
        if (!response.body.destroyed) response.body.destroy();
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      local.abort();
    }
  }

  /**
   * Sends one request to a path relative to the base URL; resolves with a 2xx answer and its
   * parsed body, throws {@link HeckApiError} or {@link HeckUnreachableError}.
   */
  async request<T>(
    method: Method,
    path: string,
    body?: unknown,
    options: CallOptions = {},
    as: "json" | "text" = "json",
  ): Promise<{ status: number; body: T }> {
    const url = new URL(path.replace(/^\//, ""), this.baseUrl);
    let response: Dispatcher.ResponseData;
    let text: string;
    try {
      response = await request(url, {
        method,
        headers: this.#headers(as === "json" ? "application/json" : "*/*", body !== undefined),
        body: body === undefined ? null : JSON.stringify(body),
        dispatcher: this.#dispatcher,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      text = await response.body.text();
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw this.#unreachable(err);
    }
    const status = response.statusCode;
    if (status < 200 || status >= 300) throw apiError(status, text, method, url.pathname);
    if (as === "text") return { status, body: text as T };
    if (text === "") return { status, body: undefined as T };
    try {
      return { status, body: JSON.parse(text) as T };
    } catch {
      throw new HeckApiError(status, {
        code: "invalid_response",
        message: `${method} ${url.pathname} answered ${status} with a body that is not JSON`,
      });
    }
  }

  #headers(accept: string, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept };
    if (this.#apiToken !== undefined) headers.authorization = `Bearer ${this.#apiToken}`;
    if (hasBody) headers["content-type"] = "application/json";
    return headers;
  }

  #unreachable(err: unknown): HeckUnreachableError {
    const reason = (err as { code?: string }).code ?? (err as Error).message;
    return new HeckUnreachableError(`no agent reachable at ${this.baseUrl.origin} (${reason})`, {
      cause: err,
    });
  }
}

export interface CallOptions {
  /** Aborts the request (or ends the event stream). */
  signal?: AbortSignal;
}

function originPath(id: string): string {
  return `v1/origins/${encodeURIComponent(id)}`;
}

function apiError(status: number, text: string, method: string, path: string): HeckApiError {
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: Partial<ApiErrorBody> } | undefined)?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return new HeckApiError(status, error as ApiErrorBody);
  }
  return new HeckApiError(status, { code: "http_error", message: `${method} ${path} answered ${status}` });
}
