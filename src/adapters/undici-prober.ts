import { lookup as dnsLookup } from "node:dns";
import { isIP, type LookupFunction, connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Agent, buildConnector, type Dispatcher, interceptors } from "undici";
import { parseExpectStatus, type StatusMatcher } from "../core/checks/expect-status.js";
import type { ProbeResult, Prober } from "../core/checks/prober.js";
import { deniedAddressReason, ipLiteralBytes } from "../core/checks/target-policy.js";
import type { OriginSpec } from "../core/state/types.js";

/**
 * How much of a response body a probe reads. A health endpoint answers in a few hundred bytes;
 * bounding the read keeps a misconfigured origin that streams megabytes from costing memory and
 * bandwidth on every probe. A `bodyContains` needle must lie wholly within these first bytes.
 */
export const BODY_PREFIX_LIMIT_BYTES = 64 * 1024;

/** Redirects a probe with `followRedirects` follows before it judges the answer it has. */
export const MAX_REDIRECTS = 5;

/**
 * undici's own connect timeout is set this much beyond the probe's deadline: the deadline fires
 * first and names the phase, and the abandoned connect attempt is cut shortly after.
 */
const CONNECT_TIMEOUT_SLACK_MS = 50;

/** The abort reason for work a settled probe abandons; made once, since a stack costs. */
const PROBE_SETTLED = new Error("probe settled");

/** A `tcp://` origin: a connect check. Schemes are case-insensitive. */
const TCP_URL = /^tcp:/i;

/** The abort reason once a body has given all that is read of it. */
const BODY_BOUND_REACHED = new Error("body bound reached");

/**
 * How a probe stops work it no longer waits for: lighter than an AbortController per probe, and
 * undici's request controller, which arrives only once the request has a socket, is hooked to it
 * whenever it comes.
 */
class Cancel {
  aborted = false;
  reason: unknown;
  #listener: ((reason: unknown) => void) | undefined;
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#listener?.(reason);
  }
  /** Calls `fn` on abort, at once when already aborted. One listener. */
  onAbort(fn: (reason: unknown) => void): void {
    this.#listener = fn;
    if (this.aborted) fn(this.reason);
  }
}

/** What a probe needs of its spec beyond the spec itself, worked out once per spec object. */
interface Target {
  pools: Pools;
  /** `protocol//host:port`. */
  origin: string;
  path: string;
  headers: Record<string, string>;
}

/** The step a probe was in when its deadline passed; named in the error. */
export type ProbePhase = "DNS lookup" | "connect" | "TLS handshake" | "response headers" | "body";

export interface UndiciProberOptions {
  /** Sent as `Heck-Node` on every probe. */
  nodeName: string;
  /** Sent as `User-Agent: heck/<version>` on every probe. */
  version: string;
  /**
   * Refuse to connect to loopback, link-local, private, unique-local and other special-purpose
   * addresses (see core/checks/target-policy.ts), judged on the address each connection resolves
   * to, so that DNS rebinding cannot get round it.
   * @default false
   */
  denyPrivateTargets?: boolean;
  /** Name resolution, as `net.connect` takes it. @default dns.lookup */
  lookup?: LookupFunction;
}

/** The error a refused target fails with; `describeError` shows its message. */
class DeniedTargetError extends Error {
  readonly code = "EHECKDENIED";
  constructor(address: string, reason: string) {
    super(`target ${address} refused: ${reason}`);
    this.name = "DeniedTargetError";
  }
}

/** The progress of one connection attempt, for naming the phase a deadline cut. */
interface ConnectAttempt {
  phase: ProbePhase;
}

/**
 * The connection pools of one set of connect options (deadline and TLS settings): undici takes
 * these per agent, not per request, so specs that differ in them get agents of their own. Most
 * origins share the defaults, so there are few.
 */
interface Pools {
  agent: Agent;
  redirecting: Dispatcher;
  /** Connection attempts in progress, by `protocol//host:port`: the newest one per origin. */
  attempts: Map<string, ConnectAttempt>;
}

/**
 * Probes origins: HTTP(S) with undici, `tcp://` with a plain connect. `timeoutMs` is a deadline
 * for the whole probe, resolution, connect, TLS, headers and the bounded body read together: the
 * probe resolves when it passes whatever undici is doing, and the error names the phase it cut
 * ("connect timeout after 500 ms"). Keep-alive is on unless the spec asks for `freshConnection`.
 * Redirects are followed only with `followRedirects`; otherwise a 3xx is judged by `expectStatus`.
 */
export class UndiciProber implements Prober {
  private readonly pools = new Map<string, Pools>();
  private readonly targets = new WeakMap<OriginSpec, Target>();
  private readonly userAgent: string;
  private readonly nodeName: string;
  private readonly denyPrivate: boolean;
  private readonly baseLookup: LookupFunction;
  private readonly lookup: LookupFunction;
  private readonly sockets = new Set<Socket>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: UndiciProberOptions) {
    this.userAgent = `heck/${options.version}`;
    this.nodeName = options.nodeName;
    this.denyPrivate = options.denyPrivateTargets ?? false;
    this.baseLookup = options.lookup ?? (dnsLookup as LookupFunction);
    this.lookup = this.denyPrivate ? this.guardedLookup : this.baseLookup;
  }

  async probe(spec: OriginSpec, signal?: AbortSignal): Promise<ProbeResult> {
    signal?.throwIfAborted();
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
    if (this.closed) return { ok: false, statusCode: null, latencyMs: elapsed(), error: "prober closed" };

    const cancel = new Cancel();
    const progress: ProbeProgress = { statusCode: null, phase: () => "connect" };
    const work = TCP_URL.test(spec.url)
      ? this.connectCheck(spec, cancel, progress)
      : this.httpCheck(spec, cancel, progress);
    // The work races the deadline and the caller's abort; the first to finish decides. A race
    // rather than an abort alone: undici defers an abort until a pending connect settles, so only
    // this makes the deadline hold in every phase. Whatever is still running when the deadline or
    // the caller wins is aborted, which releases its socket.
    return new Promise<ProbeResult>((resolve, reject) => {
      let settled = false;
      const finish = (verdict: ProbeVerdict | undefined, reason?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onCallerAbort);
        if (verdict === undefined) {
          cancel.abort(reason);
          reject(reason);
          return;
        }
        resolve({
          ok: verdict.error === null,
          statusCode: verdict.statusCode,
          latencyMs: elapsed(),
          error: verdict.error,
        });
      };
      const onCallerAbort = () => finish(undefined, signal?.reason);
      signal?.addEventListener("abort", onCallerAbort, { once: true });
      const timer = setTimeout(() => {
        const error = `${progress.phase()} timeout after ${spec.timeoutMs} ms`;
        finish({ statusCode: progress.statusCode, error });
        cancel.abort(PROBE_SETTLED);
      }, spec.timeoutMs);
      work.then(finish, (err: unknown) =>
        finish({ statusCode: progress.statusCode, error: describeError(err) }),
      );
    });
  }

  /**
   * Closes every pooled connection and aborts probes still in flight (they resolve with
   * "prober closed"); later probes resolve the same way. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      for (const socket of this.sockets)
        socket.destroy(Object.assign(new Error("prober closed"), { code: "UND_ERR_DESTROYED" }));
      await Promise.all([...this.pools.values()].map((p) => p.agent.destroy()));
    })();
    return this.closing;
  }

  /**
   * One request through undici's dispatch API: no response stream and no promise per chunk, which
   * matters at thousands of probes per second. The body is read, at most BODY_PREFIX_LIMIT_BYTES
   * of it, even without `bodyContains`: a body the origin cuts short is a failure, and a body read
   * to its end lets the connection go back to the pool; reaching the bound aborts the request,
   * which closes that connection instead.
   */
  private httpCheck(spec: OriginSpec, cancel: Cancel, progress: ProbeProgress): Promise<ProbeVerdict> {
    return new Promise((resolve, reject) => {
      let target: Target;
      let matcher: StatusMatcher;
      try {
        matcher = matcherFor(spec.expectStatus);
        target = this.targetOf(spec);
      } catch (err) {
        reject(err);
        return;
      }
      const attempts = target.pools.attempts;
      progress.phase = () =>
        progress.statusCode !== null ? "body" : (attempts.get(target.origin)?.phase ?? "response headers");
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const complete = () => {
        if (settled) return;
        settled = true;
        const statusCode = progress.statusCode as number;
        let error: string | null = null;
        if (!matcher.matches(statusCode)) {
          error = `status ${statusCode} not in ${spec.expectStatus.join(",")}`;
        } else if (spec.bodyContains !== undefined) {
          const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
          const prefix =
            body.length > BODY_PREFIX_LIMIT_BYTES ? body.subarray(0, BODY_PREFIX_LIMIT_BYTES) : body;
          if (!prefix.includes(Buffer.from(spec.bodyContains, "utf8"))) {
            error = `body lacks ${JSON.stringify(shorten(spec.bodyContains, 60))}`;
          }
        }
        resolve({ statusCode, error });
      };
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (controller) => cancel.onAbort((reason) => controller.abort(reason as Error)),
        onResponseStart: (_controller, statusCode) => {
          progress.statusCode = statusCode;
        },
        onResponseData: (controller, chunk) => {
          if (size >= BODY_PREFIX_LIMIT_BYTES) return;
          // Only bodyContains looks at the bytes; without it they are counted, not kept.
          if (spec.bodyContains !== undefined) chunks.push(chunk);
          size += chunk.length;
          if (size >= BODY_PREFIX_LIMIT_BYTES) {
            complete();
            controller.abort(BODY_BOUND_REACHED);
          }
        },
        onResponseEnd: complete,
        onResponseError: (_controller, err) => fail(err),
      };
      const options: Dispatcher.DispatchOptions & { servername?: string } = {
        origin: target.origin,
        path: target.path,
        method: spec.method,
        headers: target.headers,
      };
      if (spec.freshConnection) options.reset = true;
      if (spec.tlsServerName !== undefined) options.servername = spec.tlsServerName;
      try {
        (spec.followRedirects ? target.pools.redirecting : target.pools.agent).dispatch(options, handler);
      } catch (err) {
        fail(err);
      }
    });
  }

  /** `tcp://host:port`: healthy when a TCP connection is accepted; it is closed at once. */
  private connectCheck(spec: OriginSpec, cancel: Cancel, progress: ProbeProgress): Promise<ProbeVerdict> {
    const url = new URL(spec.url);
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const attempt: ConnectAttempt = { phase: isIP(host) ? "connect" : "DNS lookup" };
    progress.phase = () => attempt.phase;
    return new Promise((resolve, reject) => {
      const refused = this.refusedLiteral(host);
      if (refused) {
        reject(refused);
        return;
      }
      const socket = netConnect({ host, port: Number(url.port), lookup: this.lookup });
      this.sockets.add(socket);
      const done = () => {
        this.sockets.delete(socket);
        socket.destroy();
      };
      cancel.onAbort((reason) => {
        done();
        reject(reason);
      });
      socket.once("lookup", () => {
        attempt.phase = "connect";
      });
      socket.once("connect", () => {
        done();
        resolve({ statusCode: null, error: null });
      });
      socket.once("error", (err) => {
        done();
        reject(err);
      });
    });
  }

  /** The pools, origin, path and headers of a spec, cached per spec object (immutable once stored). */
  private targetOf(spec: OriginSpec): Target {
    let target = this.targets.get(spec);
    if (target === undefined) {
      const url = new URL(spec.url);
      target = {
        pools: this.poolsFor(spec),
        origin: `${url.protocol}//${url.host}`,
        path: `${url.pathname}${url.search}`,
        headers: this.headersFor(spec),
      };
      this.targets.set(spec, target);
    }
    return target;
  }

  private poolsFor(spec: OriginSpec): Pools {
    const key = JSON.stringify([spec.timeoutMs, spec.tlsSkipVerify ?? false, spec.tlsCa ?? null]);
    let pools = this.pools.get(key);
    if (pools === undefined) {
      const attempts = new Map<string, ConnectAttempt>();
      const base = buildConnector({
        timeout: spec.timeoutMs + CONNECT_TIMEOUT_SLACK_MS,
        rejectUnauthorized: spec.tlsSkipVerify !== true,
        ...(spec.tlsCa !== undefined ? { ca: spec.tlsCa } : {}),
        lookup: this.lookup,
      } as buildConnector.BuildOptions);
      const connect: buildConnector.connector = (options, callback) => {
        const refused = this.refusedLiteral(options.hostname);
        if (refused) {
          queueMicrotask(() => callback(refused, null));
          return;
        }
        const key = `${options.protocol}//${options.host}`;
        const attempt: ConnectAttempt = { phase: isIP(options.hostname) ? "connect" : "DNS lookup" };
        attempts.set(key, attempt);
        const settle = () => {
          if (attempts.get(key) === attempt) attempts.delete(key);
        };
        const socket = base(options, (err, sock) => {
          settle();
          callback(err, sock as never);
        }) as unknown as Socket | undefined;
        socket?.once("lookup", () => {
          attempt.phase = "connect";
        });
        if (options.protocol === "https:") {
          socket?.once("connect", () => {
            attempt.phase = "TLS handshake";
          });
        }
      };
      const agent = new Agent({ connect });
      pools = {
        agent,
        redirecting: agent.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS })),
        attempts,
      };
      this.pools.set(key, pools);
    }
    return pools;
  }

  /** An IP-literal target refused by the policy (net.connect does no lookup for those). */
  private refusedLiteral(hostname: string): DeniedTargetError | undefined {
    if (!this.denyPrivate || ipLiteralBytes(hostname) === undefined) return undefined;
    const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
    const reason = deniedAddressReason(bare);
    return reason === undefined ? undefined : new DeniedTargetError(bare, reason);
  }

  /** The configured lookup, failing when any address the name resolves to is refused. */
  private readonly guardedLookup: LookupFunction = (hostname, options, callback) => {
    this.baseLookup(hostname, options, (err, address, family) => {
      if (err) {
        callback(err, address, family);
        return;
      }
      const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
      for (const a of addresses) {
        const reason = deniedAddressReason(a);
        if (reason !== undefined) {
          callback(new DeniedTargetError(a, reason) as unknown as NodeJS.ErrnoException, address, family);
          return;
        }
      }
      callback(null, address, family);
    });
  };

  /** The user's headers, then heck's, which win over a user header of the same name. */
  private headersFor(spec: OriginSpec): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(spec.headers)) {
      const lower = name.toLowerCase();
      if (lower === "user-agent" || lower === "heck-node") continue;
      if (lower === "host" && spec.hostHeader !== undefined) continue;
      headers[name] = value;
    }
    if (spec.hostHeader !== undefined) headers.host = spec.hostHeader;
    headers["user-agent"] = this.userAgent;
    headers["heck-node"] = this.nodeName;
    return headers;
  }
}

interface ProbeVerdict {
  statusCode: number | null;
  error: string | null;
}

/** What a probe in flight has got so far, read when its deadline passes. */
interface ProbeProgress {
  statusCode: number | null;
  phase: () => ProbePhase;
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
      case "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH":
      case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
        return "connection closed mid-body";
    }
    if (/CERT|TLS|SSL|SIGNATURE/.test(code)) return `tls ${code}`;
    if (code.startsWith("HPE_")) return shorten(`invalid response: ${err.message}`, 200);
  }
  return shorten(err.message || err.name, 200);
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
