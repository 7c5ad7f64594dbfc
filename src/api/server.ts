import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from "fastify";
import type { HeckNodeApi } from "../agent/node-api.js";
import { registerBearerAuth } from "./auth.js";
import { errorBody, toErrorResponse } from "./errors.js";
import { registerDashboardRoute } from "./routes/dashboard.js";
import { registerHistoryRoutes } from "./routes/history.js";
import { registerKeyRoutes } from "./routes/keys.js";
import { registerOpenApiRoute } from "./routes/openapi.js";
import { registerOriginRoutes } from "./routes/origins.js";
import { registerSystemRoutes } from "./routes/system.js";
import { registerEventStream } from "./sse.js";

export interface ServerOptions {
  node: HeckNodeApi;
  /** When set, every request except `GET /healthz` needs `Authorization: Bearer <token>`. */
  apiToken?: string;
  /**
   * `true` or pino options to log requests and errors; the `?token=` the dashboard may carry is
   * masked in logged URLs.
   * @default false
   */
  logger?: boolean | object;
  /**
   * A logger of the caller's (the agent's, which names the node on every line) for the errors the
   * API logs: a failed request, a leave that failed, an event stream client too slow to keep.
   * Requests themselves are not logged. Takes the place of `logger`.
   */
  loggerInstance?: FastifyBaseLogger;
  /** Largest request body on every route but the batch upsert. @default 1 MiB */
  bodyLimitBytes?: number;
  /** Largest body of `POST /v1/origins` (up to 10,000 specs). @default 16 MiB */
  batchBodyLimitBytes?: number;
  /** Interval of the SSE heartbeat comment. @default 15000 */
  sseHeartbeatMs?: number;
  /** Cluster-wide cap on live origins (409 `origin_limit_reached` beyond it). @default unlimited */
  maxOrigins?: number;
  /** Refuse specs that aim at loopback, link-local, private or unique-local targets. @default false */
  denyPrivateTargets?: boolean;
  /** Name resolution for `denyPrivateTargets` at acceptance. @default dns.lookup */
  resolveHost?: (host: string) => Promise<string[]>;
  /** Called for every route as it is registered, HEAD routes included (for tools that list them). */
  onRoute?: (route: { method: string | string[]; url: string }) => void;
}

const MIB = 1024 * 1024;

/**
 * Origin ids are up to 128 characters and arrive percent-encoded; the router's default cap of 100
 * would turn a long valid id into a bare 404 and an over-long one into a 404 instead of a 400
 * that names the rule.
 */
const MAX_PARAM_LENGTH = 4096;

/**
 * The HTTP API of one node (contract.md "HTTP API"), a factory over {@link HeckNodeApi} so that
 * tests drive it with `inject()` and the agent only has to `listen()`. JSON in and out; every
 * error leaves as `{"error": {"code", "message"}}`.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { node } = options;
  const app = Fastify({
    ...(options.loggerInstance
      ? {
          loggerInstance: options.loggerInstance,
          logController: new LogController({ disableRequestLogging: true }),
        }
      : { logger: loggerOptions(options.logger ?? false) }),
    bodyLimit: options.bodyLimitBytes ?? MIB,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A client that opens a connection and never finishes its request must not pin a socket.
    requestTimeout: 30_000,
    // close() cuts every connection rather than waiting for clients: the agent must be gone within
    // 5 s of SIGTERM, and a pooled client may hold a spare socket open for as long as it likes.
    forceCloseConnections: true,
  });

  // JSON is the only body type. An empty body counts as absent, so that `POST /v1/leave` with a
  // stray `Content-Type: application/json` works and a PUT without a spec fails on the spec.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body.toString();
    if (text === "") done(null, undefined);
    else parseJson(request, text, done);
  });

  app.setErrorHandler((err, request, reply) => {
    const { status, body, internal } = toErrorResponse(err);
    if (internal) request.log.error({ err }, "request failed");
    // fastify answers a refused body with `Connection: close`, which shuts the socket while the
    // client is still uploading: the resulting reset can destroy the 413 before the client reads
    // it. Keeping the connection lets Node read and discard the rest of the body (bounded by
    // requestTimeout), so the client always gets its answer.
    if (status === 413) reply.removeHeader("connection");
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody("not_found", `no route ${request.method} ${request.url.split("?")[0]}`)),
  );

  const onRoute = options.onRoute;
  if (onRoute) app.addHook("onRoute", (route) => onRoute({ method: route.method, url: route.url }));

  const tokenRequired = options.apiToken !== undefined && options.apiToken !== "";
  if (tokenRequired) registerBearerAuth(app, options.apiToken as string);

  registerSystemRoutes(app, node);
  registerOriginRoutes(app, node, {
    batchBodyLimitBytes: options.batchBodyLimitBytes ?? 16 * MIB,
    ...(options.maxOrigins === undefined ? {} : { maxOrigins: options.maxOrigins }),
    ...(options.denyPrivateTargets === undefined ? {} : { denyPrivateTargets: options.denyPrivateTargets }),
    ...(options.resolveHost === undefined ? {} : { resolveHost: options.resolveHost }),
  });
  registerHistoryRoutes(app, node);
  registerKeyRoutes(app, node);
  registerEventStream(
    app,
    node,
    options.sseHeartbeatMs === undefined ? {} : { heartbeatMs: options.sseHeartbeatMs },
  );
  registerDashboardRoute(app);
  registerOpenApiRoute(app, { version: node.version, tokenRequired });
  return app;
}

/** Request URLs are logged with any `token` query value masked. */
type LoggerSetting = NonNullable<FastifyServerOptions["logger"]>;

function loggerOptions(logger: boolean | object): LoggerSetting {
  if (logger === false) return false;
  const base = logger === true ? {} : (logger as Record<string, unknown>);
  const serializers = (base.serializers ?? {}) as Record<string, unknown>;
  return {
    ...base,
    serializers: {
      req: (req: { method: string; url: string; ip?: string }) => ({
        method: req.method,
        url: req.url.replace(/([?&]token=)[^&]*/g, "$1***"),
        remoteAddress: req.ip,
      }),
      ...serializers,
    },
  } as LoggerSetting;
}
