import { type DestinationStream, type Level, type Logger as PinoLogger, pino } from "pino";
import type { Clock, Logger, Rng, TimerHandle, Timers } from "../core/env.js";

/** The wall clock, in epoch milliseconds, as the core's HLC stamps and health times expect. */
export const systemClock: Clock = {
  now: () => Date.now(),
};

/**
 * Real one-shot timers. Each is unref'd: protocol timers (probe rounds, suspicion deadlines) must
 * never be what keeps a process alive; the sockets and the HTTP server are, until stop().
 */
export const systemTimers: Timers = {
  setTimeout(fn, delayMs) {
    const timer = setTimeout(fn, delayMs);
    timer.unref();
    return timer;
  },
  clearTimeout(handle: TimerHandle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
  soon(fn) {
    setImmediate(fn).unref();
  },
};

/** Math.random: enough for gossip target selection and jitter, which need no secrecy. */
export const systemRng: Rng = {
  next: () => Math.random(),
};

/** Adapts a pino logger to the core's Logger port (pino takes the fields first, the message second). */
export function pinoLogger(pino: PinoLogger): Logger {
  const at =
    (level: "debug" | "info" | "warn" | "error") =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (fields === undefined) pino[level](msg);
      else pino[level](fields, msg);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * The agent's own pino logger: one JSON object per line on `destination` (stderr by default),
 * with the level as its name, the time in ISO 8601 and the node's name on every line (a child
 * logger's `node` binding), so that the logs of several nodes can be merged and still read.
 */
export function createNodeLogger(
  node: string,
  level: Level,
  destination: DestinationStream = pino.destination(2),
): PinoLogger {
  const root = pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return root.child({ node });
}
