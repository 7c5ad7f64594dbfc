import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { FastifyInstance } from "fastify";
import type { Logger as PinoLogger } from "pino";
import { EventLoopDelaySampler } from "../adapters/event-loop-delay.js";
import { keyringPath, loadKeyringFile, saveKeyringFile } from "../adapters/keyring-file.js";
import { SqliteStore } from "../adapters/sqlite-store.js";
import {
  createNodeLogger,
  pinoLogger,
  systemClock,
  systemRng,
  systemTimers,
} from "../adapters/system-env.js";
import { UdpTcpTransport } from "../adapters/udp-tcp-transport.js";
import { UndiciProber } from "../adapters/undici-prober.js";
import {
  createMetrics,
  type HeckMetrics,
  REFUSAL_REASONS,
  type RefusalReason,
  restartLoopDelay,
} from "../api/metrics.js";
import { buildServer } from "../api/server.js";
import type { AgentConfig } from "../config.js";
import { type Address, formatAddress } from "../core/address.js";
import { probeErrorKind } from "../core/checks/probe-error.js";
import type { Logger } from "../core/env.js";
import { profile } from "../core/membership/config.js";
import type { MemberEvent, MemberStatus, MemberView } from "../core/membership/ports.js";
import { Swim } from "../core/membership/swim.js";
import { encodeTags, HECK_TAG, isHeckMeta } from "../core/membership/tags.js";
import { ownerOf } from "../core/ownership/rendezvous.js";
import type { CausalMap, Version } from "../core/state/causal-map.js";
import { KeySpace } from "../core/state/key-space.js";
import { Replicator } from "../core/state/replication.js";
import type { HealthStatus, OriginEntry, OriginSpec } from "../core/state/types.js";
import { VERSION } from "../version.js";
import { Keyring, parseKey } from "../wire/crypto.js";
import { Checker } from "./checker.js";
import { Confirmer } from "./confirmer.js";
import { DepartedMembers } from "./departed.js";
import { HeapGrowth } from "./heap-growth.js";
import { NodeHistory, type OriginHistory, type TimelineEvent } from "./history.js";
import { KeyManager, type KeyOperation, type KeyReport } from "./keys.js";
import {
  type HeckNodeApi,
  type NodeEvents,
  type OriginView,
  type OwnerCount,
  toHealthView,
  type Unsubscribe,
} from "./node-api.js";
import { type OriginsPage, type OriginsQuery, pageOfOrigins } from "./origins-page.js";
import { OwnerCounter } from "./owner-counts.js";

const STATUSES: MemberStatus[] = ["alive", "suspect", "dead", "left"];
/** Join retries back off from 1 s to this. */
const MAX_JOIN_BACKOFF_MS = 30_000;
/**
 * Leave: how long to wait for every member to ack the leave (Swim.leave); most of SIGTERM's 5 s
 * exit budget, the rest is for closing the API and the store.
 */
const LEAVE_TIMEOUT_MS = 3000;
/** Remote state changes are written to disk at least this often. */
const FLUSH_INTERVAL_MS = 200;
/** Keys written per background transaction: a few ms of SQLite work. */
const FLUSH_SLICE_KEYS = 100;
/**
 * While an anti-entropy session is arriving, one slice is written per this many ms: a bootstrap
 * spends its CPU on merging what arrives (the node serves the catalog once it holds it), and the
 * writes catch up at full pace once the session ends. What only a peer sent needs no haste on disk:
 * a node that dies before writing it pulls it again.
 */
const FLUSH_WHILE_RECEIVING_MS = 100;
/**
 * A status change learnt this long after it happened is not announced as an event (SSE, the
 * timeline): live changes spread within seconds, older ones arrive by anti-entropy.
 */
const STALE_CHANGE_MS = 30_000;
/** Tombstone collection runs this often. */
const COLLECT_INTERVAL_MS = 10_000;
/** The probe watermark gossips this often. */
const WATERMARK_INTERVAL_MS = 1000;
/** Serf's query timeout: gossip interval × this × ceil(log10(n + 1)) (its QueryTimeoutMult). */
const QUERY_TIMEOUT_MULT = 16;

/**
 * One heck node: membership over UDP/TCP, replicated origins and health, the prober for the
 * origins it owns, SQLite durability and the HTTP API. It wires the pure core to the adapters and
 * owns their lifecycle: start() once, stop() safe twice.
 */
export class HeckAgent implements HeckNodeApi {
  readonly name: string;
  readonly version = VERSION;
  readonly metrics;
  readonly #metrics: HeckMetrics;
  readonly #config: AgentConfig;
  readonly #heapGrowth: HeapGrowth;
  readonly #log: Logger;
  /** The pino logger behind #log, when the agent made its own; the API logs its errors to it. */
  readonly #pino: PinoLogger | undefined;
  readonly #events = new EventEmitter();
  #store: SqliteStore | undefined;
  #transport: UdpTcpTransport | undefined;
  #swim: Swim | undefined;
  #keys: KeyManager | undefined;
  #replicator: Replicator | undefined;
  #checker: Checker | undefined;
  #confirmer: Confirmer | undefined;
  #prober: UndiciProber | undefined;
  #server: FastifyInstance | undefined;
  #gossipAddress: Address;
  #httpAddress = "";
  #joinTimer: NodeJS.Timeout | undefined;
  #peersTimer: NodeJS.Timeout | undefined;
  #sampler: NodeJS.Timeout | undefined;
  #flushScheduled = false;
  #stateTimers: NodeJS.Timeout[] = [];
  /** Feeds the event loop's delay into Lifeguard's local health (issue 7, item 5). */
  #loopDelay: EventLoopDelaySampler | undefined;
  /** Live origin ids in order, for paging; rebuilt after an origin is added or removed. */
  #sortedIds: string[] | undefined;
  #candidates: string[] | undefined;
  /** The members the checker spreads origins over ({@link #probeCandidates}); cached like `#candidates`. */
  #probers: string[] | undefined;
  /** How long a suspect keeps its origins before a stand-in takes them: one probe interval. */
  #standInAfterMs = 1000;
  /** One timer per suspect, for the moment its origins pass to stand-ins. */
  readonly #standInTimers = new Map<string, NodeJS.Timeout>();
  #ownerCounter: OwnerCounter | undefined;
  /** Origin ids, numbered once for the replicated state, the probing engine and the history. */
  readonly #keySpace = new KeySpace();
  /** Probe latency, transitions and events for the dashboard (bounded, in memory). */
  readonly #history = new NodeHistory({}, this.#keySpace);
  readonly #departed = new DepartedMembers();
  #stopped = false;
  #stopping: Promise<void> | undefined;
  /** Set by leave(): the promise the agent's owner awaits to exit. */
  readonly #done: Promise<void>;
  #resolveDone!: () => void;

  constructor(config: AgentConfig, log?: Logger) {
    this.#config = config;
    this.#heapGrowth = new HeapGrowth(config.heapGrowthPercent);
    this.name = config.name;
    this.#gossipAddress = config.advertise;
    this.#pino = log ? undefined : createNodeLogger(config.name, config.logLevel);
    this.#log = log ?? pinoLogger(this.#pino as PinoLogger);
    this.#metrics = createMetrics({ originsByStatus: () => this.#originsByStatus() });
    this.metrics = this.#metrics.registry;
    this.#events.setMaxListeners(0);
    this.#done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Resolves once the agent has stopped (after leave(), a signal, or stop()). */
  get done(): Promise<void> {
    return this.#done;
  }

  async start(): Promise<void> {
    const config = this.#config;
    const store = new SqliteStore(config.dataDir);
    this.#store = store;

    const keyring = this.#openKeyring();
    // An encrypted datagram carries 29 bytes more (version, nonce, tag): leave room for them.
    const membership = profile(config.profile, keyring ? { udpBufferSize: 1400 - 29 } : {});
    this.#standInAfterMs = membership.probeIntervalMs;
    // The writer id names this data dir's writes; a wiped data dir gets a new one, so its counters
    // never collide with those it issued before (docs/architecture.md, "Replicated state").
    let writer = store.getMeta("writer");
    if (!writer) {
      writer = randomBytes(8).toString("hex");
      store.setMeta("writer", writer);
    }
    const replicator = new Replicator({
      keySpace: this.#keySpace,
      node: config.name,
      writer,
      clock: systemClock,
      rng: systemRng,
      timers: systemTimers,
      clusterSize: () => this.#swim?.aliveCount() ?? 1,
      log: this.#log,
      // As soon as a bootstrap session begins or ends, so that its first chunks are not merged
      // under the cap.
      sessionsChanged: () => {
        this.#heapGrowth.update(replicator.catchingUp);
        if (!replicator.catchingUp) this.#scheduleFlush();
      },
    });
    this.#replicator = replicator;
    this.#heapGrowth.update(false);
    replicator.load(store.loadState());
    const legacy = store.legacyOrigins();
    if (legacy.length > 0) {
      replicator.putOrigins(legacy);
      this.#flush();
      store.dropLegacyOrigins();
    }
    replicator.onChange((change) => {
      this.#scheduleFlush();
      if (change.kind === "origin") {
        if ((change.entry === undefined) !== (change.previous === undefined)) {
          this.#sortedIds = undefined;
          this.#ownerCounter?.invalidate();
        }
        if (change.entry === undefined) this.#history.forget(change.id);
        this.#checker?.originChanged(change.id);
        return;
      }
      const status = change.record?.status ?? "unknown";
      const previous = change.previous?.status ?? "unknown";
      if (status !== previous) {
        this.#ownerCounter?.invalidate();
        // A status that changed long ago and reaches this node only now (a side of a healed
        // partition) is state, not news: no event for it. Nor is any status a node learns while it
        // catches up (a new or wiped node taking the catalog in): to it every status is new.
        if (replicator.catchingUp) return;
        const changedAt = change.record?.changedAt;
        if (changedAt != null && Date.now() - changedAt > STALE_CHANGE_MS) return;
        this.#emit("health", {
          id: change.id,
          status,
          previous,
          reporter: change.record?.reporter ?? null,
          at: new Date().toISOString(),
        });
      }
    });

    const transport = new UdpTcpTransport({
      logger: this.#log,
      streamDeadlineMs: membership.tcpTimeoutMs,
      maxStreamBytes: membership.maxStreamBytes,
      ...(keyring ? { keyring } : {}),
    });
    this.#transport = transport;
    const bound = await transport.start(config.bind, {
      onPacket: (from: Address, data: Uint8Array) => this.#swim?.handlePacket(from, data),
      onStream: (from: Address, data: Uint8Array) => this.#swim?.handleStream(from, data) ?? null,
    });
    // With --bind HOST:0 the advertised port is the one the transport found.
    if (config.advertise.port === 0 || config.advertise.port === config.bind.port) {
      this.#gossipAddress = { host: config.advertise.host, port: bound.port };
    }
    const storedIncarnation = Number(store.getMeta("incarnation") ?? "0");
    const keyFile = keyringPath(config.dataDir);
    const keys = new KeyManager({
      keyring,
      save: (list) => saveKeyringFile(keyFile, list),
      query: (options) => {
        if (this.#swim) this.#swim.query(options);
        else options.done(0);
      },
      timeoutMs: () =>
        Math.max(
          1000,
          membership.gossipIntervalMs *
            QUERY_TIMEOUT_MULT *
            Math.ceil(Math.log10((this.#swim?.aliveCount() ?? 1) + 1)),
        ),
      log: this.#log,
    });
    this.#keys = keys;
    const swim = new Swim({
      name: config.name,
      advertise: this.#gossipAddress,
      initialIncarnation: storedIncarnation + 1,
      config: membership,
      clock: systemClock,
      rng: systemRng,
      timers: systemTimers,
      log: this.#log,
      transport,
      delegate: replicator,
      meta: encodeTags({ [HECK_TAG]: VERSION }),
      sharesDelegate: isHeckMeta,
      onMemberEvent: (event) => this.#onMemberEvent(event),
      queryHandler: (name, payload) => keys.handleQuery(name, payload),
    });
    this.#swim = swim;
    replicator.attach({
      members: () => this.#ownerCandidates(),
      addressOf: (name) => swim.member(name)?.address,
      sendStream: (to, payload, timeoutMs, done) => swim.sendUserStream(to, payload, done, timeoutMs),
    });
    store.setMeta("incarnation", String(storedIncarnation + 1));
    swim.start();
    this.#loopDelay = new EventLoopDelaySampler((delayMs) => swim.reportEventLoopDelay(delayMs));

    this.#prober = new UndiciProber({
      nodeName: config.name,
      version: VERSION,
      denyPrivateTargets: config.denyPrivateTargets,
    });
    const confirmer = new Confirmer({
      self: config.name,
      replicator,
      prober: this.#prober,
      members: () => this.#probeCandidates(),
      log: this.#log,
    });
    this.#confirmer = confirmer;
    this.#checker = new Checker({
      self: config.name,
      keySpace: replicator.keySpace,
      prober: this.#prober,
      jitterPercent: config.probeJitterPercent,
      state: {
        liveOrigins: () => replicator.liveOrigins(),
        origin: (id) => replicator.origin(id),
        isLive: (id) => replicator.isLive(id),
        healthOf: (id, owner) => replicator.healthOf(id, owner),
        recordHealth: (id, fields) => {
          this.#recordProbe(id, fields.checkedAt, fields.latencyMs, fields.error === null);
          const before = replicator.statusOf(id) ?? "unknown";
          const recorded = replicator.recordHealth(id, fields);
          if (fields.status !== before) this.#metrics.transitions.inc({ from: before, to: fields.status });
          return recorded;
        },
      },
      clock: systemClock,
      timers: systemTimers,
      rng: systemRng,
      members: () => this.#probeCandidates(),
      onProbe: (ok, latencyMs, lateMs, error) => {
        this.#metrics.probes.inc({ result: ok ? "success" : "failure" });
        if (error !== null) this.#metrics.probeErrors.inc({ kind: probeErrorKind(error) });
        this.#metrics.probeDuration.observe(latencyMs / 1000);
        this.#metrics.probeLateness.observe(lateMs / 1000);
      },
      confirm: (id) => confirmer.ask(id),
      onConfirm: (outcome) => this.#metrics.confirmations.inc({ outcome }),
    });
    this.#checker.reconcile();
    this.#wireGauges();
    this.#every(FLUSH_INTERVAL_MS, () => this.#scheduleFlush());
    this.#every(COLLECT_INTERVAL_MS, () => replicator.collect());
    this.#every(WATERMARK_INTERVAL_MS, () => this.#publishWatermark());

    const server = buildServer({
      node: this,
      ...(config.apiToken ? { apiToken: config.apiToken } : {}),
      ...(this.#pino ? { loggerInstance: this.#pino } : { logger: false }),
      maxOrigins: config.maxOrigins,
      denyPrivateTargets: config.denyPrivateTargets,
    });
    this.#server = server;
    await server.listen({ host: config.http.host, port: config.http.port });
    const addr = server.server.address();
    if (addr && typeof addr === "object")
      this.#httpAddress = formatAddress({ host: config.http.host, port: addr.port });

    // Event-loop delay counts from here: the start is not a stall of a running node.
    await restartLoopDelay(this.#metrics.registry);
    const seeds = config.join.length > 0 ? config.join : store.loadPeers();
    if (seeds.length > 0) this.#joinWithBackoff(seeds, 1000);
  }

  /** The line the contract prints on start. */
  startLine(): string {
    return `heck agent ${this.name} gossip=${formatAddress(this.#gossipAddress)} http=${this.#httpAddress}`;
  }

  gossipAddress(): Address {
    return this.#gossipAddress;
  }

  httpAddress(): string {
    return this.#httpAddress;
  }

  members(): MemberView[] {
    return this.#departed.withDeparted(this.#swim?.members() ?? [], Date.now());
  }

  originCount(): number {
    return this.#replicator?.originCount ?? 0;
  }

  originsPage(query: OriginsQuery): OriginsPage {
    const replicator = this.#replicator;
    if (!replicator) return { origins: [], nextCursor: null };
    return pageOfOrigins(
      this.#liveIds(replicator),
      query,
      (id) => {
        const entry = replicator.origin(id);
        return entry && this.#view(entry);
      },
      (id) => {
        const owner = this.#ownerOf(id);
        return { owner: owner ?? null, status: replicator.healthOf(id, owner)?.status ?? "unknown" };
      },
    );
  }

  origin(id: string): OriginView | undefined {
    const entry = this.#replicator?.origin(id);
    return entry ? this.#view(entry) : undefined;
  }

  ownedCount(): number {
    return this.#checker?.owned() ?? 0;
  }

  ownerCounts(): Map<string, OwnerCount> {
    const replicator = this.#replicator;
    if (!replicator) return new Map();
    this.#ownerCounter ??= new OwnerCounter({
      // Every id the catalog holds, tombstones too (statusOf skips them): counting needs no order,
      // so a pass walks the catalog's keys as they are, without a copy.
      ids: () => replicator.catalog.keys(),
      size: () => replicator.catalog.size,
      candidates: () => this.#ownerCandidates(),
      ownerOf: (id) => this.#ownerOf(id),
      statusOf: (id) => replicator.statusOf(id),
      later: (fn) => setImmediate(fn),
      now: () => Date.now(),
    });
    return this.#ownerCounter.counts();
  }

  /** Origins by status, summed over the owner counts (`GET /v1/owners`'s background count), once there is one. */
  #originsByStatus(): Record<HealthStatus, number> | undefined {
    const counts = this.ownerCounts();
    // Before the first background count ends there are no figures: the gauge keeps its last.
    if (!this.#ownerCounter?.ready()) return undefined;
    const total: Record<HealthStatus, number> = { healthy: 0, unhealthy: 0, unknown: 0 };
    for (const count of counts.values()) {
      total.healthy += count.healthy;
      total.unhealthy += count.unhealthy;
      total.unknown += count.unknown;
    }
    return total;
  }

  originHistory(id: string): OriginHistory | undefined {
    if (!this.#replicator?.origin(id)) return undefined;
    return this.#history.history(id, Date.now());
  }

  recentEvents(limit: number): TimelineEvent[] {
    return this.#history.recent(limit);
  }

  putOrigin(id: string, spec: OriginSpec): { created: boolean; view: OriginView } {
    const { created, entry } = this.#requireReplicator().putOrigin(id, spec);
    this.#flush();
    return { created, view: this.#view(entry) };
  }

  putOrigins(items: Array<{ id: string; spec: OriginSpec }>): number {
    this.#requireReplicator().putOrigins(items);
    this.#flush();
    return items.length;
  }

  deleteOrigin(id: string): boolean {
    const deleted = this.#requireReplicator().deleteOrigin(id) !== undefined;
    this.#flush();
    return deleted;
  }

  join(addresses: Address[]): Promise<number> {
    const swim = this.#swim;
    if (!swim) return Promise.resolve(0);
    return new Promise((resolve) => swim.join(addresses, (joined) => resolve(joined)));
  }

  keyring(operation: KeyOperation, key?: string): Promise<KeyReport> {
    const keys = this.#keys;
    if (!keys) return Promise.reject(new Error("agent not started"));
    return keys.run(operation, key);
  }

  async leave(): Promise<void> {
    await this.stop({ leave: true });
  }

  subscribe<K extends keyof NodeEvents>(kind: K, listener: (event: NodeEvents[K]) => void): Unsubscribe {
    this.#events.on(kind, listener);
    return () => this.#events.off(kind, listener);
  }

  /** Stops every component; with `leave`, first tells the cluster (others see `left`). Safe twice. */
  stop(options: { leave?: boolean } = {}): Promise<void> {
    this.#stopping ??= this.#shutdown(options.leave ?? false);
    return this.#stopping;
  }

  async #shutdown(leave: boolean): Promise<void> {
    this.#stopped = true;
    for (const t of this.#stateTimers) clearInterval(t);
    this.#replicator?.stop();
    clearTimeout(this.#joinTimer);
    clearTimeout(this.#peersTimer);
    for (const t of this.#standInTimers.values()) clearTimeout(t);
    this.#standInTimers.clear();
    clearInterval(this.#sampler);
    this.#loopDelay?.stop();
    this.#checker?.stop();
    this.#confirmer?.stop();
    this.#ownerCounter?.stop();
    const swim = this.#swim;
    if (leave && swim) {
      await new Promise<void>((resolve) => swim.leave(LEAVE_TIMEOUT_MS, resolve));
    }
    swim?.stop();
    await this.#server?.close();
    await this.#prober?.close();
    this.#transport?.stop();
    this.#savePeers();
    this.#flush();
    this.#store?.close();
    this.#store = undefined;
    this.#resolveDone();
  }

  /**
   * The gossip keyring: the keyring file in the data dir when there is one (it holds the keys as
   * `heck keys` last left them), else `--encrypt`'s key, saved to the keyring file so that later
   * rotations survive a restart; undefined without either (plain-text gossip).
   */
  #openKeyring(): Keyring | undefined {
    const config = this.#config;
    const path = keyringPath(config.dataDir);
    const stored = loadKeyringFile(path);
    if (stored) {
      const keyring = new Keyring(stored);
      if (config.encrypt !== undefined && !keyring.has(parseKey(config.encrypt))) {
        this.#log.warn("the keyring file takes precedence over --encrypt, whose key it does not hold", {
          keyringFile: path,
        });
      }
      return keyring;
    }
    if (config.encrypt === undefined) return undefined;
    const keyring = new Keyring([parseKey(config.encrypt)]);
    saveKeyringFile(path, keyring.list());
    return keyring;
  }

  #requireReplicator(): Replicator {
    if (!this.#replicator) throw new Error("agent not started");
    return this.#replicator;
  }

  #emit<K extends keyof NodeEvents>(kind: K, event: NodeEvents[K]): void {
    if (kind === "health") this.#history.recordHealth(event as NodeEvents["health"]);
    else this.#history.recordMember(event as NodeEvents["member"]);
    this.#events.emit(kind, event);
  }

  #recordProbe(id: string, at: number | null, latencyMs: number | null, ok: boolean): void {
    if (at === null || latencyMs === null) return;
    this.#history.recordProbe(id, { at, ms: latencyMs, ok });
  }

  /** Live origin ids in order, rebuilt after an origin was added or removed; never mutated. */
  #liveIds(replicator: Replicator): readonly string[] {
    this.#sortedIds ??= [...replicator.liveOrigins()].map((e) => e.id).sort();
    return this.#sortedIds;
  }

  /**
   * Members that may own origins: alive, and suspects not yet confirmed dead (SWIM §4.2). Cached
   * until the next member event, since every ownership question in between has the same answer.
   */
  #ownerCandidates(): string[] {
    if (!this.#swim) return [];
    this.#candidates ??= this.#heckMembers((m) => m.status === "alive" || m.status === "suspect");
    return this.#candidates;
  }

  /**
   * Names of the heck members (this node and those with heck's tag) that `keep` accepts. Serf
   * agents sharing the cluster (no heck tag) neither probe nor hold heck's state.
   */
  #heckMembers(keep: (m: MemberView) => boolean): string[] {
    return (this.#swim?.members() ?? [])
      .filter((m) => keep(m) && (m.name === this.name || isHeckMeta(m.meta)))
      .map((m) => m.name);
  }

  /**
   * The members whose origins are probed: those of {@link #ownerCandidates}, less the suspects
   * whose suspicion is older than one probe interval. Such a suspect's origins pass to their
   * runner-ups, which probe them as stand-ins until it refutes (they pass back) or is declared dead
   * (they stay): a crashed owner's origins then wait for its suspicion, not for the verdict, and a
   * suspicion refuted at once, as most false ones are, moves nothing.
   */
  #probeCandidates(): string[] {
    if (!this.#swim) return [];
    const now = Date.now();
    this.#probers ??= this.#heckMembers(
      (m) => m.status === "alive" || (m.status === "suspect" && now - m.statusSince < this.#standInAfterMs),
    );
    return this.#probers;
  }

  /** A member turned suspect: once its suspicion is a probe interval old, its origins pass on. */
  #armStandIn(event: MemberEvent): void {
    const name = event.member.name;
    clearTimeout(this.#standInTimers.get(name));
    this.#standInTimers.delete(name);
    if (event.member.status !== "suspect") return;
    const wait = event.member.statusSince + this.#standInAfterMs - Date.now();
    const timer = setTimeout(() => {
      this.#standInTimers.delete(name);
      this.#probers = undefined;
      this.#ownerCounter?.invalidate();
      this.#checker?.membersChanged();
    }, Math.max(0, wait) + 1);
    timer.unref();
    this.#standInTimers.set(name, timer);
  }

  /** The checker's incremental index answers; an origin it has not indexed yet is hashed here. */
  #ownerOf(id: string): string | undefined {
    return this.#checker?.ownerOf(id) ?? ownerOf(id, this.#probeCandidates());
  }

  #view(entry: OriginEntry): OriginView {
    const owner = this.#ownerOf(entry.id);
    const record = this.#replicator?.healthOf(entry.id, owner);
    return { ...entry.spec, id: entry.id, owner: owner ?? null, health: toHealthView(record) };
  }

  #onMemberEvent(event: MemberEvent): void {
    this.#candidates = undefined;
    this.#probers = undefined;
    this.#ownerCounter?.invalidate();
    this.#departed.note(event.member);
    if (this.#stopped) return;
    this.#armStandIn(event);
    this.#emit("member", {
      name: event.member.name,
      status: event.member.status,
      at: new Date().toISOString(),
    });
    if (event.member.name === this.name) {
      this.#store?.setMeta("incarnation", String(event.member.incarnation));
    }
    this.#checker?.membersChanged();
    clearTimeout(this.#peersTimer);
    this.#peersTimer = setTimeout(() => this.#savePeers(), 1000);
    this.#peersTimer.unref();
  }

  /** Known peers, so that a restart without --join rejoins through them. */
  #savePeers(): void {
    const swim = this.#swim;
    const store = this.#store;
    if (!swim || !store) return;
    const peers = swim
      .members()
      .filter((m) => m.name !== this.name && (m.status === "alive" || m.status === "suspect"))
      .map((m) => m.address);
    if (peers.length > 0) store.savePeers(peers);
  }

  /**
   * Remote changes are written in the background, at most {@link FLUSH_SLICE_KEYS} keys per
   * transaction and one transaction per turn of the event loop, so that an anti-entropy session
   * bringing a whole catalog never holds the loop for one long write; the context is written with
   * the last slice (see {@link Replicator.takeDirty}); while a session is arriving, one slice
   * per {@link FLUSH_WHILE_RECEIVING_MS}, and none while this node catches up (a new or wiped node
   * taking the catalog in: a slice of writes in a turn that also merges made the longest stalls of
   * a bootstrap, and a node that dies meanwhile pulls the catalog again). Changes the API accepted are flushed whole
   * before the API answers, in one transaction, so a bulk upsert is on disk whole or not at all.
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    const run = () => {
      this.#flushScheduled = false;
      // Scheduled again when the catch-up ends (sessionsChanged), or by the periodic flush.
      if (this.#replicator?.catchingUp) return;
      if (this.#flush(FLUSH_SLICE_KEYS)) this.#scheduleFlush();
    };
    if (this.#replicator?.receiving) setTimeout(run, FLUSH_WHILE_RECEIVING_MS);
    else setImmediate(run);
  }

  /** Writes up to `limit` dirty keys (all by default); true when dirty keys are left. */
  #flush(limit = Number.POSITIVE_INFINITY): boolean {
    const store = this.#store;
    const replicator = this.#replicator;
    if (!store || !replicator) return false;
    const dirty = replicator.takeDirty(limit);
    if (dirty.catalog.length === 0 && dirty.health.length === 0 && !dirty.context) return dirty.more;
    store.saveState({
      catalog: held(dirty.catalog, replicator.catalog),
      health: held(dirty.health, replicator.health),
      ...(dirty.context ? { context: { context: replicator.context, floor: replicator.floor } } : {}),
    });
    return dirty.more;
  }

  /** Gossips when this node last probed all the origins it owns, per probe interval. */
  #publishWatermark(): void {
    const replicator = this.#replicator;
    const checker = this.#checker;
    if (!replicator || !checker) return;
    replicator.publishWatermark(checker.probeWatermark());
  }

  #every(intervalMs: number, fn: () => void): void {
    const timer = setInterval(() => {
      try {
        fn();
      } catch (err) {
        this.#log.error("periodic task failed", { error: String(err) });
      }
    }, intervalMs);
    timer.unref();
    this.#stateTimers.push(timer);
  }

  #joinWithBackoff(seeds: Address[], delayMs: number): void {
    this.join(seeds).then((joined) => {
      if (this.#stopped) return;
      if (joined > 0) {
        this.#log.info("joined the cluster", { joined, seeds: seeds.map(formatAddress) });
        return;
      }
      this.#log.warn("no seed answered; retrying", { seeds: seeds.map(formatAddress), retryMs: delayMs });
      this.#joinTimer = setTimeout(
        () => this.#joinWithBackoff(seeds, Math.min(delayMs * 2, MAX_JOIN_BACKOFF_MS)),
        delayMs,
      );
      this.#joinTimer.unref();
    });
  }

  /**
   * Gauges and the gossip counters follow the components' own counters once a second, so that no
   * hot path (a packet, a probe) touches prom-client beyond a counter increment.
   */
  #wireGauges(): void {
    const last = {
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      malformed: 0,
      syncIn: 0,
      syncOut: 0,
      sessionsIn: 0,
      sessionsOut: 0,
      chunkRetries: 0,
      sessionsAborted: 0,
      refused: 0,
      refusedWrites: 0,
      collected: 0,
      dropped: 0,
      pushPulls: 0,
      suspicions: 0,
      refutations: 0,
    };
    let tombstonesAt = 0;
    const lastRefused = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<
      RefusalReason,
      number
    >;
    const sample = () => {
      // Counting tombstones reads the whole catalog: every ten seconds is often enough.
      if (this.#replicator && Date.now() - tombstonesAt >= COLLECT_INTERVAL_MS) {
        tombstonesAt = Date.now();
        this.#metrics.stateTombstones.set(this.#replicator.tombstones());
      }
      const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<MemberStatus, number>;
      for (const m of this.members()) counts[m.status]++;
      for (const s of STATUSES) this.#metrics.members.set({ status: s }, counts[s]);
      this.#metrics.ownedOrigins.set(this.ownedCount());
      const replicator = this.#replicator;
      this.#metrics.origins.set(replicator?.originCount ?? 0);
      if (replicator) {
        const st = replicator.stats;
        this.#metrics.stateSyncBytes.inc({ direction: "in" }, st.syncBytesIn - last.syncIn);
        this.#metrics.stateSyncBytes.inc({ direction: "out" }, st.syncBytesOut - last.syncOut);
        this.#metrics.stateSessions.inc({ direction: "in" }, st.sessionsIn - last.sessionsIn);
        this.#metrics.stateSessions.inc({ direction: "out" }, st.sessionsOut - last.sessionsOut);
        this.#metrics.stateChunkFailures.inc({ outcome: "retried" }, st.chunkRetries - last.chunkRetries);
        this.#metrics.stateChunkFailures.inc(
          { outcome: "aborted" },
          st.sessionsAborted - last.sessionsAborted,
        );
        this.#metrics.stateRefusedStamps.inc(st.refusedStamps - last.refused);
        this.#metrics.stateRefusedWrites.inc(st.refusedWrites - last.refusedWrites);
        this.#metrics.stateCollected.inc(st.collected - last.collected);
        this.#metrics.stateDroppedDeltas.inc(st.droppedDeltas - last.dropped);
        this.#metrics.stateGossipQueue.set(replicator.pendingBroadcasts);
        Object.assign(last, {
          syncIn: st.syncBytesIn,
          syncOut: st.syncBytesOut,
          sessionsIn: st.sessionsIn,
          sessionsOut: st.sessionsOut,
          chunkRetries: st.chunkRetries,
          sessionsAborted: st.sessionsAborted,
          refused: st.refusedStamps,
          refusedWrites: st.refusedWrites,
          collected: st.collected,
          dropped: st.droppedDeltas,
        });
      }
      const swim = this.#swim?.stats;
      const transport = this.#transport?.stats;
      if (!swim || !transport) return;
      this.#metrics.membershipQueue.set(this.#swim?.pendingBroadcasts() ?? 0);
      this.#metrics.healthScore.set(this.#swim?.healthScore() ?? 0);
      this.#metrics.membershipPushPulls.inc(swim.pushPulls - last.pushPulls);
      this.#metrics.membershipSuspicions.inc(swim.suspicionsRaised - last.suspicions);
      this.#metrics.membershipRefutations.inc(swim.refutations - last.refutations);
      Object.assign(last, {
        pushPulls: swim.pushPulls,
        suspicions: swim.suspicionsRaised,
        refutations: swim.refutations,
      });
      const now = {
        messagesIn: swim.packetsIn + swim.streamsIn,
        messagesOut: swim.packetsOut + swim.streamsOut,
        bytesIn: transport.bytesIn,
        bytesOut: transport.bytesOut,
        malformed: swim.malformed + transport.malformed + (replicator?.stats.malformed ?? 0),
      };
      this.#metrics.gossipMessages.inc({ direction: "in" }, now.messagesIn - last.messagesIn);
      this.#metrics.gossipMessages.inc({ direction: "out" }, now.messagesOut - last.messagesOut);
      this.#metrics.gossipBytes.inc({ direction: "in" }, now.bytesIn - last.bytesIn);
      this.#metrics.gossipBytes.inc({ direction: "out" }, now.bytesOut - last.bytesOut);
      this.#metrics.malformedPackets.inc(now.malformed - last.malformed);
      Object.assign(last, now);
      const refused: Record<RefusalReason, number> = {
        inbound_streams: transport.refusedInboundStreams,
        outbound_streams: transport.refusedOutboundStreams,
        stream_too_large: transport.oversizedStreams,
        stream_deadline: transport.expiredStreams,
        decompressed_too_large: swim.oversized,
      };
      for (const reason of REFUSAL_REASONS) {
        this.#metrics.refused.inc({ reason }, refused[reason] - lastRefused[reason]);
        lastRefused[reason] = refused[reason];
      }
    };
    sample();
    this.#sampler = setInterval(sample, 1000);
    this.#sampler.unref();
  }
}

/** Each of `ids` with its versions in `map`, read as the store asks for them. */
function* held<V>(ids: readonly string[], map: CausalMap<V>): Generator<[string, readonly Version<V>[]]> {
  for (const id of ids) yield [id, map.get(id) ?? []];
}
