import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { NotFoundError } from "../../errors.js";

/**
 * Where the page lives relative to this module: next to it when the page is copied into `dist/`,
 * else in `src/`, which serves both `src/api/routes` (run with tsx) and `dist/api/routes` without
 * a copy step.
 */
const PAGE_CANDIDATES = ["../../dashboard/index.html", "../../../src/dashboard/index.html"].map(
  (relative) => new URL(relative, import.meta.url),
);

function readPage(): string | undefined {
  for (const url of PAGE_CANDIDATES) {
    try {
      return readFileSync(url, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return undefined;
}

/**
 * `GET /`: the dashboard, one static page that reads the API from the browser. It is public even
 * with `--api-token`: it holds no data of the node, and it must load to ask for the token, which
 * then goes with every API request it makes.
 */
export function registerDashboardRoute(app: FastifyInstance): void {
  let page: string | undefined;
  app.get("/", { config: { public: true } }, async (_request, reply) => {
    page ??= readPage();
    if (page === undefined) throw new NotFoundError("the dashboard page is not installed");
    return (
      reply
        .type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        // The page may be opened as /?token=...: keep the token out of Referer headers.
        .header("referrer-policy", "no-referrer")
        .send(page)
    );
  });
}
