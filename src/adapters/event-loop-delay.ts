import { monitorEventLoopDelay } from "node:perf_hooks";

/** Resolution of the event-loop delay monitor; its histogram holds this much even when idle. */
const RESOLUTION_MS = 10;

/**
 * Node's event-loop delay, sampled for Lifeguard's local health (issue 7, item 5). Every
 * `reportEveryMs` the largest delay seen since the previous report, beyond the monitor's own
 * resolution, goes to `report` (Swim.reportEventLoopDelay): a process that was stopped (SIGSTOP)
 * or busy elsewhere learns it was slow and stretches its own timeouts instead of accusing
 * healthy peers. Timers are unref'd; stop() ends the sampling.
 */
export class EventLoopDelaySampler {
  readonly #histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  readonly #timer: NodeJS.Timeout;

  constructor(report: (delayMs: number) => void, reportEveryMs = 100) {
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      const maxMs = this.#histogram.max / 1e6;
      this.#histogram.reset();
      if (Number.isFinite(maxMs) && maxMs > 0) report(Math.max(0, maxMs - RESOLUTION_MS));
    }, reportEveryMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }
}
