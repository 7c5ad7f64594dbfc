import { strict as assert } from "node:assert";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { pino } from "pino";
import {
  createNodeLogger,
  pinoLogger,
  systemClock,
  systemRng,
  systemTimers,
} from "../../../src/adapters/system-env.js";

describe("system env", () => {
  test("the clock reads epoch milliseconds", () => {
    const before = Date.now();
    const now = systemClock.now();
    assert.ok(now >= before && now <= Date.now());
  });

  test("the generator draws from [0, 1)", () => {
    for (let i = 0; i < 1000; i++) {
      const x = systemRng.next();
      assert.ok(x >= 0 && x < 1);
    }
  });

  test("a timer fires once and does not hold the process open", async () => {
    let fired = 0;
    // The timer under test does not keep the event loop alive, so this ref'd deadline does: without
    // it, node:test may find an empty loop and cancel the test while the timer is still pending.
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error("the timer did not fire within 2 s")), 2000);
      const handle = systemTimers.setTimeout(() => {
        fired++;
        clearTimeout(deadline);
        resolve();
      }, 5);
      assert.equal((handle as NodeJS.Timeout).hasRef(), false);
    });
    assert.equal(fired, 1);
  });

  test("a cleared timer never fires", async () => {
    let fired = false;
    const handle = systemTimers.setTimeout(() => {
      fired = true;
    }, 5);
    systemTimers.clearTimeout(handle);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(fired, false);
  });

  test("pinoLogger passes level, message and fields through", () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
        done();
      },
    });
    const logger = pinoLogger(pino({ level: "debug", base: null, timestamp: false }, sink));
    logger.debug("malformed packet", { from: "127.0.0.1:7946", bytes: 3 });
    logger.info("joined");
    logger.warn("slow probe", { id: "api" });
    logger.error("bind failed", { port: 7946 });
    assert.deepEqual(lines, [
      { level: 20, msg: "malformed packet", from: "127.0.0.1:7946", bytes: 3 },
      { level: 30, msg: "joined" },
      { level: 40, msg: "slow probe", id: "api" },
      { level: 50, msg: "bind failed", port: 7946 },
    ]);
  });

  test("createNodeLogger names the node on every line, with the level's name and an ISO time", () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
        done();
      },
    });
    const root = createNodeLogger("node-a", "info", sink);
    root.debug("below the level");
    root.info({ joined: 2 }, "joined the cluster");
    root.child({ reqId: "req-1" }).error("request failed");
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.equal(line.node, "node-a");
      assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [
        ["info", "joined the cluster"],
        ["error", "request failed"],
      ],
    );
    assert.equal(lines[1]?.reqId, "req-1");
  });
});
