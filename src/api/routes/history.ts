import type { FastifyInstance } from "fastify";
import type { HeckNodeApi } from "../../agent/node-api.js";
import { validateOriginId } from "../../core/checks/spec.js";
import { NotFoundError } from "../../errors.js";
import { DEFAULT_RECENT_EVENTS, parseInput, recentEventsQuerySchema } from "../schemas.js";

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
    const query = parseInput(recentEventsQuerySchema, request.query ?? {}, "query", "?");
    return { events: node.recentEvents(query.limit ?? DEFAULT_RECENT_EVENTS) };
  });
}
