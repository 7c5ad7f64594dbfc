import type { Command } from "commander";
import type { CliContext, ClientFlags } from "../context.js";
import { withClientOptions } from "../context.js";

/** `heck leave`: the agent leaves the cluster gracefully and shuts down, as on SIGTERM. */
export function registerLeaveCommand(program: Command, ctx: CliContext): void {
  withClientOptions(
    program.command("leave").description("make the agent leave the cluster gracefully and stop"),
  ).action(async (flags: ClientFlags) => {
    const body = await ctx.client(flags).leave();
    if (flags.json) ctx.printJson(body);
    else ctx.print("the agent is leaving the cluster");
  });
}
