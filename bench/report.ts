import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";

/**
 * Shared by every benchmark script: summary statistics and one section of docs/benchmarks.md per
 * script, so that `npm run bench:state` rewrites its own section and leaves the others as they are.
 */

const DOCS = new URL("../docs/", import.meta.url);
const TITLE =
  "# Benchmarks\n\nEach section is written by the script it names; rerun that script to refresh it.\n";

export interface Summary {
  min: number;
  median: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { min: sorted[0] as number, median, max: sorted[sorted.length - 1] as number };
}

/** One line naming the machine, for a section's preamble. */
export function machineLine(): string {
  return `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), Node ${process.version}.`;
}

/** A Markdown table from a header row and body rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const align = header.map((_, i) => (i === 0 ? "---" : "---:"));
  return [header, align, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/**
 * Replaces the section `name` of a page of docs/ (docs/benchmarks.md unless `file` names another)
 * between its begin and end markers with `markdown`, appending it when absent.
 */
export function writeSection(name: string, markdown: string, file = "benchmarks.md"): void {
  const DOC = new URL(file, DOCS);
  const begin = `<!-- begin ${name} -->`;
  const end = `<!-- end ${name} -->`;
  let doc: string;
  try {
    doc = readFileSync(DOC, "utf8");
  } catch {
    doc = file === "benchmarks.md" ? TITLE : "";
  }
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  doc =
    from >= 0 && to > from
      ? doc.slice(0, from) + block + doc.slice(to + end.length)
      : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(DOC, doc);
}
