import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import type { CliContext } from "../context.js";

/** AES-256-GCM: the longest key `--encrypt` accepts. */
const KEY_BYTES = 32;

/** `heck keygen`: a fresh gossip encryption key for `heck agent --encrypt`. */
export function registerKeygenCommand(program: Command, ctx: CliContext): void {
  program
    .command("keygen")
    .description(`print a random base64 ${KEY_BYTES}-byte key for --encrypt`)
    .option("--json", 'machine-readable output: {"key": "..."}')
    .action((flags: { json?: boolean }) => {
      const key = randomBytes(KEY_BYTES).toString("base64");
      if (flags.json) ctx.printJson({ key });
      else ctx.print(key);
    });
}
