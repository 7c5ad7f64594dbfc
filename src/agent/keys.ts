import type { Logger } from "../core/env.js";
import type { QueryOptions } from "../core/membership/queries.js";
import {
  decodeKeyRequest,
  decodeKeyResponse,
  encodeKeyRequest,
  encodeKeyResponse,
  KeyQuery,
  type NodeKeyResponse,
} from "../core/membership/serf-query.js";
import { HeckError, ValidationError } from "../errors.js";
import { type Keyring, KeyringError, parseKey } from "../wire/crypto.js";

/**
 * The gossip keyring at run time, as Serf's key manager: `heck keys` and the `/v1/keys` routes
 * send Serf's key queries to every member (Serf agents included) and add up the answers, and this
 * node answers the same queries from anyone (`serf keys` included) by changing its own keyring
 * and saving it.
 */

export type KeyOperation = "list" | "install" | "use" | "remove";

/** One key as the cluster holds it. */
export interface KeyCount {
  key: string;
  /** Members that have it installed. */
  members: number;
  /** Members that use it as their primary key. */
  primary: number;
}

/** What the members answered to one key operation. */
export interface KeyReport {
  operation: KeyOperation;
  /** Every member answered, and each without an error. */
  ok: boolean;
  /** Members (alive or suspect, ourselves included) asked. */
  members: number;
  responses: number;
  /** Members that answered with an error, and what they said. */
  failures: Array<{ node: string; message: string }>;
  /** Warnings of members that succeeded. */
  messages: Array<{ node: string; message: string }>;
  /** list: the keys installed anywhere, most widely held first. */
  keys: KeyCount[];
}

/** The node holds no keyring: gossip is plain text, and there is nothing to rotate. */
export class KeyringUnavailableError extends HeckError {
  constructor() {
    super(
      "keyring_unavailable",
      "gossip encryption is not enabled on this node (start it with --encrypt KEY); there is no keyring to change",
    );
    this.name = "KeyringUnavailableError";
  }
}

const QUERY_OF: Record<KeyOperation, string> = {
  list: KeyQuery.list,
  install: KeyQuery.install,
  use: KeyQuery.use,
  remove: KeyQuery.remove,
};

const OPERATION_OF = new Map<string, KeyOperation>(
  Object.entries(QUERY_OF).map(([op, name]) => [name, op as KeyOperation]),
);

const b64 = (key: Uint8Array) => Buffer.from(key).toString("base64");

export interface KeyManagerOptions {
  /** Undefined when gossip is not encrypted. */
  keyring: Keyring | undefined;
  /** Saves the keyring after each change; throws on failure. */
  save: (keys: Uint8Array[]) => void;
  /** Sends a query to every member (Swim.query). */
  query: (options: QueryOptions) => void;
  /** How long to wait for the members' answers. */
  timeoutMs: () => number;
  log: Logger;
}

export class KeyManager {
  readonly #keyring: Keyring | undefined;
  readonly #options: KeyManagerOptions;
  /** One cluster-wide operation at a time, as Serf's key manager holds a lock. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: KeyManagerOptions) {
    this.#keyring = options.keyring;
    this.#options = options;
  }

  get enabled(): boolean {
    return this.#keyring !== undefined;
  }

  /**
   * Runs one operation across the cluster. Refused before anything is sent (and so changing
   * nothing anywhere) when this node has no keyring, when the key is not base64 of 16, 24 or 32
   * bytes, when `use` names a key this node has not installed, and when `remove` names this
   * node's primary key.
   */
  run(operation: KeyOperation, keyText?: string): Promise<KeyReport> {
    const keyring = this.#keyring;
    if (!keyring) return Promise.reject(new KeyringUnavailableError());
    let key: Uint8Array = new Uint8Array(0);
    if (operation !== "list") {
      if (typeof keyText !== "string" || keyText.trim() === "") {
        return Promise.reject(new ValidationError("key: a base64 key is required", "key"));
      }
      try {
        key = parseKey(keyText);
      } catch (err) {
        return Promise.reject(new ValidationError(`key: ${(err as Error).message}`, "key"));
      }
      if (operation === "use" && !keyring.has(key)) {
        return Promise.reject(
          new ValidationError("key: not installed on this node; install it first (heck keys install)", "key"),
        );
      }
      if (operation === "remove" && b64(keyring.primary()) === b64(key)) {
        return Promise.reject(
          new ValidationError(
            "key: is the primary key, which cannot be removed; make another key primary first (heck keys use)",
            "key",
          ),
        );
      }
    }
    const run = this.#queue.then(() => this.#ask(operation, key));
    this.#queue = run.catch(() => {});
    return run;
  }

  #ask(operation: KeyOperation, key: Uint8Array): Promise<KeyReport> {
    return new Promise((resolve) => {
      const report: KeyReport = {
        operation,
        ok: false,
        members: 0,
        responses: 0,
        failures: [],
        messages: [],
        keys: [],
      };
      const installed = new Map<string, KeyCount>();
      const count = (k: string) => {
        const known = installed.get(k);
        if (known) return known;
        const c = { key: k, members: 0, primary: 0 };
        installed.set(k, c);
        return c;
      };
      this.#options.query({
        name: QUERY_OF[operation],
        payload: encodeKeyRequest(key),
        timeoutMs: this.#options.timeoutMs(),
        onResponse: (from, payload) => {
          report.responses++;
          let answer: NodeKeyResponse;
          try {
            answer = decodeKeyResponse(payload);
          } catch {
            report.failures.push({ node: from, message: "unreadable key query response" });
            return;
          }
          if (!answer.result) report.failures.push({ node: from, message: answer.message });
          else if (answer.message !== "") report.messages.push({ node: from, message: answer.message });
          for (const k of answer.keys) count(k).members++;
          if (answer.primaryKey !== "") count(answer.primaryKey).primary++;
        },
        done: (expected) => {
          report.members = expected;
          report.ok = report.failures.length === 0 && report.responses >= expected;
          report.keys = [...installed.values()]
            .filter((c) => c.members > 0)
            .sort((a, b) => b.members - a.members || b.primary - a.primary || (a.key < b.key ? -1 : 1));
          report.failures.sort((a, b) => (a.node < b.node ? -1 : 1));
          resolve(report);
        },
      });
    });
  }

  /** Answers a key query addressed to this node (Swim's query handler). Never throws. */
  handleQuery(name: string, payload: Uint8Array): Uint8Array | undefined {
    const operation = OPERATION_OF.get(name);
    if (!operation) return undefined;
    return encodeKeyResponse(this.#apply(operation, payload));
  }

  #apply(operation: KeyOperation, payload: Uint8Array): NodeKeyResponse {
    const keyring = this.#keyring;
    const failed = (message: string): NodeKeyResponse => ({
      result: false,
      message,
      keys: [],
      primaryKey: "",
    });
    if (!keyring) {
      return failed(
        operation === "list"
          ? "Keyring is empty (encryption not enabled)"
          : "No keyring to modify (encryption not enabled)",
      );
    }
    if (operation === "list") {
      return { result: true, message: "", keys: keyring.list().map(b64), primaryKey: b64(keyring.primary()) };
    }
    let key: Uint8Array;
    try {
      key = decodeKeyRequest(payload);
    } catch {
      return failed("Failed to decode key request");
    }
    try {
      const changed =
        operation === "install"
          ? keyring.install(key)
          : operation === "use"
            ? this.#use(keyring, key)
            : keyring.remove(key);
      if (changed) {
        this.#options.save(keyring.list());
        this.#options.log.info("gossip keyring changed", { operation, keys: keyring.list().length });
      }
      return { result: true, message: "", keys: [], primaryKey: "" };
    } catch (err) {
      if (!(err instanceof KeyringError)) {
        this.#options.log.error("saving the keyring failed", { error: String(err) });
      }
      return failed(err instanceof Error ? err.message : String(err));
    }
  }

  #use(keyring: Keyring, key: Uint8Array): boolean {
    const was = b64(keyring.primary());
    keyring.use(key);
    return was !== b64(key);
  }
}
