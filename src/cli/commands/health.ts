import type { Command } from "commander";
import { type HeckEvent, HeckUnreachableError } from "../../client/index.js";
import type { HealthStatus } from "../../core/state/types.js";
import type { CliContext, ClientFlags } from "../context.js";
import { withClientOptions } from "../context.js";
import { ago, keyValues, milliseconds, table } from "../format.js";

/** `heck health [ID]`: the health of every origin with a summary line, or of one origin. */
export function registerHealthCommand(program: Command, ctx: CliContext): void {
  withClientOptions(
    program
      .command("health")
      .description("show the health of every origin, or of one")
      .argument("[id]", "origin id")
      .option(
        "-w, --watch",
        "follow the event stream: one row per status change (JSON lines with --json) until Ctrl-C",
      ),
  ).action(async (id: string | undefined, flags: ClientFlags & { watch?: boolean }) => {
    const client = ctx.client(flags);
    if (flags.watch) return watch(ctx, client, id, flags.json === true);
    if (id !== undefined) {
      const body = await client.getOrigin(id);
      if (flags.json) return ctx.printJson({ id: body.id, health: body.health });
      const h = body.health;
      ctx.print(
        keyValues([
          ["id", body.id],
          ["status", h.status],
          ["reporter", h.reporter ?? "-"],
          ["latency", milliseconds(h.latencyMs)],
          ["checked", ago(h.checkedAt)],
          ["changed", ago(h.changedAt)],
          ["error", h.error ?? "-"],
        ]),
      );
      return;
    }

    const body = { origins: await client.listOrigins() };
    if (flags.json) {
      return ctx.printJson({
        origins: body.origins.map((o) => ({ id: o.id, owner: o.owner, health: o.health })),
      });
    }
    const counts: Record<HealthStatus, number> = { healthy: 0, unhealthy: 0, unknown: 0 };
    for (const o of body.origins) counts[o.health.status]++;
    const now = Date.now();
    const rows = body.origins.map((o) => [
      o.id,
      o.health.status,
      o.health.reporter ?? "-",
      milliseconds(o.health.latencyMs),
      ago(o.health.checkedAt, now),
      ago(o.health.changedAt, now),
      o.health.error ?? "",
    ]);
    ctx.print(table(["id", "status", "reporter", "latency", "checked", "changed", "error"], rows));
    ctx.print(`\n${counts.healthy} healthy, ${counts.unhealthy} unhealthy, ${counts.unknown} unknown`);
  });
}

/** Columns of a watched event; fixed widths, since rows are printed one at a time. */
const WATCH_COLUMNS: ReadonlyArray<readonly [string, number]> = [
  ["time", 24],
  ["event", 6],
  ["name", 24],
  ["status", 9],
  ["previous", 9],
  ["reporter", 0],
];

function watchRow(cells: readonly string[]): string {
  return cells
    .map((cell, i) => cell.padEnd(WATCH_COLUMNS[i]?.[1] ?? 0))
    .join("  ")
    .trimEnd();
}

/**
 * `heck health --watch [ID]`: health changes (of one origin, or of all with membership changes
 * too) as the agent streams them. Ctrl-C ends it with exit code 0; the agent closing the stream
 * (it stopped) is exit code 3, as no agent is then reachable.
 */
async function watch(
  ctx: CliContext,
  client: ReturnType<CliContext["client"]>,
  id: string | undefined,
  json: boolean,
): Promise<void> {
  const stop = new AbortController();
  const dispose = ctx.io.onInterrupt(() => stop.abort());
  try {
    const onOpen = () => {
      ctx.io.stderr(`following events from ${client.baseUrl.origin}; Ctrl-C stops\n`);
      if (!json) ctx.print(watchRow(WATCH_COLUMNS.map(([name]) => name.toUpperCase())));
    };
    for await (const event of client.events({ signal: stop.signal, onOpen })) {
      if (id !== undefined && (event.kind !== "health" || event.id !== id)) continue;
      if (json) ctx.io.stdout(`${JSON.stringify(event)}\n`);
      else ctx.print(watchRow(eventCells(event)));
    }
  } finally {
    dispose();
  }
  if (!stop.signal.aborted) {
    throw new HeckUnreachableError(
      `the agent at ${client.baseUrl.origin} closed the event stream (stopped?)`,
    );
  }
}

function eventCells(event: HeckEvent): string[] {
  if (event.kind === "health") {
    return [event.at, "health", event.id, event.status, event.previous, event.reporter ?? "-"];
  }
  return [event.at, "member", event.name, event.status, "", ""];
}
