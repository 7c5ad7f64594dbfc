import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { buildServer } from "../../src/api/server.js";
import { MemoryNode } from "../helpers/memory-node.js";
import { requireProgram } from "../helpers/require-program.js";

/** Debian's Chromium; the suite never downloads a browser. */
const CHROMIUM = "/usr/bin/chromium";
const skip = requireProgram(CHROMIUM, "chromium");

/**
 * Well under the dashboard's 15 s poll: a change that shows up within this came over the event
 * stream, not from the fallback poll.
 */
const LIVE_UPDATE_MS = 5000;

let profileDir: string;
let context: BrowserContext;

before(async () => {
  if (skip) return;
  profileDir = mkdtempSync(join(tmpdir(), "heck-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  if (skip) return;
  await context?.close();
  rmSync(profileDir, { recursive: true, force: true });
});

async function serve(node: MemoryNode, apiToken?: string): Promise<{ app: FastifyInstance; base: string }> {
  const app = buildServer(apiToken === undefined ? { node } : { node, apiToken });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

function sampleNode(): MemoryNode {
  const node = new MemoryNode("node-1", 7946);
  node.addMember("node-2", 7947, "alive");
  node.addMember("node-3", 7948, "suspect");
  node.addOrigin("www.example", { url: "http://127.0.0.1:9/www" });
  node.addOrigin("api.example", { url: "http://127.0.0.1:9/api", method: "HEAD" }, "node-2");
  node.setHealth("www.example", "healthy", { latencyMs: 12 });
  return node;
}

async function cells(page: Page, selector: string): Promise<string[]> {
  return page.locator(`${selector} td`).allInnerTexts();
}

async function waitForLive(page: Page): Promise<void> {
  await page.waitForSelector('#live[data-state="live"]', { timeout: LIVE_UPDATE_MS });
}

describe("dashboard", { skip }, () => {
  test("lists members and origins, then follows health and member events without a reload", async () => {
    const node = sampleNode();
    const { app, base } = await serve(node);
    const page = await context.newPage();
    try {
      await page.goto(`${base}/`);
      await page.waitForSelector('tr[data-origin="api.example"]');

      assert.deepEqual(
        await page
          .locator("#members tr")
          .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-member"))),
        ["node-1", "node-2", "node-3"],
      );
      const self = await cells(page, 'tr[data-member="node-1"]');
      assert.match(self[0] ?? "", /^node-1/);
      assert.deepEqual(self.slice(1, 3), ["127.0.0.1:7946", "alive"]);
      assert.deepEqual((await cells(page, 'tr[data-member="node-3"]')).slice(1, 3), [
        "127.0.0.1:7948",
        "suspect",
      ]);

      const www = await cells(page, 'tr[data-origin="www.example"]');
      assert.deepEqual(www.slice(0, 6), [
        "www.example",
        "http://127.0.0.1:9/www",
        "healthy",
        "node-1",
        "node-1",
        "12 ms",
      ]);
      assert.match(www[6] ?? "", /s ago$/);
      const api = await cells(page, 'tr[data-origin="api.example"]');
      assert.deepEqual(api.slice(0, 5), [
        "api.example",
        "HEAD http://127.0.0.1:9/api",
        "unknown",
        "node-2",
        "–",
      ]);
      assert.equal(api[6], "never");
      assert.equal(await page.locator('[data-count="origins-healthy"] .value').textContent(), "1");
      assert.equal(await page.locator('[data-count="members-alive"] .value').textContent(), "2");

      await waitForLive(page);
      node.setHealth("api.example", "unhealthy", { reporter: "node-2", error: "connect ECONNREFUSED" });
      await page.waitForSelector('tr[data-origin="api.example"] .status-unhealthy', {
        timeout: LIVE_UPDATE_MS,
      });
      await page.waitForFunction(
        () => document.querySelector('[data-count="origins-unhealthy"] .value')?.textContent === "1",
        undefined,
        { timeout: LIVE_UPDATE_MS },
      );
      const flipped = await cells(page, 'tr[data-origin="api.example"]');
      assert.equal(flipped[4], "node-2");

      node.setMemberStatus("node-3", "dead");
      await page.waitForSelector('tr[data-member="node-3"] .status-dead', { timeout: LIVE_UPDATE_MS });
    } finally {
      await page.close();
      await app.close();
    }
  });

  test("with an API token, ?token= authenticates the page, its fetches and its event stream", async () => {
    const node = sampleNode();
    const { app, base } = await serve(node, "s3cret");
    const page = await context.newPage();
    try {
      await page.goto(`${base}/?token=s3cret`);
      await page.waitForSelector('tr[data-origin="www.example"]');
      // The token leaves the address bar once the page has it.
      assert.equal(new URL(page.url()).search, "");

      await waitForLive(page);
      node.setHealth("www.example", "unhealthy");
      await page.waitForSelector('tr[data-origin="www.example"] .status-unhealthy', {
        timeout: LIVE_UPDATE_MS,
      });
    } finally {
      await page.close();
      await app.close();
    }
  });

  test("a node that needs a token says so instead of showing an empty page", async () => {
    const { app, base } = await serve(sampleNode(), "s3cret");
    const page = await context.newPage();
    try {
      // Only the page itself is let through (with the header); its API calls carry no token.
      await page.route(`${base}/`, (route) =>
        route.continue({ headers: { ...route.request().headers(), authorization: "Bearer s3cret" } }),
      );
      await page.goto(`${base}/`);
      await page.waitForSelector("#banner.shown");
      assert.match((await page.locator("#banner").textContent()) ?? "", /API token/);
    } finally {
      await page.close();
      await app.close();
    }
  });
});
