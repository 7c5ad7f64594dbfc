import { extname } from "node:path";
import {
  isMap,
  isSeq,
  LineCounter,
  parseDocument,
  parse as parseYaml,
  stringify as stringifyYaml,
} from "yaml";
import type { OriginView } from "../agent/node-api.js";
import { UsageError } from "./errors.js";

/**
 * Files of many origins, as `heck origins add -f` reads them and `heck origins export` writes
 * them: `{"origins": [{"id", ...spec}, ...]}` (the body of `POST /v1/origins`) in JSON or YAML.
 * A bare list of origins is read too. Mistakes are reported with the file's line, so that an
 * entry can be found in a file of thousands.
 */

export type OriginsFileFormat = "json" | "yaml";
export const ORIGINS_FILE_FORMATS: readonly OriginsFileFormat[] = ["json", "yaml"];

/** One origin as the file holds it: its id and the spec fields, unvalidated (the agent validates). */
export type OriginEntry = { id: string } & Record<string, unknown>;

export interface OriginsFile {
  format: OriginsFileFormat;
  origins: OriginEntry[];
  /** `NAME:LINE` of entry `index`, or `NAME` when the line cannot be told. */
  where(index: number): string;
}

/** The format a file name implies: `.json`, `.yaml` or `.yml`; undefined for anything else. */
export function formatOfName(name: string): OriginsFileFormat | undefined {
  const ext = extname(name).toLowerCase();
  if (ext === ".json") return "json";
  if (ext === ".yaml" || ext === ".yml") return "yaml";
  return undefined;
}

/**
 * Parses a file of origins. `format` undefined: JSON if the text is JSON, else YAML. Throws
 * {@link UsageError} naming the file and the line for text that does not parse, a wrong shape,
 * an entry without a string `id`, and an id given twice.
 */
export function parseOriginsFile(text: string, name: string, format?: OriginsFileFormat): OriginsFile {
  let value: unknown;
  let actual: OriginsFileFormat = format ?? "yaml";
  if (format === "json" || (format === undefined && /^\s*[[{]/.test(text))) {
    try {
      value = JSON.parse(text);
      actual = "json";
    } catch (err) {
      if (format === "json")
        throw new UsageError(`${name}: not valid JSON: ${jsonErrorPlace(err as Error, text)}`);
    }
  }
  if (value === undefined) {
    try {
      value = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (err) {
      throw new UsageError(
        `${name}: not valid YAML: ${(err as Error).message.split("\n")[0]?.replace(/:$/, "")}`,
      );
    }
  }

  const list = Array.isArray(value) ? value : (value as { origins?: unknown } | null)?.origins;
  if (!Array.isArray(list)) {
    throw new UsageError(`${name}: expected {"origins": [...]} or a list of origins, each with an "id"`);
  }
  if (!Array.isArray(value)) {
    const extra = Object.keys(value as object).filter((key) => key !== "origins");
    if (extra.length > 0)
      throw new UsageError(`${name}: unknown top-level field "${extra[0]}"; only "origins"`);
  }

  let lines: Array<number | undefined> | undefined;
  const where = (index: number): string => {
    lines ??= entryLines(text, Array.isArray(value));
    const line = lines[index];
    return line === undefined ? name : `${name}:${line}`;
  };

  const firstIndexOf = new Map<string, number>();
  list.forEach((entry, index) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new UsageError(`${where(index)}: origins[${index}] must be an object with "id" and "url"`);
    }
    const id = (entry as { id?: unknown }).id;
    if (typeof id !== "string" || id === "") {
      throw new UsageError(`${where(index)}: origins[${index}] needs an "id" (a string)`);
    }
    const earlier = firstIndexOf.get(id);
    if (earlier !== undefined) {
      throw new UsageError(
        `${where(index)}: origins[${index}] repeats id "${id}" of origins[${earlier}] (${where(earlier)})`,
      );
    }
    firstIndexOf.set(id, index);
  });
  return { format: actual, origins: list as OriginEntry[], where };
}

/** The line (1-based) where each entry starts, read again with positions: only done to report a mistake. */
function entryLines(text: string, bare: boolean): Array<number | undefined> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const seq = bare ? doc.contents : isMap(doc.contents) ? doc.contents.get("origins", true) : undefined;
  if (!isSeq(seq)) return [];
  return seq.items.map((item) => {
    const offset = (item as { range?: [number, number, number] }).range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  });
}

/** Node 20's JSON errors give an offset; a line and column are what an editor goes to. */
function jsonErrorPlace(err: Error, text: string): string {
  const match = /at position (\d+)/.exec(err.message);
  if (!match) return err.message;
  const offset = Number(match[1]);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${err.message.replace(/ in JSON at position \d+.*$/, "")} at line ${line}, column ${column}`;
}

/** What `export` writes for one origin: the id and its spec, without the view's owner and health. */
export function entryOfView(view: OriginView): OriginEntry {
  const { id, url, owner: _owner, health: _health, ...rest } = view;
  return { id, url, ...rest };
}

/** The file text of these origins, as {@link parseOriginsFile} reads it back. */
export function formatOriginsFile(origins: readonly OriginEntry[], format: OriginsFileFormat): string {
  if (format === "json") return `${JSON.stringify({ origins }, null, 2)}\n`;
  return stringifyYaml({ origins }, { lineWidth: 0 });
}
