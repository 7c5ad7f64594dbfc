import type { Command } from "commander";
import { parseAddress } from "../../core/address.js";
import type { CliContext, ClientFlags } from "../context.js";
import { withClientOptions } from "../context.js";
import { UsageError } from "../errors.js";

/** `heck join ADDR...`: asks the agent to join the cluster through these gossip addresses. */
export function registerJoinCommand(program: Command, ctx: CliContext): void {
  withClientOptions(
    program
      .command("join")
      .description("make the agent join a cluster through one or more members' gossip addresses")
      .argument("<address...>", "gossip HOST:PORT of a member (repeat or comma separate)"),
  ).action(async (texts: string[], flags: ClientFlags) => {
    const addresses = texts
      .flatMap((t) => t.split(","))
      .map((t) => t.trim())
      .filter((t) => t !== "");
    for (const address of addresses) {
      if (!parseAddress(address)) throw new UsageError(`${JSON.stringify(address)} is not HOST:PORT`);
    }
    const body = { joined: await ctx.client(flags).join(addresses) };
    if (flags.json) ctx.printJson(body);
    else
      ctx.print(`joined ${body.joined} of ${addresses.length} address${addresses.length === 1 ? "" : "es"}`);
    // As `consul join`: reaching nobody is a failure, even though the agent answered.
    if (body.joined === 0) {
      if (!flags.json) ctx.io.stderr("heck: no address answered the join\n");
      ctx.exitCode = 1;
    }
  });
}
