import { EventEmitter } from "node:events";
import type { Registry } from "prom-client";
import {
  type LatencySample,
  NodeHistory,
  type OriginHistory,
  type TimelineEvent,
} from "../../src/agent/history.js";
import { KeyManager, type KeyOperation, type KeyReport } from "../../src/agent/keys.js";
import {
  emptyOwnerCount,
  type HealthView,
  type HeckNodeApi,
  type NodeEvents,
  type OriginView,
  type OwnerCount,
  toHealthView,
  type Unsubscribe,
} from "../../src/agent/node-api.js";
import { type OriginsPage, type OriginsQuery, pageOfOrigins } from "../../src/agent/origins-page.js";
import { createMetrics, type HeckMetrics } from "../../src/api/metrics.js";
import type { Address } from "../../src/core/address.js";
import { parseOriginSpec } from "../../src/core/checks/spec.js";
import type { MemberStatus, MemberView } from "../../src/core/membership/ports.js";
import type { HealthStatus, OriginSpec } from "../../src/core/state/types.js";
import { Keyring } from "../../src/wire/crypto.js";

/**
 * Test double of {@link HeckNodeApi}: a node without network, store or probes. Origins live in a
 * Map, members in an array, and the test drives health and membership changes by hand; every
 * change emits the event the real agent would. Specs go through the real `parseOriginSpec`.
 */
export class MemoryNode implements HeckNodeApi {
  readonly name: string;
  readonly version = "0.0.0-test";
  readonly metricSet: HeckMetrics = createMetrics();
  readonly metrics: Registry = this.metricSet.registry;

  /** Every join request, in order. */
  readonly joinCalls: Address[][] = [];
  /** How many of the addresses of a join answer; by default all of them. */
  joinAnswers: ((addresses: Address[]) => number) | undefined;
  leaveCalls = 0;
  /** The gossip keyring, undefined for plain-text gossip; see {@link useKeyring}. */
  keyRing: Keyring | undefined;
  /** Each keyring the key manager saved, in order. */
  readonly savedKeyrings: Uint8Array[][] = [];
  #keys: KeyManager | undefined;
  putOriginsCalls = 0;

  private readonly gossip: Address;
  private memberList: MemberView[];
  private readonly entries = new Map<
    string,
    { spec: OriginSpec; owner: string | null; health: HealthView }
  >();
  private readonly events = new EventEmitter();
  private readonly history = new NodeHistory();

  constructor(name = "node-1", gossipPort = 7946) {
    this.name = name;
    this.gossip = { host: "127.0.0.1", port: gossipPort };
    this.memberList = [member(name, gossipPort, "alive")];
  }

  gossipAddress(): Address {
    return { ...this.gossip };
  }

  httpAddress(): string {
    return "127.0.0.1:8700";
  }

  members(): MemberView[] {
    return this.memberList.map((m) => ({ ...m }));
  }

  originCount(): number {
    return this.entries.size;
  }

  origins(): OriginView[] {
    return [...this.entries.keys()].map((id) => this.view(id)!);
  }

  originsPage(query: OriginsQuery): OriginsPage {
    return pageOfOrigins([...this.entries.keys()].sort(), query, (id) => this.view(id));
  }

  origin(id: string): OriginView | undefined {
    return this.view(id);
  }

  ownedCount(): number {
    return [...this.entries.values()].filter((e) => e.owner === this.name).length;
  }

  ownerCounts(): Map<string, OwnerCount> {
    const counts = new Map(
      this.memberList
        .filter((m) => m.status === "alive" || m.status === "suspect")
        .map((m) => [m.name, emptyOwnerCount()]),
    );
    for (const { owner, health } of this.entries.values()) {
      if (owner === null) continue;
      const count = counts.get(owner) ?? emptyOwnerCount();
      counts.set(owner, count);
      count.origins++;
      count[health.status]++;
    }
    return counts;
  }

  originHistory(id: string): OriginHistory | undefined {
    return this.entries.has(id) ? this.history.history(id, Date.now()) : undefined;
  }

  recentEvents(limit: number): TimelineEvent[] {
    return this.history.recent(limit);
  }

  putOrigin(id: string, spec: OriginSpec): { created: boolean; view: OriginView } {
    const existing = this.entries.get(id);
    this.entries.set(id, {
      spec,
      owner: existing?.owner ?? this.name,
      health: existing?.health ?? toHealthView(undefined),
    });
    return { created: existing === undefined, view: this.view(id)! };
  }

  putOrigins(items: Array<{ id: string; spec: OriginSpec }>): number {
    this.putOriginsCalls++;
    for (const { id, spec } of items) this.putOrigin(id, spec);
    return items.length;
  }

  deleteOrigin(id: string): boolean {
    this.history.forget(id);
    return this.entries.delete(id);
  }

  async join(addresses: Address[]): Promise<number> {
    this.joinCalls.push(addresses);
    return this.joinAnswers ? this.joinAnswers(addresses) : addresses.length;
  }

  async leave(): Promise<void> {
    this.leaveCalls++;
  }

  /** Encrypts "gossip" with these keys (primary first): the real key manager, a one-member cluster. */
  useKeyring(keys: Uint8Array[]): void {
    this.keyRing = new Keyring(keys);
    this.#keys = undefined;
  }

  keyring(operation: KeyOperation, key?: string): Promise<KeyReport> {
    const manager: KeyManager =
      this.#keys ??
      new KeyManager({
        keyring: this.keyRing,
        save: (list) => this.savedKeyrings.push(list),
        // The only member answers its own query at once.
        query: (options) => {
          const answer = manager.handleQuery(options.name, options.payload);
          if (answer) options.onResponse(this.name, answer);
          options.done(1);
        },
        timeoutMs: () => 1000,
        log: { debug() {}, info() {}, warn() {}, error() {} },
      });
    this.#keys = manager;
    return manager.run(operation, key);
  }

  subscribe<K extends keyof NodeEvents>(kind: K, listener: (event: NodeEvents[K]) => void): Unsubscribe {
    this.events.on(kind, listener);
    return () => this.events.off(kind, listener);
  }

  /** Open subscriptions of one kind (each SSE client holds one per kind). */
  listenerCount(kind: keyof NodeEvents): number {
    return this.events.listenerCount(kind);
  }

  // ---- test controls ----

  /** Adds an origin from a partial spec, filled in by the real parser. */
  addOrigin(id: string, spec: Record<string, unknown>, owner: string | null = this.name): OriginView {
    this.entries.set(id, { spec: parseOriginSpec(spec), owner, health: toHealthView(undefined) });
    return this.view(id)!;
  }

  addMember(name: string, port: number, status: MemberStatus = "alive"): void {
    this.memberList.push(member(name, port, status));
  }

  /** Records a probe this node ran, for the origin's latency history. */
  recordProbe(id: string, sample: LatencySample): void {
    this.history.recordProbe(id, sample);
  }

  /** Records a probe result as the owner would and emits `health` when the status changes. */
  setHealth(
    id: string,
    status: HealthStatus,
    details: { reporter?: string; latencyMs?: number | null; error?: string | null; at?: Date } = {},
  ): void {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`no origin ${id}`);
    const at = (details.at ?? new Date()).toISOString();
    const previous = entry.health.status;
    const reporter = details.reporter ?? this.name;
    entry.health = {
      status,
      reporter,
      checkedAt: at,
      changedAt: previous === status ? entry.health.changedAt : at,
      latencyMs: details.latencyMs ?? null,
      error: details.error ?? null,
      confirmedBy: null,
    };
    if (previous !== status) {
      const event = { id, status, previous, reporter, at };
      this.history.recordHealth(event);
      this.events.emit("health", event);
    }
  }

  setMemberStatus(name: string, status: MemberStatus): void {
    const m = this.memberList.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    m.status = status;
    m.incarnation++;
    const event = { name, status, at: new Date().toISOString() };
    this.history.recordMember(event);
    this.events.emit("member", event);
  }

  private view(id: string): OriginView | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    return { ...entry.spec, id, owner: entry.owner, health: { ...entry.health } };
  }
}

function member(name: string, port: number, status: MemberStatus): MemberView {
  return {
    name,
    address: { host: "127.0.0.1", port },
    status,
    incarnation: 1,
    meta: new Uint8Array(),
    statusSince: 0,
  };
}
