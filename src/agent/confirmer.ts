import type { Prober } from "../core/checks/prober.js";
import type { Logger } from "../core/env.js";
import { rendezvousWeight } from "../core/ownership/rendezvous.js";
import type { Replicator } from "../core/state/replication.js";
import { isName } from "../core/state/state-wire.js";

/** heck message kinds of the exchange (after the state's 0-2, docs/architecture.md). */
export const KIND_CONFIRM_REQUEST = 3;
export const KIND_CONFIRM_ANSWER = 4;

/** Members asked in turn before a failure counts as unconfirmed. */
const MAX_ASKED = 2;
/** Beyond the probe's own timeout, how long an answer may take to come back. */
const ANSWER_SLACK_MS = 2000;
/** Questions (and answers) for one member within this window travel in one message. */
const BATCH_WINDOW_MS = 20;
/** Questions or answers in one message at most. */
const MAX_BATCH = 1000;
/** Confirmation probes this node runs at once for others; the rest wait their turn. */
const MAX_CONFIRM_PROBES = 128;

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

interface Outbox {
  items: unknown[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * Confirmation from a second vantage point: before an owner turns an origin `unhealthy`, it asks
 * the next member in the origin's rendezvous order (the one that would own it after this node) to
 * probe once, and the one after that if the first does not answer. That member probes with its own
 * network and answers whether its probe failed too. Questions and answers to one member are
 * batched, so that the first probes of a large catalog, or a mass outage, cost a few messages and
 * not one stream per origin:
 *
 *     questions  [3, asker, [requestId, originId, ...]]
 *     answers    [4, answerer, [requestId, failed (0|1), ...]]
 */
export class Confirmer {
  readonly #o: ConfirmerOptions;
  readonly #pending = new Map<
    number,
    { resolve: (a: ConfirmAnswer | undefined) => void; timer: NodeJS.Timeout }
  >();
  readonly #questions = new Map<string, Outbox>();
  readonly #answers = new Map<string, Outbox>();
  /** Confirmation probes waiting for a slot: [asker, requestId, originId]. */
  readonly #waiting: Array<[string, number, string]> = [];
  #running = 0;
  #nextId = 1;
  #stopped = false;

  constructor(options: ConfirmerOptions) {
    this.#o = options;
    options.replicator.handle(KIND_CONFIRM_REQUEST, (m) => this.#onQuestions(m));
    options.replicator.handle(KIND_CONFIRM_ANSWER, (m) => this.#onAnswers(m));
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

  /** Answers nothing more; pending questions resolve as unanswered. Safe twice. */
  stop(): void {
    this.#stopped = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined);
    for (const box of [...this.#questions.values(), ...this.#answers.values()]) clearTimeout(box.timer);
    this.#questions.clear();
    this.#answers.clear();
    this.#waiting.length = 0;
  }

  #askOne(peer: string, originId: string): Promise<ConfirmAnswer | undefined> {
    const spec = this.#o.replicator.origin(originId)?.spec;
    if (this.#stopped || spec === undefined) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#settle(id, undefined), spec.timeoutMs + ANSWER_SLACK_MS);
      timer.unref();
      this.#pending.set(id, { resolve, timer });
      this.#post(this.#questions, KIND_CONFIRM_REQUEST, peer, [id, originId]);
    });
  }

  /**
   * Adds `pair` to the message for `peer`, sent after the batch window or once full. Questions in
   * a message that cannot be sent are settled as unanswered.
   */
  #post(boxes: Map<string, Outbox>, kind: number, peer: string, pair: unknown[]): void {
    let box = boxes.get(peer);
    if (!box) {
      box = { items: [], timer: undefined };
      boxes.set(peer, box);
    }
    box.items.push(...pair);
    const flush = () => {
      const b = boxes.get(peer);
      if (!b) return;
      boxes.delete(peer);
      clearTimeout(b.timer);
      const asked = kind === KIND_CONFIRM_REQUEST ? b.items.filter((_, i) => i % 2 === 0) : [];
      const sent = this.#o.replicator.send(peer, [kind, this.#o.self, b.items], (err) => {
        if (err) for (const id of asked) this.#settle(id as number, undefined);
      });
      if (!sent) for (const id of asked) this.#settle(id as number, undefined);
    };
    if (box.items.length >= 2 * MAX_BATCH) flush();
    else if (box.timer === undefined) {
      box.timer = setTimeout(flush, BATCH_WINDOW_MS);
      box.timer.unref();
    }
  }

  #settle(id: number, answer: ConfirmAnswer | undefined): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(answer);
  }

  #onQuestions(m: unknown[]): void {
    const [, asker, items] = m;
    if (m.length !== 3 || !isName(asker) || !Array.isArray(items) || items.length % 2 !== 0) return;
    if (this.#stopped || items.length > 2 * MAX_BATCH) return;
    for (let i = 0; i < items.length; i += 2) {
      const requestId = items[i];
      const originId = items[i + 1];
      if (!Number.isSafeInteger(requestId) || !isName(originId)) continue;
      this.#waiting.push([asker, requestId as number, originId]);
    }
    this.#runWaiting();
  }

  /** Probes the waiting questions, at most MAX_CONFIRM_PROBES at once, and posts the answers. */
  #runWaiting(): void {
    while (this.#running < MAX_CONFIRM_PROBES && this.#waiting.length > 0 && !this.#stopped) {
      const [asker, requestId, originId] = this.#waiting.shift() as [string, number, string];
      const spec = this.#o.replicator.origin(originId)?.spec;
      if (spec === undefined) continue;
      this.#running++;
      this.#o.prober.probe(spec, AbortSignal.timeout(spec.timeoutMs + ANSWER_SLACK_MS)).then(
        (result) => {
          this.#running--;
          this.#post(this.#answers, KIND_CONFIRM_ANSWER, asker, [requestId, result.ok ? 0 : 1]);
          this.#runWaiting();
        },
        (err) => {
          this.#running--;
          this.#o.log.debug("confirmation probe failed to run", { origin: originId, error: String(err) });
          this.#runWaiting();
        },
      );
    }
  }

  #onAnswers(m: unknown[]): void {
    const [, by, items] = m;
    if (m.length !== 3 || !isName(by) || !Array.isArray(items) || items.length % 2 !== 0) return;
    for (let i = 0; i < items.length; i += 2) {
      const requestId = items[i];
      const failed = items[i + 1];
      if (!Number.isSafeInteger(requestId) || (failed !== 0 && failed !== 1)) continue;
      this.#settle(requestId as number, { by, failed: failed === 1 });
    }
  }
}
