import type { FastifyInstance } from "fastify";
import type { HeckNodeApi } from "../../agent/node-api.js";
import { validateOriginId } from "../../core/checks/spec.js";
import { NotFoundError, ValidationError } from "../../errors.js";
import { refuseUnknownFields, requireObject } from "../input.js";

/** `GET /v1/events/recent` answers this many events when no `limit` is given. */
export const DEFAULT_RECENT_EVENTS = 100;
/** The most `GET /v1/events/recent` answers: the size of the node's event ring. */
export const MAX_RECENT_EVENTS = 500;

type IdParams = { Params: { id: string } };

/**
 * What the dashboard needs beyond the catalog: how the origins spread over the owners, one
 * origin's recent probes and transitions, and the events a page that just opened has missed.
 */
export function registerHistoryRoutes(app: FastifyInstance, node: HeckNodeApi): void {
  app.get("/v1/owners", async () => {
    const owners = [...node.ownerCounts()]
      .map(([name, count]) => ({ name, ...count }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { owners };
  });

  app.get<IdParams>("/v1/origins/:id/history", async (request) => {
    const id = validateOriginId(request.params.id);
    const history = node.originHistory(id);
    if (!history) throw new NotFoundError(`origin ${JSON.stringify(id)} does not exist`);
    return history;
  });

  app.get("/v1/events/recent", async (request) => {
    const query = requireObject(request.query ?? {}, "query");
    refuseUnknownFields(query, ["limit"], "?");
    const text = query.limit;
    const limit = text === undefined ? DEFAULT_RECENT_EVENTS : Number(text);
    if (typeof text === "object" || !Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT_EVENTS) {
      throw new ValidationError(`limit: must be an integer from 1 to ${MAX_RECENT_EVENTS}`, "limit");
    }
    return { events: node.recentEvents(limit) };
  });
}
