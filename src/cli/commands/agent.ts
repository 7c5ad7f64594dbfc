import { HeckAgent } from "../../agent/agent.js";
import { type RawSettings, resolveAgentConfig } from "../../config.js";
import { HeckError } from "../../errors.js";

/** The contract promises exit within 5 s of SIGTERM; leave gets most of it, then we go anyway. */
const FORCED_EXIT_MS = 4500;

/**
 * `heck agent`: runs one node until SIGTERM/SIGINT or `POST /v1/leave`, then leaves gracefully.
 * Returns the process exit code: 0 after a clean stop, 2 for a bad configuration, 1 otherwise.
 */
export async function runAgentCommand(flags: RawSettings): Promise<number> {
  let agent: HeckAgent;
  try {
    agent = new HeckAgent(resolveAgentConfig(flags));
  } catch (err) {
    process.stderr.write(`heck agent: ${(err as Error).message}\n`);
    return err instanceof HeckError ? 2 : 1;
  }
  try {
    await agent.start();
  } catch (err) {
    process.stderr.write(`heck agent: cannot start: ${(err as Error).message}\n`);
    await agent.stop().catch(() => {});
    return 1;
  }
  process.stdout.write(`${agent.startLine()}\n`);

  const onSignal = () => {
    setTimeout(() => process.exit(0), FORCED_EXIT_MS).unref();
    void agent.stop({ leave: true });
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  await agent.done;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  return 0;
}
