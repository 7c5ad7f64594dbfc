import { Command, CommanderError, InvalidArgumentError } from "commander";
import { HeckApiError, HeckUnreachableError } from "../client/index.js";
import type { RawSettings } from "../config.js";
import { VERSION } from "../version.js";
import { registerHealthCommand } from "./commands/health.js";
import { registerJoinCommand } from "./commands/join.js";
import { registerKeygenCommand } from "./commands/keygen.js";
import { registerKeysCommand } from "./commands/keys.js";
import { registerLeaveCommand } from "./commands/leave.js";
import { registerMembersCommand } from "./commands/members.js";
import { registerOriginsCommand } from "./commands/origins.js";
import { type CliContext, type CliIo, createContext } from "./context.js";
import { UsageError } from "./errors.js";

/** contract.md "The CLI as a client". */
export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

/**
 * Runs the `heck` command line (arguments after the script name) and resolves with the process
 * exit code. Never exits the process itself, so tests run it in process.
 */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const ctx = createContext({ ...processIo(), ...io });
  try {
    await buildProgram(ctx).parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (err) {
    return report(err, ctx.io);
  } finally {
    await ctx.close();
  }
}

function buildProgram(ctx: CliContext): Command {
  const program = new Command("heck")
    .description("heck: a distributed HTTP health checker")
    .version(VERSION)
    // Commander must report, not exit: main() turns its errors into exit code 2.
    .exitOverride()
    .configureOutput({ writeOut: ctx.io.stdout, writeErr: ctx.io.stderr })
    .showHelpAfterError("(run with --help for usage)");

  registerAgentCommand(program, ctx);
  registerMembersCommand(program, ctx);
  registerOriginsCommand(program, ctx);
  registerHealthCommand(program, ctx);
  registerJoinCommand(program, ctx);
  registerLeaveCommand(program, ctx);
  registerKeygenCommand(program, ctx);
  registerKeysCommand(program, ctx);
  registerDemoCommand(program, ctx);
  return program;
}

/**
 * `heck agent`. Flags have no defaults here: an absent flag must fall through to the environment
 * and the config file (flag > env > file > default), which the agent's config resolution owns.
 * The agent code is imported only when this command runs, so client commands start fast.
 */
function registerAgentCommand(program: Command, ctx: CliContext): void {
  program
    .command("agent")
    .description("run one node")
    .option("--config <file>", "JSON config file, keys in camelCase (env HECK_CONFIG)")
    .option("--name <name>", "unique node name, 1-64 chars [A-Za-z0-9._-] (default: the host name)")
    .option("--bind <host:port>", "gossip address, UDP and TCP on the same port (default 127.0.0.1:7946)")
    .option(
      "--advertise <host:port>",
      "address other nodes use to reach this one (default: the bind address)",
    )
    .option(
      "--http <host:port>",
      "HTTP API, dashboard and metrics; port 0 = any free port (default 127.0.0.1:8700)",
    )
    .option("--join <host:port>", "a node to join at start; repeatable or comma separated", collect)
    .option("--data-dir <path>", "durable state (default ./heck-data/<name>)")
    .option("--profile <profile>", "timing preset: lan, wan or local (default lan)")
    .option("--encrypt <key>", "base64 gossip key of 16, 24 or 32 bytes (see heck keygen)")
    .option(
      "--insecure-gossip",
      "allow plain-text gossip on an address beyond loopback (without it such an agent refuses to start)",
    )
    .option("--api-token <token>", "require Authorization: Bearer <token> on the HTTP API")
    .option("--log-level <level>", "debug, info, warn or error (default info)")
    .option(
      "--deny-private-targets",
      "refuse probe targets in loopback, link-local, private and unique-local ranges",
    )
    .option("--max-origins <n>", "the most origins the cluster takes (default 1000000)")
    .option(
      "--probe-jitter-percent <p>",
      "random jitter of each probe, percent of its interval, 0 to 50 (default 0: every probe on the origin's grid)",
    )
    .option(
      "--heap-growth-percent <p>",
      "how far the JavaScript heap grows past its live size between full collections, 0 to 300 (default 20; 0: V8's own sizing)",
    )
    .action(async (flags: RawSettings) => {
      const { runAgentCommand } = await import("./commands/agent.js");
      ctx.exitCode = await runAgentCommand(flags);
    });
}

function registerDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command("demo")
    .description("start three agents on loopback with demo origins and print the dashboard URL")
    .option("--agents <n>", "number of agents (default 3)", positiveInteger)
    .option(
      "--http-port <port>",
      "HTTP port of the first agent; the others take the next ones (default 8700)",
      port,
    )
    .option(
      "--gossip-port <port>",
      "gossip port of the first agent; the others take the next ones (default 7946)",
      port,
    )
    .action(async (flags: { agents?: number; httpPort?: number; gossipPort?: number }) => {
      const { runDemoCommand } = await import("./commands/demo.js");
      ctx.exitCode = await runDemoCommand({
        ...(flags.agents === undefined ? {} : { agents: flags.agents }),
        ...(flags.httpPort === undefined ? {} : { httpPort: flags.httpPort }),
        ...(flags.gossipPort === undefined ? {} : { gossipPort: flags.gossipPort }),
      });
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError("not a positive integer");
  return Number(value);
}

function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError("not a port from 1 to 65535");
  }
  return Number(value);
}

/** Prints what went wrong (commander has already printed its own errors) and picks the exit code. */
function report(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (err instanceof UsageError) {
    io.stderr(`heck: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof HeckUnreachableError) {
    io.stderr(`heck: ${err.message}\n`);
    return EXIT_UNREACHABLE;
  }
  if (err instanceof HeckApiError) {
    const more = err.details.length > 1 ? err.details.map((d) => `  ${d.message}\n`).join("") : "";
    io.stderr(`heck: ${err.message}\n${more}`);
    return EXIT_REFUSED;
  }
  io.stderr(`heck: ${(err as Error).message ?? String(err)}\n`);
  return EXIT_REFUSED;
}

function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    stderrIsTTY: process.stderr.isTTY === true,
    onInterrupt(listener) {
      let called = false;
      const once = () => {
        if (called) return;
        called = true;
        listener();
      };
      process.on("SIGINT", once);
      process.on("SIGTERM", once);
      return () => {
        process.off("SIGINT", once);
        process.off("SIGTERM", once);
      };
    },
  };
}
