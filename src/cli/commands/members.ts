import type { Command } from "commander";
import type { CliContext, ClientFlags } from "../context.js";
import { withClientOptions } from "../context.js";
import { table } from "../format.js";

interface MembersResponse {
  members: Array<{ name: string; address: string; status: string; incarnation: number }>;
}

/** `heck members`: the cluster as the agent sees it, itself included. */
export function registerMembersCommand(program: Command, ctx: CliContext): void {
  withClientOptions(
    program.command("members").description("list cluster members as the agent sees them"),
  ).action(async (flags: ClientFlags) => {
    const { body } = await ctx.client(flags).get<MembersResponse>("/v1/members");
    if (flags.json) return ctx.printJson(body);
    ctx.print(
      table(
        ["name", "address", "status", "incarnation"],
        body.members.map((m) => [m.name, m.address, m.status, String(m.incarnation)]),
      ),
    );
  });
}
