import { readFile, writeFile } from "node:fs/promises";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { OriginView } from "../../agent/node-api.js";
import { HeckApiError, type OriginInput, type OriginSpecInput } from "../../client/index.js";
import type { HealthStatus } from "../../core/state/types.js";
import type { CliContext, ClientFlags } from "../context.js";
import { withClientOptions } from "../context.js";
import { UsageError } from "../errors.js";
import { ago, keyValues, milliseconds, table } from "../format.js";
import {
  entryOfView,
  formatOfName,
  formatOriginsFile,
  ORIGINS_FILE_FORMATS,
  type OriginsFile,
  type OriginsFileFormat,
  parseOriginsFile,
} from "../origins-file.js";
import { ProgressBar } from "../progress.js";

interface ExportFlags extends ClientFlags {
  output?: string;
  format?: OriginsFileFormat;
}

/** Origins per `POST /v1/origins` when adding from a file; the API takes up to 10,000. */
const DEFAULT_CHUNK_SIZE = 1000;
const MAX_CHUNK_SIZE = 10_000;

interface ListFlags extends ClientFlags {
  status?: string;
  owner?: string;
}

interface AddFlags extends ClientFlags {
  file?: string;
  format?: OriginsFileFormat;
  chunkSize?: number;
  url?: string;
  method?: string;
  intervalMs?: number;
  timeoutMs?: number;
  expectStatus?: Array<number | string>;
  healthyThreshold?: number;
  unhealthyThreshold?: number;
  header?: Record<string, string>;
  bodyContains?: string;
  fastIntervalMs?: number;
  downIntervalMs?: number;
  hostHeader?: string;
  followRedirects?: boolean;
  freshConnection?: boolean;
  tlsSkipVerify?: boolean;
  tlsCa?: string;
  tlsServerName?: string;
}

export function originPath(id: string): string {
  return `/v1/origins/${encodeURIComponent(id)}`;
}

/** `heck origins ls|get|add|rm`: the origin catalog. */
export function registerOriginsCommand(program: Command, ctx: CliContext): void {
  const origins = program.command("origins").description("list, show, add and remove origins");

  withClientOptions(
    origins
      .command("ls")
      .alias("list")
      .description("list origins with their health")
      .addOption(
        new Option("--status <status>", "only origins with this status").choices([
          "healthy",
          "unhealthy",
          "unknown",
        ]),
      )
      .option("--owner <name>", "only origins this member owns"),
  ).action(async (flags: ListFlags) => {
    const origins = await ctx.client(flags).listOrigins({
      ...(flags.status ? { status: flags.status as HealthStatus } : {}),
      ...(flags.owner ? { owner: flags.owner } : {}),
    });
    if (flags.json) return ctx.printJson({ origins });
    ctx.print(originsTable(origins));
  });

  withClientOptions(
    origins.command("get").description("show one origin").argument("<id>", "origin id"),
  ).action(async (id: string, flags: ClientFlags) => {
    const body = await ctx.client(flags).getOrigin(id);
    if (flags.json) return ctx.printJson(body);
    ctx.print(describeOrigin(body));
  });

  withClientOptions(
    origins
      .command("add")
      .description(
        "add an origin, or replace the origin with this id; without an id, add every origin of a file",
      )
      .argument("[id]", "origin id: 1-128 characters of A-Z a-z 0-9 . _ : -")
      .option(
        "-f, --file <path>",
        "with an id: that origin's spec (JSON; flags override its fields); without: a JSON or YAML file " +
          'of many origins, {"origins": [{"id", "url", ...}]} as export writes it (\'-\' for stdin)',
      )
      .addOption(
        new Option(
          "--format <format>",
          "format of a file of many origins (default: by its extension, else sniffed)",
        ).choices(ORIGINS_FILE_FORMATS),
      )
      .option(
        "--chunk-size <n>",
        `origins per request when adding a file (1-${MAX_CHUNK_SIZE}, default ${DEFAULT_CHUNK_SIZE})`,
        chunkSize,
      )
      .option("--url <url>", "http: or https: URL to probe, or tcp://host:port for a connect check")
      .option("--method <method>", "probe method, GET or HEAD (default GET)", method)
      .option("--interval-ms <ms>", "probe interval (default 5000)", integer)
      .option(
        "--timeout-ms <ms>",
        "probe timeout, at most the interval (default min(2000, interval))",
        integer,
      )
      .option(
        "--expect-status <codes>",
        'accepted statuses, codes and ranges, comma separated or repeated (default "200-399")',
        statusList,
      )
      .option("--healthy-threshold <n>", "successes in a row that make it healthy (default 2)", integer)
      .option("--unhealthy-threshold <n>", "failures in a row that make it unhealthy (default 3)", integer)
      .option("--header <name:value>", "request header, repeatable", header)
      .option("--body-contains <text>", "text the response body must contain")
      .option("--fast-interval-ms <ms>", "interval while the status is changing (HAProxy fastinter)", integer)
      .option("--down-interval-ms <ms>", "interval while unhealthy (HAProxy downinter)", integer)
      .option("--host-header <host>", "Host header to send (and TLS server name unless --tls-server-name)")
      .option("--follow-redirects", "follow up to 5 redirects instead of judging the 3xx")
      .option("--fresh-connection", "a new connection for every probe instead of keep-alive")
      .option("--tls-skip-verify", "accept any certificate (https)")
      .option("--tls-ca <file>", "PEM file of the CA certificates to verify the origin against (https)")
      .option("--tls-server-name <name>", "TLS server name (SNI) to send and verify (https)"),
  ).action(async (id: string | undefined, flags: AddFlags) => {
    if (id === undefined) return addFromFile(ctx, flags);
    const spec = await buildSpec(flags, ctx);
    const { created, origin } = await ctx.client(flags).putOrigin(id, spec as OriginSpecInput);
    if (flags.json) return ctx.printJson(origin);
    ctx.print(`${created ? "created" : "replaced"} ${origin.id} (owner ${origin.owner ?? "none"})`);
  });

  withClientOptions(
    origins
      .command("export")
      .description("write every origin's spec to a file (or stdout) that `origins add -f` reads back")
      .option("-o, --output <path>", "file to write (default: stdout)")
      .addOption(
        new Option(
          "--format <format>",
          "json or yaml (default: by the output's extension, else json)",
        ).choices(ORIGINS_FILE_FORMATS),
      ),
  ).action(async (flags: ExportFlags) => {
    let format = flags.format ?? (flags.output === undefined ? undefined : formatOfName(flags.output));
    if (flags.output === undefined && flags.json) {
      if (format === "yaml") throw new UsageError("--json and --format yaml disagree; give one of them");
      format = "json";
    }
    const client = ctx.client(flags);
    const entries = [];
    for await (const view of client.origins()) entries.push(entryOfView(view));
    const text = formatOriginsFile(entries, format ?? "json");
    if (flags.output === undefined) return ctx.io.stdout(text);
    try {
      await writeFile(flags.output, text);
    } catch (err) {
      throw new UsageError(`--output: cannot write ${flags.output}: ${(err as Error).message}`);
    }
    const summary = { exported: entries.length, file: flags.output, format: format ?? "json" };
    if (flags.json) return ctx.printJson(summary);
    ctx.print(`exported ${entries.length} origin${entries.length === 1 ? "" : "s"} to ${flags.output}`);
  });

  withClientOptions(
    origins.command("rm").alias("remove").description("remove an origin").argument("<id>", "origin id"),
  ).action(async (id: string, flags: ClientFlags) => {
    await ctx.client(flags).deleteOrigin(id);
    if (flags.json) return ctx.printJson({ removed: id });
    ctx.print(`removed ${id}`);
  });
}

export function originsTable(origins: readonly OriginView[], now: number = Date.now()): string {
  return table(
    ["id", "status", "owner", "reporter", "latency", "checked", "url"],
    origins.map((o) => [
      o.id,
      o.health.status,
      o.owner ?? "-",
      o.health.reporter ?? "-",
      milliseconds(o.health.latencyMs),
      ago(o.health.checkedAt, now),
      o.url,
    ]),
  );
}

function describeOrigin(o: OriginView, now: number = Date.now()): string {
  const pairs: Array<[string, string]> = [
    ["id", o.id],
    ["url", `${o.method} ${o.url}`],
    ["interval", `${o.intervalMs}ms (timeout ${o.timeoutMs}ms)`],
    ["expect status", o.expectStatus.join(", ")],
    ["thresholds", `healthy after ${o.healthyThreshold}, unhealthy after ${o.unhealthyThreshold}`],
  ];
  for (const [name, value] of Object.entries(o.headers)) pairs.push(["header", `${name}: ${value}`]);
  if (o.bodyContains !== undefined) pairs.push(["body contains", JSON.stringify(o.bodyContains)]);
  if (o.fastIntervalMs !== undefined) pairs.push(["fast interval", `${o.fastIntervalMs}ms`]);
  if (o.downIntervalMs !== undefined) pairs.push(["down interval", `${o.downIntervalMs}ms`]);
  if (o.hostHeader !== undefined) pairs.push(["host header", o.hostHeader]);
  const options = [
    o.followRedirects ? "follow redirects" : "",
    o.freshConnection ? "fresh connection" : "",
    o.tlsSkipVerify ? "TLS unverified" : "",
    o.tlsCa !== undefined ? "pinned CA" : "",
    o.tlsServerName !== undefined ? `TLS server name ${o.tlsServerName}` : "",
  ].filter((x) => x !== "");
  if (options.length > 0) pairs.push(["options", options.join(", ")]);
  pairs.push(
    ["owner", o.owner ?? "-"],
    ["status", o.health.status],
    ["reporter", o.health.reporter ?? "-"],
    ["latency", milliseconds(o.health.latencyMs)],
    [
      "checked",
      o.health.checkedAt === null ? "never" : `${o.health.checkedAt} (${ago(o.health.checkedAt, now)})`,
    ],
    [
      "changed",
      o.health.changedAt === null ? "never" : `${o.health.changedAt} (${ago(o.health.changedAt, now)})`,
    ],
    ["error", o.health.error ?? "-"],
  );
  return keyValues(pairs);
}

/**
 * The spec to send: the file's object (if any) with the flags on top. Values are passed on as
 * given; the agent validates them and names the field it refuses.
 */
/** Spec flags that only make sense for one origin given by id. */
const SPEC_FLAGS = [
  "url",
  "method",
  "intervalMs",
  "timeoutMs",
  "expectStatus",
  "healthyThreshold",
  "unhealthyThreshold",
  "header",
  "bodyContains",
  "fastIntervalMs",
  "downIntervalMs",
  "hostHeader",
  "followRedirects",
  "freshConnection",
  "tlsSkipVerify",
  "tlsCa",
  "tlsServerName",
] as const;

/**
 * `heck origins add -f FILE`: every origin of the file through the batch route, `chunkSize` per
 * request. A chunk is stored all or nothing; on a refused chunk the command stops, names the
 * entry (file line, id, reason) and says how many origins earlier chunks stored.
 */
async function addFromFile(ctx: CliContext, flags: AddFlags): Promise<void> {
  if (flags.file === undefined) {
    throw new UsageError("give an origin id with --url, or --file FILE with many origins");
  }
  const given = SPEC_FLAGS.filter((flag) => flags[flag] !== undefined);
  if (given.length > 0) {
    throw new UsageError(
      `--${kebab(given[0] as string)} applies to one origin: give its id, or put the field in the file's entries`,
    );
  }
  const name = flags.file === "-" ? "stdin" : flags.file;
  let text: string;
  try {
    text = flags.file === "-" ? await ctx.io.readStdin() : await readFile(flags.file, "utf8");
  } catch (err) {
    throw new UsageError(`--file: cannot read ${name}: ${(err as Error).message}`);
  }
  const file = parseOriginsFile(text, name, flags.format ?? formatOfName(name));
  const client = ctx.client(flags);
  const size = flags.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const progress =
    ctx.io.stderrIsTTY && file.origins.length > 0
      ? new ProgressBar(ctx.io.stderr, file.origins.length, "adding origins")
      : undefined;
  let upserted = 0;
  let requests = 0;
  try {
    for (let start = 0; start < file.origins.length; start += size) {
      progress?.update(start);
      const chunk = file.origins.slice(start, start + size);
      try {
        upserted += await client.upsertOrigins(chunk as unknown as OriginInput[]);
      } catch (err) {
        if (!(err instanceof HeckApiError)) throw err;
        progress?.done();
        reportRefusedChunk(ctx, file, err, start, chunk.length, upserted);
        ctx.exitCode = 1;
        return;
      }
      requests++;
    }
    progress?.update(file.origins.length);
  } finally {
    progress?.done();
  }
  if (flags.json) return ctx.printJson({ upserted, requests });
  ctx.print(
    `added or replaced ${upserted} origin${upserted === 1 ? "" : "s"} from ${name} in ${requests} request${requests === 1 ? "" : "s"}`,
  );
}

/** The agent's refusal of one chunk, each refused entry named by file line, index and id. */
function reportRefusedChunk(
  ctx: CliContext,
  file: OriginsFile,
  err: HeckApiError,
  start: number,
  count: number,
  storedBefore: number,
): void {
  const lines: string[] = [];
  if (err.details.length === 0) {
    lines.push(`heck: ${err.message}`);
  } else {
    for (const detail of err.details) {
      const index = start + detail.index;
      const entry = file.origins[index];
      const reason = detail.message.replace(/^origins\[\d+\]:?\s*/, "");
      lines.push(`heck: ${file.where(index)}: origins[${index}] (id "${entry?.id}"): ${reason}`);
    }
  }
  const range = count === 1 ? `origins[${start}]` : `origins[${start}]..origins[${start + count - 1}]`;
  lines.push(
    `heck: nothing of ${range} was stored; ${storedBefore} origin${storedBefore === 1 ? "" : "s"} of earlier requests were. ` +
      "Fix the file and run the command again (adding an origin again replaces it).",
  );
  ctx.io.stderr(`${lines.join("\n")}\n`);
}

function kebab(flag: string): string {
  return flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function chunkSize(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_CHUNK_SIZE) {
    throw new InvalidArgumentError(`not an integer from 1 to ${MAX_CHUNK_SIZE}`);
  }
  return n;
}

async function buildSpec(flags: AddFlags, ctx: CliContext): Promise<Record<string, unknown>> {
  if (flags.file === undefined && flags.url === undefined)
    throw new UsageError("--url or --file is required");
  let spec: Record<string, unknown> = {};
  if (flags.file !== undefined) {
    const source = flags.file === "-" ? "stdin" : flags.file;
    let parsed: unknown;
    try {
      const text = flags.file === "-" ? await ctx.io.readStdin() : await readFile(flags.file, "utf8");
      parsed = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`--file: cannot read a JSON spec from ${source}: ${(err as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new UsageError(`--file: ${source} must hold a JSON object`);
    }
    spec = { ...(parsed as Record<string, unknown>) };
  }
  const fromFlags: Record<string, unknown> = {
    url: flags.url,
    method: flags.method,
    intervalMs: flags.intervalMs,
    timeoutMs: flags.timeoutMs,
    expectStatus: flags.expectStatus,
    healthyThreshold: flags.healthyThreshold,
    unhealthyThreshold: flags.unhealthyThreshold,
    bodyContains: flags.bodyContains,
    fastIntervalMs: flags.fastIntervalMs,
    downIntervalMs: flags.downIntervalMs,
    hostHeader: flags.hostHeader,
    followRedirects: flags.followRedirects,
    freshConnection: flags.freshConnection,
    tlsSkipVerify: flags.tlsSkipVerify,
    tlsServerName: flags.tlsServerName,
  };
  if (flags.tlsCa !== undefined) {
    try {
      fromFlags.tlsCa = await readFile(flags.tlsCa, "utf8");
    } catch (err) {
      throw new UsageError(`--tls-ca: cannot read ${flags.tlsCa}: ${(err as Error).message}`);
    }
  }
  for (const [key, value] of Object.entries(fromFlags)) if (value !== undefined) spec[key] = value;
  if (flags.header) {
    const fileHeaders = typeof spec.headers === "object" && spec.headers !== null ? spec.headers : {};
    spec.headers = { ...fileHeaders, ...flags.header };
  }
  return spec;
}

function method(value: string): string {
  const upper = value.toUpperCase();
  if (upper !== "GET" && upper !== "HEAD") throw new InvalidArgumentError("expected GET or HEAD");
  return upper;
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError("not an integer");
  return Number(value);
}

function statusList(value: string, previous: Array<number | string> | undefined): Array<number | string> {
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
  if (items.length === 0) throw new InvalidArgumentError("expected codes or ranges such as 200,300-399");
  return [...(previous ?? []), ...items.map((item) => (/^\d+$/.test(item) ? Number(item) : item))];
}

function header(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const colon = value.indexOf(":");
  const name = colon < 0 ? "" : value.slice(0, colon).trim();
  if (name === "") throw new InvalidArgumentError("expected NAME:VALUE");
  return { ...previous, [name]: value.slice(colon + 1).trim() };
}
