import type { Command } from "commander";
import type { CliContext, ClientFlags } from "../context.js";
import { withClientOptions } from "../context.js";
import { table } from "../format.js";

/** `heck members`: the cluster as the agent sees it, itself included. */
export function registerMembersCommand(program: Command, ctx: CliContext): void {
  withClientOptions(
    program.command("members").description("list cluster members as the agent sees them"),
  ).action(async (flags: ClientFlags) => {
    const body = { members: await ctx.client(flags).members() };
    if (flags.json) return ctx.printJson(body);
    ctx.print(
      table(
        ["name", "address", "status", "incarnation"],
        body.members.map((m) => [m.name, m.address, m.status, String(m.incarnation)]),
      ),
    );
  });
}
