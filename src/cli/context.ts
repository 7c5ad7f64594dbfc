import type { Command } from "commander";
import { DEFAULT_BASE_URL, HeckClient } from "../client/index.js";
import { UsageError } from "./errors.js";

const DEFAULT_HTTP_ADDRESS = DEFAULT_BASE_URL;

/** Where a CLI run reads and writes; tests pass their own to capture output. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** The whole of standard input (for `--file -`). */
  readStdin(): Promise<string>;
  /** Whether stderr is a terminal: progress bars are drawn only there. */
  stderrIsTTY: boolean;
  /**
   * Calls `listener` once on Ctrl-C (SIGINT) or SIGTERM, in place of the default exit, until the
   * returned function is called.
   */
  onInterrupt(listener: () => void): () => void;
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
  /** Releases the connection pools of the clients the command opened. */
  close(): Promise<void>;
}

/**
 * An agent that accepts the connection but never answers is as unreachable as one that refuses
 * it; join is the slowest call (a push-pull with each seed), far below this.
 */
const RESPONSE_TIMEOUT_MS = 30_000;

export function createContext(io: CliIo): CliContext {
  const clients: HeckClient[] = [];
  return {
    io,
    exitCode: 0,
    client(flags) {
      const http = flags.http ?? io.env.HECK_HTTP_ADDR ?? DEFAULT_HTTP_ADDRESS;
      let client: HeckClient;
      try {
        client = new HeckClient({
          baseUrl: http,
          apiToken: flags.apiToken ?? io.env.HECK_API_TOKEN,
          timeoutMs: RESPONSE_TIMEOUT_MS,
        });
      } catch (err) {
        throw new UsageError(`--http: ${(err as Error).message}`);
      }
      clients.push(client);
      return client;
    },
    print(text) {
      io.stdout(text.endsWith("\n") ? text : `${text}\n`);
    },
    printJson(value) {
      io.stdout(`${JSON.stringify(value, null, 2)}\n`);
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
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
