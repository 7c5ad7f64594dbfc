import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import { parseExpectStatus, type StatusMatcher } from "../core/checks/expect-status.js";
import type { ProbeResult, Prober } from "../core/checks/prober.js";
import type { OriginSpec } from "../core/state/types.js";

/**
 * How much of a response body `bodyContains` looks at. A health endpoint answers in a few hundred
 * bytes; bounding the read keeps a misconfigured origin that streams megabytes from costing memory
 * and bandwidth on every probe. The needle must lie wholly within these first bytes.
 */
export const BODY_PREFIX_LIMIT_BYTES = 64 * 1024;

/** The largest `timeoutMs` an origin spec allows (contract.md "Origin spec"). */
const MAX_PROBE_TIMEOUT_MS = 60_000;

export interface UndiciProberOptions {
  /** Sent as `Heck-Node` on every probe. */
  nodeName: string;
  /** Sent as `User-Agent: heck/<version>` on every probe. */
  version: string;
}

/** The reason the per-probe deadline aborts with, told apart from the caller's abort. */
class ProbeTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`timeout after ${timeoutMs} ms`);
    this.name = "ProbeTimeout";
  }
}

/**
 * Probes origins with undici over one dedicated connection pool per prober. Keep-alive is on so
 * that an origin probed every few seconds usually reuses its connection. Redirects are not
 * followed: a 3xx answer is judged by `expectStatus` like any other status.
 */
export class UndiciProber implements Prober {
  private readonly agent: Agent;
  private readonly userAgent: string;
  private readonly nodeName: string;
  private closing: Promise<void> | undefined;

  constructor(options: UndiciProberOptions) {
    this.userAgent = `heck/${options.version}`;
    this.nodeName = options.nodeName;
    // undici's own connect deadline (10 s by default) would cut probes whose timeoutMs is longer;
    // lifting it to the spec maximum leaves the per-probe deadline as the only one that applies.
    this.agent = new Agent({ connect: { timeout: MAX_PROBE_TIMEOUT_MS } });
  }

  async probe(spec: OriginSpec, signal?: AbortSignal): Promise<ProbeResult> {
    signal?.throwIfAborted();
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 10) / 10;

    // One deadline for connect, headers and body together. A plain timer rather than
    // AbortSignal.timeout so that it is cleared the moment the probe settles.
    const deadline = new AbortController();
    const timeout = new ProbeTimeout(spec.timeoutMs);
    const timer = setTimeout(() => deadline.abort(timeout), spec.timeoutMs);
    const onCallerAbort = () => deadline.abort(signal?.reason);
    signal?.addEventListener("abort", onCallerAbort, { once: true });

    let statusCode: number | null = null;
    try {
      const matcher = matcherFor(spec.expectStatus);
      const res = await request(spec.url, {
        dispatcher: this.agent,
        method: spec.method,
        headers: this.headersFor(spec),
        signal: deadline.signal,
      });
      statusCode = res.statusCode;
      let error: string | null = null;
      try {
        if (!matcher.matches(res.statusCode)) {
          error = `status ${res.statusCode} not in ${spec.expectStatus.join(",")}`;
        }
        if (error === null && spec.bodyContains !== undefined) {
          const prefix = await readPrefix(res.body, BODY_PREFIX_LIMIT_BYTES);
          if (!prefix.includes(Buffer.from(spec.bodyContains, "utf8"))) {
            error = `body lacks ${JSON.stringify(shorten(spec.bodyContains, 60))}`;
          }
        } else {
          // Reading the rest lets the connection go back to the pool; dump destroys the socket
          // instead when the body is larger than the bound.
          await res.body.dump({ limit: BODY_PREFIX_LIMIT_BYTES, signal: deadline.signal });
        }
      } finally {
        if (!res.body.destroyed) res.body.destroy();
      }
      return { ok: error === null, statusCode, latencyMs: elapsed(), error };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const error = deadline.signal.reason === timeout ? timeout.message : describeError(err);
      return { ok: false, statusCode, latencyMs: elapsed(), error };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onCallerAbort);
    }
  }

  /**
   * Closes every pooled connection and aborts probes still in flight (they resolve with
   * "prober closed"); later probes resolve the same way. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.agent.destroy();
    return this.closing;
  }

  /** The user's headers, then heck's two, which win over a user header of the same name. */
  private headersFor(spec: OriginSpec): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(spec.headers)) {
      const lower = name.toLowerCase();
      if (lower !== "user-agent" && lower !== "heck-node") headers[name] = value;
    }
    headers["user-agent"] = this.userAgent;
    headers["heck-node"] = this.nodeName;
    return headers;
  }
}

/**
 * Compiled matchers, one per `expectStatus` list: a spec object lives as long as its origin is
 * unchanged, so each list is parsed once rather than on every probe.
 */
const matchers = new WeakMap<ReadonlyArray<number | string>, StatusMatcher>();

function matcherFor(expectStatus: ReadonlyArray<number | string>): StatusMatcher {
  let matcher = matchers.get(expectStatus);
  if (matcher === undefined) {
    matcher = parseExpectStatus(expectStatus);
    matchers.set(expectStatus, matcher);
  }
  return matcher;
}

/** Reads at most `limit` bytes; stopping early destroys the stream so the rest is never fetched. */
async function readPrefix(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  const all = Buffer.concat(chunks);
  return all.length > limit ? all.subarray(0, limit) : all;
}

/** A short human reason for a failed request: the failing step and the system code when there is one. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return shorten(String(err), 200);
  // With several addresses for a host, Node's connect tries each and reports all failures.
  if (err instanceof AggregateError && err.errors[0] instanceof Error) {
    return describeError(err.errors[0]);
  }
  const { code, syscall } = err as Error & { code?: unknown; syscall?: unknown };
  if (typeof code === "string") {
    if (typeof syscall === "string") return `${syscall} ${code}`;
    switch (code) {
      case "UND_ERR_CONNECT_TIMEOUT":
        return "connect timeout";
      case "UND_ERR_SOCKET":
        return "connection closed by the server";
      case "UND_ERR_DESTROYED":
      case "UND_ERR_CLOSED":
        return "prober closed";
      case "UND_ERR_HEADERS_OVERFLOW":
        return "response headers too large";
      case "UND_ERR_INVALID_ARG":
        return shorten(`invalid request: ${err.message}`, 200);
    }
    if (/CERT|TLS|SSL|SIGNATURE/.test(code)) return `tls ${code}`;
    if (code.startsWith("HPE_")) return shorten(`invalid response: ${err.message}`, 200);
  }
  return shorten(err.message || err.name, 200);
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
