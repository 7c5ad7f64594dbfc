import type { FastifyInstance } from "fastify";
import type { HeckNodeApi } from "../../agent/node-api.js";
import { type Address, formatAddress, parseAddress } from "../../core/address.js";
import type { MemberStatus } from "../../core/membership/ports.js";
import { joinRequestSchema, parseInput } from "../schemas.js";

/** Liveness, the node's own summary, membership, join/leave and metrics. */
export function registerSystemRoutes(app: FastifyInstance, node: HeckNodeApi): void {
  app.get("/healthz", { config: { public: true } }, async () => ({ status: "ok" }));

  app.get("/v1/self", async () => {
    const members: Record<MemberStatus, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const member of node.members()) members[member.status]++;
    return {
      name: node.name,
      version: node.version,
      gossipAddress: formatAddress(node.gossipAddress()),
      httpAddress: node.httpAddress(),
      members,
      origins: node.originCount(),
      owned: node.ownedCount(),
    };
  });

  app.get("/v1/members", async () => {
    const members = node
      .members()
      .map((m) => ({
        name: m.name,
        address: formatAddress(m.address),
        status: m.status,
        incarnation: m.incarnation,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { members };
  });

  app.post("/v1/join", async (request) => {
    const body = parseInput(joinRequestSchema, request.body, "body");
    // The schema has checked that every address parses.
    const addresses = body.addresses.map((text) => parseAddress(text) as Address);
    return { joined: await node.join(addresses) };
  });

  app.post(
    "/v1/leave",
    {
      // The node shuts down as it leaves, HTTP server included: start only once the 202 is out,
      // and do not hold the response lifecycle open while the agent stops.
      onResponse: (request, reply, done) => {
        if (reply.statusCode === 202) {
          node.leave().catch((err: unknown) => request.log.error({ err }, "graceful leave failed"));
        }
        done();
      },
    },
    async (_request, reply) => reply.code(202).send({ status: "leaving" }),
  );

  app.get("/metrics", async (_request, reply) => {
    const text = await node.metrics.metrics();
    return reply.type(node.metrics.contentType).send(text);
  });
}
