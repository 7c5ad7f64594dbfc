/**
 * Health registers: one last-writer-wins register of {@link HealthRecord} per origin id, with the
 * same join as the catalog (see catalog.ts). The owner writes its probe outcomes; every node holds
 * the replicated register, so when ownership moves the new owner continues from it.
 */
import { compareHlc } from "./hlc.js";
import type { HealthRecord } from "./types.js";

/** The record's fields in a fixed order, for a deterministic choice between equal stamps. */
function canonicalRecord(r: HealthRecord): string {
  return JSON.stringify([r.status, r.reporter, r.checkedAt, r.changedAt, r.latencyMs, r.error]);
}

/**
 * The join of two versions of one origin's register: the higher stamp wins; equal stamps with
 * different contents (which unique stamps rule out, see catalog.ts joinEntry) resolve to the greater
 * canonical text. Commutative, associative and idempotent; returns `a` when both are equal.
 * MUST be called with records of one id.
 */
export function joinHealth(a: HealthRecord, b: HealthRecord): HealthRecord {
  const order = compareHlc(a.stamp, b.stamp);
  if (order !== 0) return order > 0 ? a : b;
  if (
    a.status === b.status &&
    a.reporter === b.reporter &&
    a.checkedAt === b.checkedAt &&
    a.changedAt === b.changedAt &&
    a.latencyMs === b.latencyMs &&
    a.error === b.error
  ) {
    return a;
  }
  return canonicalRecord(b) > canonicalRecord(a) ? b : a;
}

export class HealthTable {
  readonly #records = new Map<string, HealthRecord>();

  /**
   * Joins `record` into the table. Returns true when the table changed. Records are kept as given:
   * callers MUST NOT mutate them afterwards.
   */
  apply(record: HealthRecord): boolean {
    const current = this.#records.get(record.id);
    if (current !== undefined && joinHealth(current, record) === current) return false;
    this.#records.set(record.id, record);
    return true;
  }

  get(id: string): HealthRecord | undefined {
    return this.#records.get(id);
  }

  all(): HealthRecord[] {
    return [...this.#records.values()];
  }

  get size(): number {
    return this.#records.size;
  }
}
