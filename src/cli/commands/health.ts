import type { Command } from "commander";
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
      .argument("[id]", "origin id"),
  ).action(async (id: string | undefined, flags: ClientFlags) => {
    const client = ctx.client(flags);
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
