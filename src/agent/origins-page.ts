import { firstAfter } from "../core/sorted.js";
import type { HealthStatus } from "../core/state/types.js";
import { ValidationError } from "../errors.js";
import type { OriginView } from "./node-api.js";

/** `GET /v1/origins` answers this many origins when no `limit` is given. */
export const DEFAULT_PAGE_SIZE = 1000;
/** The largest `limit` a request may ask for. */
export const MAX_PAGE_SIZE = 10_000;
/**
 * A page stops after testing this many origins against a status or owner filter, even if it is
 * short (or empty): a filter that matches few of 100,000 origins would otherwise hold the event
 * loop for seconds in one request. The cursor resumes where it stopped.
 */
export const MAX_EXAMINED_PER_PAGE = 20_000;

export interface OriginsQuery {
  limit: number;
  /** Opaque: from a previous page's `nextCursor`. */
  cursor?: string;
  status?: HealthStatus;
  owner?: string;
  /** Keeps ids that contain this text (case-insensitive): the dashboard's search box. */
  idContains?: string;
}

/** What the status and owner filters read, cheaper to compute than a whole view. */
export interface OriginSummary {
  owner: string | null;
  status: HealthStatus;
}

export interface OriginsPage {
  origins: OriginView[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export const encodeCursor = (id: string): string => Buffer.from(id, "utf8").toString("base64url");

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (id.length === 0 || encodeCursor(id) !== cursor) {
    throw new ValidationError("cursor: not a cursor this API gave out", "cursor");
  }
  return id;
}

/**
 * One page of origins in id order, after the cursor, keeping those that pass the filters. The
 * cursor is the last id examined, so a page costs what it reads, whatever the catalog's size, and
 * it reads at most `maxExamined` origins that the id search let through. A page may therefore be
 * short, even empty, before the last one: only a null `nextCursor` ends the list. `summary`, when
 * given, lets the status and owner filters skip origins without building their views.
 */
export function pageOfOrigins(
  sortedIds: readonly string[],
  query: OriginsQuery,
  view: (id: string) => OriginView | undefined,
  summary?: (id: string) => OriginSummary,
  maxExamined = MAX_EXAMINED_PER_PAGE,
): OriginsPage {
  const start = query.cursor === undefined ? 0 : firstAfter(sortedIds, decodeCursor(query.cursor));
  const origins: OriginView[] = [];
  const needle = query.idContains?.toLowerCase();
  const filtered = query.status !== undefined || query.owner !== undefined;
  let examined = 0;
  let i = start;
  for (; i < sortedIds.length && origins.length < query.limit && examined < maxExamined; i++) {
    const id = sortedIds[i] as string;
    // The id test comes first: it costs no view, so a search scans a large catalog cheaply.
    if (needle !== undefined && !id.toLowerCase().includes(needle)) continue;
    examined++;
    if (filtered && summary) {
      const s = summary(id);
      if (query.status !== undefined && s.status !== query.status) continue;
      if (query.owner !== undefined && s.owner !== query.owner) continue;
    }
    const v = view(id);
    if (!v) continue;
    if (query.status !== undefined && v.health.status !== query.status) continue;
    if (query.owner !== undefined && v.owner !== query.owner) continue;
    origins.push(v);
  }
  const last = sortedIds[i - 1];
  return { origins, nextCursor: i < sortedIds.length && last !== undefined ? encodeCursor(last) : null };
}
