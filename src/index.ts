/**
 * The package's main entry: the agent, to run a node inside another program, and the typed
 * client (also importable alone as `heck/client`, which loads nothing of the agent).
 */
export { HeckAgent } from "./agent/agent.js";
export * from "./client/index.js";
export { type AgentConfig, type RawSettings, resolveAgentConfig } from "./config.js";
export { VERSION } from "./version.js";
