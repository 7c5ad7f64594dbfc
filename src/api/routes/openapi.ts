import type { FastifyInstance } from "fastify";
import { openApiDocument } from "../openapi.js";

/**
 * `GET /v1/openapi.json`, under the same token rule as every other /v1 route. The document is
 * built on the first request and kept: it depends only on the version and on whether a token is set.
 */
export function registerOpenApiRoute(
  app: FastifyInstance,
  options: { version: string; tokenRequired: boolean },
): void {
  let document: string | undefined;
  app.get("/v1/openapi.json", async (_request, reply) => {
    document ??= JSON.stringify(openApiDocument(options));
    return reply.type("application/json; charset=utf-8").send(document);
  });
}
