import { Agent, request } from "undici";

/**
 * The CLI's view of an agent's HTTP API. Failures are split by who is at fault, because that
 * decides the exit code (contract.md "The CLI as a client"): the agent refused (1), the user
 * typed something wrong (2), or no agent answered at all (3).
 */

export const DEFAULT_HTTP_ADDRESS = "127.0.0.1:8700";

/** The agent answered with an error status. */
export class ServerRefusedError extends Error {
  readonly status: number;
  readonly code: string;
  /** Per-item reasons, as a batch or validation error lists them. */
  readonly details: Array<{ message: string }>;
  constructor(status: number, code: string, message: string, details: Array<{ message: string }> = []) {
    super(message);
    this.name = "ServerRefusedError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Nothing answered at the address: refused, unresolvable, timed out or cut off. */
export class AgentUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgentUnreachableError";
  }
}

/** The command line itself is wrong (a flag value, a file); commander's own errors aside. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface ClientOptions {
  /** `host:port`, `[v6]:port` or an `http(s)://` URL. */
  http: string;
  apiToken?: string | undefined;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

/**
 * An agent that accepts the connection but never answers is as unreachable as one that refuses
 * it; join is the slowest call (a push-pull with each seed), far below this.
 */
const RESPONSE_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export function apiBaseUrl(http: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(http) ? http : `http://${http}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--http: ${JSON.stringify(http)} is not HOST:PORT or an http:// URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--http: ${JSON.stringify(http)} must be http:// or https://`);
  }
  return url;
}

export class HeckClient {
  readonly base: URL;
  private readonly apiToken: string | undefined;
  private readonly dispatcher: Agent;

  constructor(options: ClientOptions, dispatcher: Agent) {
    this.base = apiBaseUrl(options.http);
    this.apiToken = options.apiToken;
    this.dispatcher = dispatcher;
  }

  /**
   * Every origin that passes the filters, following the API's paging cursors (the server answers
   * at most `pageSize` per request).
   */
  async listOrigins<V>(filters: { status?: string; owner?: string } = {}, pageSize = 5000): Promise<V[]> {
    const out: V[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ limit: String(pageSize) });
      if (filters.status) query.set("status", filters.status);
      if (filters.owner) query.set("owner", filters.owner);
      if (cursor) query.set("cursor", cursor);
      const { body }: ApiResponse<{ origins: V[]; nextCursor?: string | null }> = await this.get(
        `/v1/origins?${query}`,
      );
      out.push(...body.origins);
      cursor = body.nextCursor ?? null;
    } while (cursor);
    return out;
  }

  get<T>(path: string): Promise<ApiResponse<T>> {
    return this.call<T>("GET", path);
  }

  put<T>(path: string, body: unknown): Promise<ApiResponse<T>> {
    return this.call<T>("PUT", path, body);
  }

  post<T>(path: string, body?: unknown): Promise<ApiResponse<T>> {
    return this.call<T>("POST", path, body);
  }

  delete<T>(path: string): Promise<ApiResponse<T>> {
    return this.call<T>("DELETE", path);
  }

  /** Sends one request; resolves for 2xx, throws {@link ServerRefusedError} or {@link AgentUnreachableError}. */
  async call<T>(
    method: "GET" | "PUT" | "POST" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<ApiResponse<T>> {
    const url = new URL(
      path.replace(/^\//, ""),
      this.base.href.endsWith("/") ? this.base : `${this.base.href}/`,
    );
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.apiToken) headers.authorization = `Bearer ${this.apiToken}`;
    if (body !== undefined) headers["content-type"] = "application/json";

    let response: Awaited<ReturnType<typeof request>>;
    let text: string;
    try {
      response = await request(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        dispatcher: this.dispatcher,
      });
      text = await response.body.text();
    } catch (err) {
      const reason = (err as { code?: string }).code ?? (err as Error).message;
      throw new AgentUnreachableError(`no agent reachable at ${this.base.origin} (${reason})`, {
        cause: err,
      });
    }

    const status = response.statusCode;
    let parsed: unknown;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ServerRefusedError(
          status,
          "invalid_response",
          `${this.base.origin} answered ${status} with non-JSON`,
        );
      }
    }
    if (status >= 200 && status < 300) return { status, body: parsed as T };
    const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
      ?.error;
    const details = Array.isArray(error?.details) ? (error.details as Array<{ message: string }>) : [];
    throw new ServerRefusedError(
      status,
      typeof error?.code === "string" ? error.code : "http_error",
      typeof error?.message === "string" ? error.message : `${method} ${url.pathname} answered ${status}`,
      details,
    );
  }
}

/** One connection pool per CLI run, closed at the end so that no socket outlives the command. */
export function createDispatcher(): Agent {
  return new Agent({
    connect: { timeout: CONNECT_TIMEOUT_MS },
    headersTimeout: RESPONSE_TIMEOUT_MS,
    bodyTimeout: RESPONSE_TIMEOUT_MS,
  });
}
