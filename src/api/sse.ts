import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { HeckNodeApi, NodeEvents } from "../agent/node-api.js";

export interface EventStreamOptions {
  /**
   * Interval of the comment line that keeps idle proxies and load balancers from closing the
   * stream, and lets the server notice a vanished client.
   * @default 15000
   */
  heartbeatMs?: number;
}

/**
 * A client that cannot keep up is cut off once this much is queued for it: the node's memory
 * must not grow with the slowest reader. EventSource reconnects and the dashboard refetches.
 */
const MAX_QUEUED_BYTES = 1024 * 1024;

/** How long an EventSource waits before reconnecting after the stream drops. */
const RETRY_MS = 2000;

const EVENT_KINDS: ReadonlyArray<keyof NodeEvents> = ["health", "member"];

/**
 * `GET /v1/events`: Server-Sent Events of health changes (`event: health`) and membership changes
 * (`event: member`), each with one line of JSON data (contract.md "HTTP API").
 * Streams are ended before the server closes, so `close()` never waits on a connected client and
 * no heartbeat timer outlives the server.
 */
export function registerEventStream(
  app: FastifyInstance,
  node: HeckNodeApi,
  options: EventStreamOptions = {},
): void {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const open = new Set<() => void>();

  app.addHook("preClose", async () => {
    for (const close of [...open]) close();
  });

  app.get("/v1/events", { exposeHeadRoute: false, config: { acceptsQueryToken: true } }, (request, reply) => {
    reply.hijack();
    const raw: ServerResponse = reply.raw;
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      // Asks nginx-style proxies not to buffer the stream.
      "x-accel-buffering": "no",
    });
    raw.write(`retry: ${RETRY_MS}\n: connected to ${node.name}\n\n`);

    let closed = false;
    const send = (chunk: string): void => {
      if (closed) return;
      if (raw.writableLength > MAX_QUEUED_BYTES) {
        request.log.warn({ queued: raw.writableLength }, "event stream client too slow; disconnecting");
        raw.destroy();
        return;
      }
      raw.write(chunk);
    };

    const unsubscribes = EVENT_KINDS.map((kind) =>
      node.subscribe(kind, (event) => send(`event: ${kind}\ndata: ${JSON.stringify(event)}\n\n`)),
    );
    const heartbeat = setInterval(() => send(": heartbeat\n\n"), heartbeatMs);

    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      for (const unsubscribe of unsubscribes) unsubscribe();
      open.delete(close);
      if (!raw.writableEnded) raw.end();
    };
    open.add(close);
    raw.once("close", close);
  });
}
