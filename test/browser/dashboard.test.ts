import * as assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import {
  type AgentProcess,
  api,
  OriginFarm,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";
import { requireProgram } from "../helpers/require-program.js";

/**
 * The dashboard in Debian's Chromium against real `heck agent` processes (run from dist/: build
 * first). The suite never downloads a browser. Screenshots go to test-artifacts/ (gitignored).
 */
const CHROMIUM = "/usr/bin/chromium";
const skip = requireProgram(CHROMIUM, "chromium");
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

/**
 * Well under the dashboard's 15 s poll: a change that shows up within this came over the event
 * stream, not from the fallback poll.
 */
const LIVE_UPDATE_MS = 8000;
/** Probing at this interval gives the latency chart points within a few seconds. */
const PROBE_INTERVAL_MS = 500;
const SERVICES = Array.from({ length: 12 }, (_, i) => `svc-${String(i).padStart(2, "0")}`);
const BULK = 10_000;
const bulkId = (i: number) => `bulk-${String(i).padStart(5, "0")}`;

const dir = tempDir("heck-dash-");
let browserDir: { path: string; remove(): void };
let context: BrowserContext;

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  browserDir = tempDir("heck-chromium-");
  context = await chromium.launchPersistentContext(browserDir.path, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
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
  await context?.close();
  browserDir?.remove();
  dir.remove();
});

async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage });
}

async function waitForLive(page: Page): Promise<void> {
  await page.waitForSelector('#live[data-state="live"]', { timeout: LIVE_UPDATE_MS });
}

/** Texts of the cells of the rows matching `selector`. */
function cells(page: Page, selector: string): Promise<string[]> {
  return page.locator(`${selector} td`).allInnerTexts();
}

/** A `<dl>` as an object: each term's text to its description's. */
function terms(page: Page, selector: string): Promise<Record<string, string>> {
  return page
    .locator(`${selector} dt`)
    .evaluateAll((dts) =>
      Object.fromEntries(dts.map((dt) => [dt.textContent ?? "", dt.nextElementSibling?.textContent ?? ""])),
    );
}

function originIds(page: Page): Promise<string[]> {
  return page
    .locator("#origins tr[data-origin]")
    .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-origin") ?? ""));
}

/** Column `index` of every origin row. */
function originColumn(page: Page, index: number): Promise<string[]> {
  return page
    .locator("#origins tr[data-origin]")
    .evaluateAll((rows, i) => rows.map((r) => r.children[i]?.textContent ?? ""), index);
}

/** Waits until the page's origin rows are exactly `expected` (in order) or fails naming both. */
async function waitForIds(page: Page, expected: string[], timeoutMs = 10_000): Promise<void> {
  let seen: string[] = [];
  await waitFor(
    `origin rows ${expected.slice(0, 3).join(",")}…`,
    async () => {
      seen = await originIds(page);
      return JSON.stringify(seen) === JSON.stringify(expected);
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the page shows ${seen.slice(0, 5).join(",")}… (${seen.length})`);
  });
}

/** Marks the document; the mark survives only if the page is never reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { heckTestMark: number }).heckTestMark = 1;
  });
}

async function stillSameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { heckTestMark?: number }).heckTestMark === 1);
}

describe("dashboard on a real three-node cluster", { skip, timeout: 240_000 }, () => {
  const farm = new OriginFarm();
  let agents: AgentProcess[] = [];
  let a: AgentProcess;
  let page: Page;

  before(async () => {
    if (skip) return;
    await farm.start();
    a = await startAgent({ name: "node-1", dataDir: `${dir.path}/node-1` });
    const b = await startAgent({ name: "node-2", dataDir: `${dir.path}/node-2`, join: [a.gossip] });
    const c = await startAgent({ name: "node-3", dataDir: `${dir.path}/node-3`, join: [a.gossip] });
    agents = [a, b, c];
    await waitFor("three alive members on every node", async () => {
      for (const agent of agents) {
        const res = await api<{ members: Array<{ status: string }> }>(agent, "GET", "/v1/members");
        if (res.body.members.filter((m) => m.status === "alive").length !== 3) return false;
      }
      return true;
    });
    const res = await api(a, "POST", "/v1/origins", {
      origins: SERVICES.map((id) => ({
        id,
        url: farm.url(`/${id}`),
        intervalMs: PROBE_INTERVAL_MS,
        timeoutMs: PROBE_INTERVAL_MS,
        healthyThreshold: 1,
        unhealthyThreshold: 1,
      })),
    });
    assert.equal(res.status, 200);
    page = await context.newPage();
  });

  after(async () => {
    await page?.close();
    await Promise.all(agents.map((agent) => stopAgent(agent, "SIGKILL")));
    await farm.stop();
  });

  test("lists the members with their origin counts, and the origins", async () => {
    await page.goto(`http://${a.http}/`);
    await waitForIds(page, SERVICES);
    await page.waitForFunction(() => document.querySelectorAll("#members tr[data-member]").length === 3);
    assert.deepEqual(
      await page
        .locator("#members tr[data-member]")
        .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-member"))),
      ["node-1", "node-2", "node-3"],
    );
    for (const agent of agents) {
      const row = await cells(page, `tr[data-member="${agent.name}"]`);
      assert.match(row[0] ?? "", new RegExp(`^${agent.name}`));
      assert.deepEqual(row.slice(1, 3), [agent.gossip, "alive"]);
      assert.match(row[3] ?? "", /^\d+$/);
    }
    assert.match((await cells(page, 'tr[data-member="node-1"]'))[0] ?? "", /this node/);

    // Every origin is owned by exactly one member, and the page shows the node's own counts.
    const owners = await api<{ owners: Array<{ name: string; origins: number }> }>(a, "GET", "/v1/owners");
    assert.equal(
      owners.body.owners.reduce((sum, o) => sum + o.origins, 0),
      SERVICES.length,
    );
    await waitFor("owned counts on the page", async () => {
      const shown = await page
        .locator("#members [data-owned]")
        .evaluateAll((spans) => spans.map((s) => s.getAttribute("data-owned")));
      return JSON.stringify(shown) === JSON.stringify(owners.body.owners.map((o) => String(o.origins)));
    });

    await page.waitForFunction(
      (n) => document.querySelector('[data-count="origins-healthy"] .value')?.textContent === String(n),
      SERVICES.length,
      { timeout: 20_000 },
    );
    const row = await cells(page, 'tr[data-origin="svc-00"]');
    assert.equal(row[1], farm.url("/svc-00"));
    assert.equal(row[2], "healthy");
    assert.match(row[3] ?? "", /^node-[123]$/);
    assert.equal(await page.locator('[data-count="members-alive"] .value').textContent(), "3");
    assert.equal(await page.locator('[data-count="origins-total"] .value').textContent(), "12");
    await screenshot(page, "dashboard-cluster");
  });

  test("an origin's detail shows its spec, its transitions and its owner's latency chart", async () => {
    const views = await api<{ origins: Array<{ id: string; owner: string }> }>(a, "GET", "/v1/origins");
    const origin = views.body.origins.find((o) => o.owner !== "node-1");
    assert.ok(origin, "another node owns one of the twelve origins");
    const owner = agents.find((x) => x.name === origin.owner)!;

    // On a node that does not probe it: the spec and transitions, and where the latency is kept.
    await page.click(`tr[data-origin="${origin.id}"]`);
    await page.waitForSelector("#detail:not([hidden])");
    await page.waitForFunction(
      (name) => document.getElementById("chart-note")?.textContent?.includes(`(${name})`),
      owner.name,
    );
    assert.equal(await page.locator("#latency-chart").getAttribute("data-samples"), "0");
    await page.click("#detail-close");
    await page.waitForSelector("#detail", { state: "hidden" });

    const ownerPage = await context.newPage();
    try {
      await ownerPage.goto(`http://${owner.http}/`);
      await ownerPage.click(`tr[data-origin="${origin.id}"]`);
      await ownerPage.waitForSelector("#detail:not([hidden])");
      await ownerPage.waitForFunction(
        () => Number(document.getElementById("latency-chart")?.dataset.samples ?? 0) >= 3,
        undefined,
        { timeout: 15_000 },
      );
      assert.equal(await ownerPage.locator("#detail-id").textContent(), origin.id);
      const d = await ownerPage.locator("#latency-chart path.line").getAttribute("d");
      assert.ok((d?.match(/L/g) ?? []).length >= 2, `a line through the samples: ${d}`);
      const spec = await terms(ownerPage, "#detail-spec");
      assert.equal(spec.url, farm.url(`/${origin.id}`));
      assert.equal(spec.interval, `${PROBE_INTERVAL_MS} ms`);
      assert.equal(spec.method, "GET");
      const health = await terms(ownerPage, "#detail-health");
      assert.equal(health.owner, owner.name);
      assert.equal(health.reporter, owner.name);
      // Newest first, the oldest being its first probe. On a loaded machine a probe may time
      // out, so the first status may be either, and the origin may have flapped since.
      const transitions = await ownerPage
        .locator("#transitions tbody tr")
        .evaluateAll((rows) => rows.map((r) => Array.from(r.children, (c) => c.textContent ?? "")));
      assert.match(transitions.at(-1)?.[1] ?? "", /^unknown → (healthy|unhealthy)$/);
      assert.ok(
        transitions.every((t) => /^node-[123]$/.test(t[2] ?? "")),
        JSON.stringify(transitions),
      );
      assert.match(transitions[0]?.[0] ?? "", /^\d\d:\d\d:\d\d$/);
      await screenshot(ownerPage, "dashboard-detail");
    } finally {
      await ownerPage.close();
    }
  });

  test("a status change and a killed node show within seconds, without a reload", async () => {
    await waitForLive(page);
    await markDocument(page);
    farm.fail("/svc-03");
    await page.waitForSelector('tr[data-origin="svc-03"] .status-unhealthy', { timeout: LIVE_UPDATE_MS });
    await page.waitForSelector('#timeline li[data-event="health"] >> text=svc-03', {
      timeout: LIVE_UPDATE_MS,
    });

    const killed = agents[2]!;
    await stopAgent(killed, "SIGKILL");
    await page.waitForSelector(
      `tr[data-member="${killed.name}"] .status-suspect, tr[data-member="${killed.name}"] .status-dead`,
      { timeout: LIVE_UPDATE_MS },
    );
    await page.waitForSelector(`tr[data-member="${killed.name}"] .status-dead`, { timeout: 30_000 });
    await page.waitForSelector(`#timeline li[data-event="member"] >> text=${killed.name}`);
    // The dead member's origins moved to the others: it owns none.
    await waitFor("the dead member owns nothing", async () => {
      const n = await page
        .locator(`tr[data-member="${killed.name}"] [data-owned]`)
        .getAttribute("data-owned");
      return n === "" || n === "0";
    });
    assert.ok(await stillSameDocument(page), "the page was not reloaded");
    await screenshot(page, "dashboard-live");
  });

  test("filters and pages through 10,000 origins, one page in the DOM at a time", async () => {
    for (let start = 0; start < BULK; start += 10_000) {
      const origins = Array.from({ length: Math.min(10_000, BULK - start) }, (_, i) => ({
        id: bulkId(start + i),
        url: "http://127.0.0.1:9/",
        intervalMs: 3_600_000,
      }));
      const res = await api(a, "POST", "/v1/origins", { origins });
      assert.equal(res.status, 200);
    }
    const total = BULK + SERVICES.length;
    await page.reload();
    await page.waitForFunction(
      (n) => document.querySelector('[data-count="origins-total"] .value')?.textContent === n,
      total.toLocaleString("en-US"),
    );
    const firstPage = Array.from({ length: 100 }, (_, i) => bulkId(i));
    await waitForIds(page, firstPage);

    await page.click("#next");
    await waitForIds(
      page,
      Array.from({ length: 100 }, (_, i) => bulkId(100 + i)),
    );
    assert.equal(await page.locator("#page-info").textContent(), "Page 2 · rows 101–200");
    await page.click("#next");
    await waitForIds(
      page,
      Array.from({ length: 100 }, (_, i) => bulkId(200 + i)),
    );
    await page.click("#prev");
    await page.click("#prev");
    await waitForIds(page, firstPage);
    assert.ok(await page.locator("#prev").isDisabled());

    await page.fill("#search", "bulk-0420");
    await waitForIds(
      page,
      Array.from({ length: 10 }, (_, i) => bulkId(4200 + i)),
    );
    assert.ok(await page.locator("#next").isDisabled());
    await page.fill("#search", "");
    await waitForIds(page, firstPage);

    await page.selectOption("#owner-filter", "node-2");
    await waitFor("a page of node-2's origins", async () => {
      const owners = await originColumn(page, 3);
      return owners.length === 100 && owners.every((o) => o === "node-2");
    });
    await page.click("#next");
    await page.waitForFunction(() => document.getElementById("page-info")?.textContent?.startsWith("Page 2"));
    const secondOwners = await originColumn(page, 3);
    assert.equal(secondOwners.length, 100);
    assert.ok(secondOwners.every((o) => o === "node-2"));
    await page.evaluate(() => document.getElementById("search")?.scrollIntoView());
    await screenshot(page, "dashboard-origins", false);
    await page.selectOption("#owner-filter", "");

    // The bulk origins point at a closed port: those probed so far are unhealthy, none healthy.
    await page.selectOption("#status-filter", "unhealthy");
    // The filtered page replaces the unfiltered one once its answer is in: wait for its statuses.
    await waitFor("a page of unhealthy origins", async () => {
      const ids = await originIds(page);
      const statuses = await originColumn(page, 2);
      return (
        ids.length > 0 &&
        ids.every((id) => id === "svc-03" || id.startsWith("bulk-")) &&
        statuses.every((s) => s === "unhealthy")
      );
    });
    await page.fill("#search", "svc");
    await waitForIds(page, ["svc-03"]);
    await page.fill("#search", "");
    await page.selectOption("#status-filter", "healthy");
    await waitForIds(
      page,
      SERVICES.filter((id) => id !== "svc-03"),
    );
    await page.selectOption("#status-filter", "");
    await waitForIds(page, firstPage);

    // A column sort orders the page shown: by status, unhealthy first, then the other way round.
    await page.fill("#search", "svc");
    await waitForIds(page, SERVICES);
    await page.click('th button[data-sort="status"]');
    assert.equal((await originIds(page))[0], "svc-03");
    await page.click('th button[data-sort="status"]');
    assert.equal((await originIds(page)).at(-1), "svc-03");
    await page.fill("#search", "");

    await page.selectOption("#page-size", "500");
    await waitFor("a page of 500", async () => (await originIds(page)).length === 500);
    assert.equal(await page.locator("#origins tr").count(), 500);
  });
});

describe("dashboard with --api-token", { skip, timeout: 120_000 }, () => {
  let agent: AgentProcess;

  before(async () => {
    if (skip) return;
    agent = await startAgent({
      name: "solo",
      dataDir: `${dir.path}/solo`,
      extra: ["--api-token", "s3cret"],
    });
  });

  after(async () => {
    if (agent) await stopAgent(agent, "SIGKILL");
  });

  test("asks for the token once, keeps it for the tab, and goes live with it", async () => {
    const page = await context.newPage();
    try {
      await page.goto(`http://${agent.http}/`);
      await page.waitForSelector("#token-form:not([hidden])");
      assert.match((await page.locator("#banner").textContent()) ?? "", /API token/);

      await page.fill("#token-input", "wrong");
      await page.click('#token-form button[type="submit"]');
      await page.waitForFunction(() => document.getElementById("token-error")?.textContent !== "");
      assert.match((await page.locator("#token-error").textContent()) ?? "", /refused/);
      assert.ok(await page.locator("#token-form").isVisible());

      await page.fill("#token-input", "s3cret");
      await page.click('#token-form button[type="submit"]');
      await page.waitForSelector('tr[data-member="solo"]');
      await page.waitForSelector("#token-form", { state: "hidden" });
      await waitForLive(page);
      assert.ok(await page.locator("#banner").isHidden());

      await page.reload();
      await page.waitForSelector('tr[data-member="solo"]');
      assert.ok(await page.locator("#token-form").isHidden());
      await waitForLive(page);
    } finally {
      await page.close();
    }
  });

  test("?token= works too and leaves the address bar", async () => {
    const page = await context.newPage();
    try {
      await page.goto(`http://${agent.http}/?token=s3cret`);
      await page.waitForSelector('tr[data-member="solo"]');
      assert.equal(new URL(page.url()).search, "");
      await waitForLive(page);
    } finally {
      await page.close();
    }
  });

  test("says clearly when the agent is unreachable and greys what it shows", async () => {
    const page = await context.newPage();
    try {
      await page.goto(`http://${agent.http}/?token=s3cret`);
      await page.waitForSelector('tr[data-member="solo"]');
      await waitForLive(page);
      assert.equal(await page.locator("#app").getAttribute("data-reachable"), "true");

      await stopAgent(agent, "SIGKILL");
      await page.waitForSelector("#banner:not([hidden])", { timeout: LIVE_UPDATE_MS });
      assert.match(
        (await page.locator("#banner").textContent()) ?? "",
        /Cannot reach the agent.*out of date/,
      );
      assert.equal(await page.locator("#app").getAttribute("data-reachable"), "false");
      assert.equal(await page.locator("#live").textContent(), "unreachable");
      // The last figures stay, marked stale rather than silently shown as current.
      assert.equal(
        await page
          .locator('[data-count="members-alive"] .value')
          .evaluate((e) => getComputedStyle(e, "::after").content),
        '" (stale)"',
      );
      await screenshot(page, "dashboard-unreachable");
    } finally {
      await page.close();
    }
  });
});
