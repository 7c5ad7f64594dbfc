import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { errorBody } from "./errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without a token even when `--api-token` is set (`GET /healthz` and the static page). */
    public?: boolean;
    /**
     * Also accepts the token as `?token=`: for what a browser loads without being able to set
     * headers (EventSource). Nowhere else, so tokens stay out of URLs.
     */
    acceptsQueryToken?: boolean;
  }
}

/**
 * Requires `Authorization: Bearer <token>` on every route not marked `public`, unknown routes
 * included, so that a client without the token learns nothing about which paths exist. Runs
 * before the body is read: an unauthenticated client cannot make the node buffer a large body.
 */
export function registerBearerAuth(app: FastifyInstance, apiToken: string): void {
  const matches = tokenChecker(apiToken);
  app.addHook("onRequest", async (request, reply) => {
    const config = request.routeOptions.config;
    if (config.public) return;
    let given = bearerToken(request.headers.authorization);
    if (given === undefined && config.acceptsQueryToken) {
      const query = request.query as Record<string, unknown> | undefined;
      const token = query?.token;
      if (typeof token === "string") given = token;
    }
    if (matches(given)) return;
    return reply
      .code(401)
      .header("www-authenticate", 'Bearer realm="heck"')
      .send(
        errorBody(
          "unauthorized",
          given === undefined ? "an API token is required" : "the API token is wrong",
        ),
      );
  });
}

/**
 * Both sides are hashed before the constant-time compare so that neither the comparison time nor
 * an early length mismatch reveals how much of a guess was right.
 */
export function tokenChecker(expected: string): (given: string | undefined) => boolean {
  const expectedDigest = digest(expected);
  return (given) => given !== undefined && timingSafeEqual(digest(given), expectedDigest);
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235). */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}
