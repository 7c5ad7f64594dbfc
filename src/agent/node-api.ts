import type { Registry } from "prom-client";
import type { Address } from "../core/address.js";
import type { MemberStatus, MemberView } from "../core/membership/ports.js";
import type { HealthRecord, HealthStatus, OriginSpec } from "../core/state/types.js";
import type { OriginHistory, TimelineEvent } from "./history.js";
import type { KeyOperation, KeyReport } from "./keys.js";
import type { OriginsPage, OriginsQuery } from "./origins-page.js";

/** `health` of an origin view (contract.md "Origin view"); times are ISO 8601 or null. */
export interface HealthView {
  status: HealthStatus;
  reporter: string | null;
  checkedAt: string | null;
  changedAt: string | null;
  latencyMs: number | null;
  error: string | null;
  /** The member whose own probe confirmed the last turn to `unhealthy` (null: none asked, or none could). */
  confirmedBy: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The API's view of a health register; an origin never probed yet is `unknown` with nulls. */
export function toHealthView(record: HealthRecord | undefined): HealthView {
  if (!record) {
    return {
      status: "unknown",
      reporter: null,
      checkedAt: null,
      changedAt: null,
      latencyMs: null,
      error: null,
      confirmedBy: null,
    };
  }
  return {
    status: record.status,
    reporter: record.reporter,
    checkedAt: iso(record.checkedAt),
    changedAt: iso(record.changedAt),
    latencyMs: record.latencyMs,
    error: record.error,
    confirmedBy: record.confirmedBy ?? null,
  };
}

/** The spec with defaults filled in, plus id, owner (by this node's view) and health. */
export type OriginView = OriginSpec & { id: string; owner: string | null; health: HealthView };

export interface HealthEvent {
  id: string;
  status: HealthStatus;
  previous: HealthStatus;
  reporter: string | null;
  at: string;
}

export interface MemberChangeEvent {
  name: string;
  status: MemberStatus;
  at: string;
}

export interface NodeEvents {
  health: HealthEvent;
  member: MemberChangeEvent;
}

export type Unsubscribe = () => void;

/** Live origins one member owns, by their health status (`GET /v1/owners`). */
export interface OwnerCount {
  origins: number;
  healthy: number;
  unhealthy: number;
  unknown: number;
}

export const emptyOwnerCount = (): OwnerCount => ({ origins: 0, healthy: 0, unhealthy: 0, unknown: 0 });

/**
 * What the HTTP API and the dashboard need from a running node. The agent implements it; the API
 * is a factory over it and knows nothing of sockets or the database.
 */
export interface HeckNodeApi {
  readonly name: string;
  readonly version: string;
  gossipAddress(): Address;
  /** `host:port` of the HTTP listener once bound. */
  httpAddress(): string;
  members(): MemberView[];
  /** Live origins in this node's view of the catalog. */
  originCount(): number;
  /** One page of origins in id order (`GET /v1/origins`). */
  originsPage(query: OriginsQuery): OriginsPage;
  origin(id: string): OriginView | undefined;
  /** Number of live origins this node owns and probes. */
  ownedCount(): number;
  /**
   * Live origins per owner by this node's view, every owner candidate listed (with zeros when it
   * owns none); origins no member can own (no candidates) are left out.
   */
  ownerCounts(): Map<string, OwnerCount>;
  /** This node's record of an origin's probes and transitions; undefined when the origin is absent. */
  originHistory(id: string): OriginHistory | undefined;
  /** The newest `limit` health and member events this node sent on its stream, oldest first. */
  recentEvents(limit: number): TimelineEvent[];
  /** Durable before it returns: `created` is false when it replaced an existing origin. */
  putOrigin(id: string, spec: OriginSpec): { created: boolean; view: OriginView };
  /** All or nothing, durable before it returns; returns the count. */
  putOrigins(items: Array<{ id: string; spec: OriginSpec }>): number;
  /** Durable before it returns; false when the origin is absent. */
  deleteOrigin(id: string): boolean;
  /** Push-pull join to each address; resolves with how many answered. */
  join(addresses: Address[]): Promise<number>;
  /**
   * Lists or changes the gossip keyring on every member (keys.ts); rejects with a
   * ValidationError (bad key, `use` of a key not installed here, `remove` of the primary key) or
   * KeyringUnavailableError before anything is sent.
   */
  keyring(operation: KeyOperation, key?: string): Promise<KeyReport>;
  /** Leaves gracefully and shuts the agent down (as SIGTERM). */
  leave(): Promise<void>;
  subscribe<K extends keyof NodeEvents>(kind: K, listener: (event: NodeEvents[K]) => void): Unsubscribe;
  readonly metrics: Registry;
}
