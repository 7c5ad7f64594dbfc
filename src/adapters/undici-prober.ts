import { lookup as dnsLookup } from "node:dns";
import { isIP, type LookupFunction, connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Agent, buildConnector, type Dispatcher, interceptors } from "undici";
import { parseExpectStatus, type StatusMatcher } from "../core/checks/expect-status.js";
import type { ProbeResult, Prober, ProbeSignal } from "../core/checks/prober.js";
import { deniedAddressReason, ipLiteralBytes } from "../core/checks/target-policy.js";
import { internText } from "../core/state/intern.js";
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
 * What a probe needs of its spec beyond the spec itself, worked out once per spec object (a spec is
 * immutable once stored, and lives as long as its origin is unchanged): nothing is parsed, and no
 * request options are built, per probe.
 */
interface HttpTarget {
  readonly tcp: false;
  readonly pools: Pools;
  /** `protocol//host:port`. */
  readonly origin: string;
  /** The agent, or the agent that follows redirects. */
  readonly dispatcher: Dispatcher;
  /** The request options, shared by every probe of the spec (undici does not change them). */
  readonly options: Dispatcher.DispatchOptions;
  readonly matcher: StatusMatcher;
  /** `bodyContains` as bytes. */
  readonly needle: Buffer | undefined;
}

interface TcpTarget {
  readonly tcp: true;
  /** The host, without the brackets of an IPv6 literal. */
  readonly host: string;
  readonly port: number;
}

type Target = HttpTarget | TcpTarget;

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
  private plainHeaders: Readonly<Record<string, string>> | undefined;
  /** The deadlines of the probes in flight (used by ProbeRun). */
  readonly deadlines = new DeadlineSweep();
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

  probe(spec: OriginSpec, signal?: ProbeSignal): Promise<ProbeResult> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const run = new ProbeRun(this, spec, signal);
    if (this.closed) return Promise.resolve(run.result(null, "prober closed"));
    return new Promise<ProbeResult>((resolve, reject) => {
      run.resolve = resolve;
      run.reject = reject;
      this.begin(run);
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

  /** Starts the work of a probe and puts it under its deadline. */
  private begin(run: ProbeRun): void {
    let target: Target;
    try {
      target = this.targetOf(run.spec);
    } catch (err) {
      run.settle(null, describeError(err));
      return;
    }
    run.target = target;
    run.signal?.addEventListener("abort", run, { once: true });
    this.deadlines.track(run);
    if (target.tcp) this.connectCheck(run, target);
    else this.httpCheck(run, target);
  }

  /**
   * One request through undici's dispatch API, with the probe itself as the handler: no response
   * stream, no promise per chunk and no closure per probe, which matters at thousands of probes per
   * second. The body is read, at most BODY_PREFIX_LIMIT_BYTES of it, even without `bodyContains`: a
   * body the origin cuts short is a failure, and a body read to its end lets the connection go back
   * to the pool; reaching the bound aborts the request, which closes that connection instead.
   */
  private httpCheck(run: ProbeRun, target: HttpTarget): void {
    try {
      target.dispatcher.dispatch(target.options, run);
    } catch (err) {
      run.settle(null, describeError(err));
    }
  }

  /** `tcp://host:port`: healthy when a TCP connection is accepted; it is closed at once. */
  private connectCheck(run: ProbeRun, target: TcpTarget): void {
    run.tcpPhase = isIP(target.host) ? "connect" : "DNS lookup";
    const refused = this.refusedLiteral(target.host);
    if (refused) {
      run.settle(null, describeError(refused));
      return;
    }
    const socket = netConnect({ host: target.host, port: target.port, lookup: this.lookup });
    this.sockets.add(socket);
    run.socket = socket;
    socket.once("lookup", () => {
      run.tcpPhase = "connect";
    });
    socket.once("connect", () => {
      this.releaseSocket(socket);
      run.settle(null, null);
    });
    socket.once("error", (err) => {
      this.releaseSocket(socket);
      run.settle(null, describeError(err));
    });
  }

  /** Forgets and closes the socket of a TCP check (used by ProbeRun too). */
  releaseSocket(socket: Socket): void {
    this.sockets.delete(socket);
    socket.destroy();
  }

  /** What a probe of `spec` needs, cached per spec object. */
  private targetOf(spec: OriginSpec): Target {
    let target = this.targets.get(spec);
    if (target === undefined) {
      target = TCP_URL.test(spec.url) ? tcpTarget(spec) : this.httpTarget(spec);
      this.targets.set(spec, target);
    }
    return target;
  }

  private httpTarget(spec: OriginSpec): HttpTarget {
    const url = new URL(spec.url);
    const pools = this.poolsFor(spec);
    // Many origins share a host: one string for all of them.
    const origin = internText(`${url.protocol}//${url.host}`);
    const options: Dispatcher.DispatchOptions & { servername?: string } = {
      origin,
      path: `${url.pathname}${url.search}`,
      method: spec.method,
      headers: this.headersFor(spec),
    };
    if (spec.freshConnection) options.reset = true;
    if (spec.tlsServerName !== undefined) options.servername = spec.tlsServerName;
    return {
      tcp: false,
      pools,
      origin,
      dispatcher: spec.followRedirects ? pools.redirecting : pools.agent,
      options: Object.freeze(options),
      matcher: matcherFor(spec.expectStatus),
      needle: spec.bodyContains === undefined ? undefined : Buffer.from(spec.bodyContains, "utf8"),
    };
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
  /**
   * The request headers of `spec`. A spec with no headers of its own and no Host override (nearly
   * every one) shares one frozen object: a cache of 100,000 targets holds one copy, not 100,000.
   */
  private headersFor(spec: OriginSpec): Readonly<Record<string, string>> {
    if (spec.hostHeader === undefined && Object.keys(spec.headers).length === 0) {
      this.plainHeaders ??= Object.freeze(this.ownHeaders(spec));
      return this.plainHeaders;
    }
    return Object.freeze(this.ownHeaders(spec));
  }

  private ownHeaders(spec: OriginSpec): Record<string, string> {
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

function tcpTarget(spec: OriginSpec): TcpTarget {
  const url = new URL(spec.url);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return { tcp: true, host, port: Number(url.port) };
}

/**
 * One probe in flight: its state, the undici handler of its request (its own methods, so no
 * closures are made per probe), the listener of the caller's signal (`handleEvent`) and its entry
 * in the deadline sweep. It settles once: with a verdict when the work ends or the deadline passes,
 * or with the caller's reason when the caller aborts. The deadline settles the probe itself rather
 * than only aborting the request, since undici defers an abort until a pending connect settles;
 * whatever is still running then is aborted, which releases its socket.
 */
class ProbeRun implements Dispatcher.DispatchHandler {
  readonly started = performance.now();
  /** When the deadline passes, on `performance.now()`. */
  readonly deadline: number;
  target: Target | undefined;
  settled = false;
  /** Under the deadline sweep (a probe that fails before its work starts never is). */
  tracked = false;
  statusCode: number | null = null;
  /** Body bytes seen. */
  size = 0;
  /** The body so far, kept only for `bodyContains`. */
  chunks: Buffer[] | undefined;
  /** undici's controller of the request, once it has one. */
  controller: Dispatcher.DispatchController | undefined;
  /** The socket of a TCP check. */
  socket: Socket | undefined;
  tcpPhase: ProbePhase = "connect";
  resolve: ((result: ProbeResult) => void) | undefined;
  reject: ((reason: unknown) => void) | undefined;

  constructor(
    readonly prober: UndiciProber,
    readonly spec: OriginSpec,
    readonly signal: ProbeSignal | undefined,
  ) {
    this.deadline = this.started + spec.timeoutMs;
  }

  result(statusCode: number | null, error: string | null): ProbeResult {
    return {
      ok: error === null,
      statusCode,
      latencyMs: Math.round((performance.now() - this.started) * 10) / 10,
      error,
    };
  }

  /** Resolves with a verdict, unless settled already. */
  settle(statusCode: number | null, error: string | null): void {
    if (this.settled) return;
    this.#end();
    this.resolve?.(this.result(statusCode, error));
  }

  /** The deadline passed: a verdict naming the phase it cut, and the work is abandoned. */
  expire(): void {
    if (this.settled) return;
    this.settle(this.statusCode, `${this.phase()} timeout after ${this.spec.timeoutMs} ms`);
    this.#abandon(PROBE_SETTLED);
  }

  /** The caller aborted: rejects with its reason, and the work is abandoned. */
  handleEvent(): void {
    if (this.settled) return;
    const reason = this.signal?.reason;
    this.#end();
    this.#abandon(reason);
    this.reject?.(reason);
  }

  #end(): void {
    this.settled = true;
    this.signal?.removeEventListener("abort", this);
    if (this.tracked) this.prober.deadlines.settled();
  }

  #abandon(reason: unknown): void {
    if (this.socket !== undefined) this.prober.releaseSocket(this.socket);
    this.controller?.abort(reason as Error);
  }

  /** The step the probe is in, for the error of a deadline. */
  phase(): ProbePhase {
    const target = this.target;
    if (target === undefined) return "connect";
    if (target.tcp) return this.tcpPhase;
    if (this.statusCode !== null) return "body";
    // undici hands over the controller once the request has a connected socket to be written to;
    // until then the probe waits for the connection its origin is opening.
    if (this.controller !== undefined) return "response headers";
    return target.pools.attempts.get(target.origin)?.phase ?? "connect";
  }

  /** The response is all read (or all that is read of it): judged by status and body. */
  #complete(): void {
    if (this.settled) return;
    const target = this.target as HttpTarget;
    const statusCode = this.statusCode as number;
    let error: string | null = null;
    if (!target.matcher.matches(statusCode)) {
      error = `status ${statusCode} not in ${this.spec.expectStatus.join(",")}`;
    } else if (target.needle !== undefined) {
      const chunks = this.chunks ?? [];
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const prefix = body.length > BODY_PREFIX_LIMIT_BYTES ? body.subarray(0, BODY_PREFIX_LIMIT_BYTES) : body;
      if (!prefix.includes(target.needle)) {
        error = `body lacks ${JSON.stringify(shorten(this.spec.bodyContains as string, 60))}`;
      }
    }
    this.settle(statusCode, error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // A probe that settled before its request got this far (deadline, caller) stops it here.
    if (this.settled) controller.abort(PROBE_SETTLED);
    else this.controller = controller;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.statusCode = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.size >= BODY_PREFIX_LIMIT_BYTES) return;
    // Only bodyContains looks at the bytes; without it they are counted, not kept.
    if ((this.target as HttpTarget).needle !== undefined) {
      if (this.chunks === undefined) this.chunks = [chunk];
      else this.chunks.push(chunk);
    }
    this.size += chunk.length;
    if (this.size >= BODY_PREFIX_LIMIT_BYTES) {
      this.#complete();
      controller.abort(BODY_BOUND_REACHED);
    }
  }

  onResponseEnd(): void {
    this.#complete();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settle(this.statusCode, describeError(err));
  }
}

/**
 * The deadlines of the probes in flight, kept without a timer per probe: one line per `timeoutMs`,
 * in which deadlines come in the order probes started, and one timer armed for the earliest head.
 * A settled probe is not taken out of its line; the sweep, and each new probe, drop settled heads.
 */
class DeadlineSweep {
  readonly #lines = new Map<number, RunLine>();
  /** Probes tracked and not settled. */
  #pending = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  track(run: ProbeRun): void {
    const timeoutMs = run.spec.timeoutMs;
    let line = this.#lines.get(timeoutMs);
    if (line === undefined) {
      line = new RunLine();
      this.#lines.set(timeoutMs, line);
    }
    line.dropSettled();
    line.push(run);
    run.tracked = true;
    this.#pending++;
    if (run.deadline < this.#timerAt) this.#arm(run.deadline);
  }

  /** A tracked probe settled; with none left, the timer goes (a process may exit meanwhile). */
  settled(): void {
    if (--this.#pending > 0) return;
    this.#pending = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    for (const line of this.#lines.values()) line.clear();
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#sweep, Math.max(1, Math.ceil(at - performance.now())));
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const line of this.#lines.values()) {
      for (let head = line.peek(); head !== undefined; head = line.peek()) {
        if (!head.settled && head.deadline > now) {
          if (head.deadline < next) next = head.deadline;
          break;
        }
        line.shift();
        head.expire();
      }
    }
    if (next < this.#timerAt && this.#pending > 0) this.#arm(next);
  };
}

/** A first-in first-out line of probes that does not shift arrays. */
class RunLine {
  #items: Array<ProbeRun | undefined> = [];
  #head = 0;
  push(run: ProbeRun): void {
    this.#items.push(run);
  }
  peek(): ProbeRun | undefined {
    return this.#items[this.#head];
  }
  shift(): void {
    this.#items[this.#head++] = undefined;
    if (this.#head >= this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
  dropSettled(): void {
    for (let head = this.peek(); head?.settled; head = this.peek()) this.shift();
  }
  clear(): void {
    this.#items.length = 0;
    this.#head = 0;
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
