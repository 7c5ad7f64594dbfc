import type { Command } from "commander";
import type { Agent } from "undici";
import { createDispatcher, DEFAULT_HTTP_ADDRESS, HeckClient } from "./client.js";

/** Where a CLI run reads and writes; tests pass their own to capture output. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** The whole of standard input (for `--file -`). */
  readStdin(): Promise<string>;
}

/** The flags every client command takes. */
export interface ClientFlags {
  http?: string;
  apiToken?: string;
  json?: boolean;
}

/** What a command needs from the run it belongs to. */
export interface CliContext {
  readonly io: CliIo;
  /** The process exit code once the command returns; client commands leave 0 or throw. */
  exitCode: number;
  /** A client for `--http` (else HECK_HTTP_ADDR, else 127.0.0.1:8700) and `--api-token` (else HECK_API_TOKEN). */
  client(flags: ClientFlags): HeckClient;
  /** Writes a line (or lines) to stdout. */
  print(text: string): void;
  /** Writes a value as indented JSON to stdout (the `--json` output). */
  printJson(value: unknown): void;
  /** Releases the connection pool, if a command opened one. */
  close(): Promise<void>;
}

export function createContext(io: CliIo): CliContext {
  let dispatcher: Agent | undefined;
  return {
    io,
    exitCode: 0,
    client(flags) {
      dispatcher ??= createDispatcher();
      return new HeckClient(
        {
          http: flags.http ?? io.env.HECK_HTTP_ADDR ?? DEFAULT_HTTP_ADDRESS,
          apiToken: flags.apiToken ?? io.env.HECK_API_TOKEN,
        },
        dispatcher,
      );
    },
    print(text) {
      io.stdout(text.endsWith("\n") ? text : `${text}\n`);
    },
    printJson(value) {
      io.stdout(`${JSON.stringify(value, null, 2)}\n`);
    },
    async close() {
      await dispatcher?.close();
    },
  };
}

/** Adds `--http`, `--api-token` and `--json` to a command that talks to an agent. */
export function withClientOptions(command: Command): Command {
  return command
    .option("--http <host:port>", `agent HTTP API (env HECK_HTTP_ADDR, default ${DEFAULT_HTTP_ADDRESS})`)
    .option("--api-token <token>", "bearer token of an agent started with --api-token (env HECK_API_TOKEN)")
    .option("--json", "machine-readable JSON output");
}
