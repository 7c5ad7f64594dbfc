import type { FastifyInstance } from "fastify";
import type { KeyOperation } from "../../agent/keys.js";
import type { HeckNodeApi } from "../../agent/node-api.js";
import { keyRequestSchema, parseInput } from "../schemas.js";

const CHANGES: readonly KeyOperation[] = ["install", "use", "remove"];

/**
 * The gossip keyring across the cluster, as `serf keys`: `GET /v1/keys` asks every member for its
 * keys, `POST /v1/keys/{install,use,remove}` with `{"key": BASE64}` changes every member's
 * keyring. Each answers with the members' report (keys.ts KeyReport): `ok` is false when a
 * member refused or did not answer. Input this node can judge alone is refused with 400 before
 * anything is sent.
 */
export function registerKeyRoutes(app: FastifyInstance, node: HeckNodeApi): void {
  app.get("/v1/keys", async () => node.keyring("list"));

  for (const operation of CHANGES) {
    app.post(`/v1/keys/${operation}`, async (request) => {
      const { key } = parseInput(keyRequestSchema, request.body, "body");
      return node.keyring(operation, key);
    });
  }
}
