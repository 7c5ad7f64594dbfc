/** Human output: aligned tables and short relative times. `--json` bypasses all of this. */

/** Left-aligned columns separated by two spaces; the header row is upper case. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join("\n");
}

/** `12s ago`, `5m ago`, `3h ago`, `2d ago`, or `-` for never. */
export function ago(iso: string | null, now: number = Date.now()): string {
  if (iso === null) return "-";
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

export function milliseconds(value: number | null): string {
  return value === null ? "-" : `${Math.round(value)}ms`;
}

/** Aligned `key: value` lines for a single object. */
export function keyValues(pairs: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...pairs.map(([key]) => key.length)) + 1;
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}`).join("\n");
}
