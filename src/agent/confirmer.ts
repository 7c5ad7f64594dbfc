import type { Prober } from "../core/checks/prober.js";
import type { Logger } from "../core/env.js";
import { rendezvousWeight } from "../core/ownership/rendezvous.js";
import type { Replicator } from "../core/state/replication.js";
import { isName } from "../core/state/state-wire.js";
import type { OriginSpec } from "../core/state/types.js";

/** heck message kinds of the exchange (after the state's 0-2, docs/architecture.md). */
export const KIND_CONFIRM_REQUEST = 3;
export const KIND_CONFIRM_ANSWER = 4;

/** Members asked in turn before a failure counts as unconfirmed. */
const MAX_ASKED = 2;
/** Beyond the probe's own timeout, how long an answer may take to come back. */
const ANSWER_SLACK_MS = 2000;

export interface ConfirmAnswer {
  by: string;
  failed: boolean;
}

export interface ConfirmerOptions {
  self: string;
  replicator: Replicator;
  prober: Prober;
  /** Members that may own origins, this node included. */
  members(): readonly string[];
  log: Logger;
}

/**
 * Confirmation from a second vantage point: before an owner turns an origin `unhealthy`, it asks
 * the next member in the origin's rendezvous order (the one that would own it after this node) to
 * probe once, and the one after that if the first does not answer. That member probes with its own
 * network and answers whether its probe failed too.
 *
 *     request  [3, asker, requestId, originId]
 *     answer   [4, answerer, requestId, failed (0|1), error | null]
 */
export class Confirmer {
  readonly #o: ConfirmerOptions;
  readonly #pending = new Map<
    number,
    { resolve: (a: ConfirmAnswer | undefined) => void; timer: NodeJS.Timeout }
  >();
  #nextId = 1;
  #stopped = false;

  constructor(options: ConfirmerOptions) {
    this.#o = options;
    options.replicator.handle(KIND_CONFIRM_REQUEST, (m) => this.#onRequest(m));
    options.replicator.handle(KIND_CONFIRM_ANSWER, (m) => this.#onAnswer(m));
  }

  /**
   * The members that would own `originId` after this node, best first (rendezvous order without
   * us), at most `n` of them.
   */
  confirmersOf(originId: string, n = MAX_ASKED): string[] {
    return this.#o
      .members()
      .filter((m) => m !== this.#o.self)
      .map((m) => ({ m, w: rendezvousWeight(originId, m) }))
      .sort((a, b) => (a.w === b.w ? (a.m < b.m ? 1 : -1) : a.w > b.w ? -1 : 1))
      .slice(0, n)
      .map((x) => x.m);
  }

  /**
   * Asks the origin's next member in rendezvous order to probe it once, and the one after it if
   * the first does not answer in time; undefined when nobody answered.
   */
  async ask(originId: string): Promise<ConfirmAnswer | undefined> {
    for (const peer of this.confirmersOf(originId)) {
      const answer = await this.#askOne(peer, originId);
      if (answer) return answer;
    }
    return undefined;
  }

  #askOne(peer: string, originId: string): Promise<ConfirmAnswer | undefined> {
    const spec = this.#o.replicator.origin(originId)?.spec;
    if (this.#stopped || spec === undefined) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#settle(id, undefined), spec.timeoutMs + ANSWER_SLACK_MS);
      timer.unref();
      this.#pending.set(id, { resolve, timer });
      const sent = this.#o.replicator.send(
        peer,
        [KIND_CONFIRM_REQUEST, this.#o.self, id, originId],
        (err) => {
          if (err) this.#settle(id, undefined);
        },
      );
      if (!sent) this.#settle(id, undefined);
    });
  }

  /** Answers nothing more; pending questions resolve as unanswered. Safe twice. */
  stop(): void {
    this.#stopped = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined);
  }

  #settle(id: number, answer: ConfirmAnswer | undefined): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(answer);
  }

  #onRequest(m: unknown[]): void {
    const [, asker, requestId, originId] = m;
    if (m.length !== 4 || !isName(asker) || !Number.isSafeInteger(requestId) || !isName(originId)) return;
    const spec: OriginSpec | undefined = this.#o.replicator.origin(originId)?.spec;
    if (this.#stopped || spec === undefined) return;
    this.#o.prober.probe(spec, AbortSignal.timeout(spec.timeoutMs + ANSWER_SLACK_MS)).then(
      (result) => {
        this.#o.replicator.send(asker, [
          KIND_CONFIRM_ANSWER,
          this.#o.self,
          requestId,
          result.ok ? 0 : 1,
          result.error,
        ]);
      },
      (err) =>
        this.#o.log.debug("confirmation probe failed to run", { origin: originId, error: String(err) }),
    );
  }

  #onAnswer(m: unknown[]): void {
    const [, by, requestId, failed] = m;
    if (m.length !== 5 || !isName(by) || !Number.isSafeInteger(requestId) || (failed !== 0 && failed !== 1))
      return;
    this.#settle(requestId as number, { by, failed: failed === 1 });
  }
}
