import type { Command } from "commander";
import type { KeyReport } from "../../agent/keys.js";
import type { CliContext, ClientFlags } from "../context.js";
import { withClientOptions } from "../context.js";
import { table } from "../format.js";

const DONE: Record<Exclude<KeyReport["operation"], "list">, string> = {
  install: "installed the key on",
  use: "made the key primary on",
  remove: "removed the key from",
};

/**
 * `heck keys list|install|use|remove`: the gossip keyring of every member, Serf agents
 * included, as `serf keys`. Rotation: install the new key, use it, remove the old one. Exits 1
 * when a member refused or did not answer.
 */
export function registerKeysCommand(program: Command, ctx: CliContext): void {
  const keys = program
    .command("keys")
    .description("list or rotate the gossip encryption keys of every member (as serf keys)");

  withClientOptions(
    keys.command("list").description("every key installed in the cluster, and on how many members"),
  ).action(async (flags: ClientFlags) => {
    const body = await ctx.client(flags).keys();
    report(ctx, flags, body);
  });

  const change = (name: "install" | "use" | "remove", description: string) =>
    withClientOptions(keys.command(name).description(description).argument("<key>", "base64 key")).action(
      async (key: string, flags: ClientFlags) => {
        const body = await ctx.client(flags).changeKey(name, key);
        report(ctx, flags, body);
      },
    );
  change("install", "install a key on every member, for decryption only");
  change("use", "make an installed key the primary key, which every member encrypts with");
  change("remove", "remove a key from every member (not the primary key)");
}

function report(ctx: CliContext, flags: ClientFlags, body: KeyReport): void {
  if (!body.ok) ctx.exitCode = 1;
  if (flags.json) {
    ctx.printJson(body);
    return;
  }
  if (body.operation === "list") {
    ctx.print(
      table(
        ["key", "installed", "primary"],
        body.keys.map((k) => [k.key, `${k.members}/${body.members}`, `${k.primary}/${body.members}`]),
      ),
    );
  } else {
    ctx.print(`${DONE[body.operation]} ${body.responses - body.failures.length} of ${body.members} members`);
  }
  for (const m of body.messages) ctx.io.stderr(`heck: ${m.node}: ${m.message}\n`);
  for (const f of body.failures) ctx.io.stderr(`heck: ${f.node} failed: ${f.message}\n`);
  const silent = body.members - body.responses;
  if (silent > 0) ctx.io.stderr(`heck: ${silent} of ${body.members} members did not answer\n`);
}
