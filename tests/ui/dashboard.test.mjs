// The dashboard at /ui in a real browser: Debian's headless Chromium driven by playwright-core.
// A real `hearth serve` holds stories260K (local) and a cloud model on the fake provider
// (tests/support/fake_cloud.py); the test sends known traffic, opens /ui and checks what the page
// renders against it: the request counts and placement split, the workloads, the worker of the
// local model, the month's totals from the ledger and the advisor's recommendations. Then the
// admin-key prompt, once a key exists. A screenshot of the rendered page is saved.
//
// Environment:
//   HEARTH_BIN            path to the hearth binary
//   HEARTH_STORIES_MODEL  stories260K.gguf
//   CHROMIUM_BIN          the browser (default /usr/bin/chromium)
//   HEARTH_UI_SCREENSHOT  where the screenshot goes (default: dashboard.png in the temp dir)
//
// Run: node --test dashboard.test.mjs (ctest runs it as `dashboard_ui`);
//      node dashboard.test.mjs --update-screenshot   also replaces docs/dashboard.png.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const HEARTH_BIN = process.env.HEARTH_BIN;
const STORIES = process.env.HEARTH_STORIES_MODEL;
const CHROMIUM_BIN = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const SCREENSHOT = process.env.HEARTH_UI_SCREENSHOT || path.join(os.tmpdir(), "dashboard.png");
const UPDATE_SCREENSHOT = process.argv.includes("--update-screenshot");
const DOCS_SCREENSHOT = path.join(REPO, "docs", "dashboard.png");

const CLOUD_KEY = "sk-test-dashboard-3c9e1f";
const LOCAL_REQUESTS = 6; // workload "support", answered by stories (local)
const CLOUD_REQUESTS = 4; // workload "summaries", answered by the fake cloud
const START_TIMEOUT_MS = 60_000;
const RENDER_TIMEOUT_MS = 30_000; // the page polls every 2 s; the advisor runs once asked
const TEST_TIMEOUT_MS = 180_000;

// A child process whose output is kept, and a way to wait for a line of it.
class Child {
  constructor(label, command, args, env = {}) {
    this.label = label;
    this.output = "";
    this.exited = null;
    this.waiters = [];
    this.proc = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const take = (chunk) => {
      this.output += chunk.toString();
      this.waiters = this.waiters.filter((waiter) => !waiter());
    };
    this.proc.stdout.on("data", take);
    this.proc.stderr.on("data", take);
    this.proc.on("exit", (code, signal) => {
      this.exited = { code, signal };
      this.waiters = this.waiters.filter((waiter) => !waiter());
    });
  }

  tail() {
    return this.output.length > 4000 ? "..." + this.output.slice(-4000) : this.output;
  }

  // The first match of `pattern` in the output, waiting up to `ms` for it.
  waitFor(pattern, ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.label}: no ${pattern} within ${ms} ms; output:\n${this.tail()}`));
      }, ms);
      const check = () => {
        const match = this.output.match(pattern);
        if (match) {
          clearTimeout(timer);
          resolve(match);
          return true;
        }
        if (this.exited) {
          clearTimeout(timer);
          reject(new Error(`${this.label} exited (${JSON.stringify(this.exited)}); output:\n` +
            this.tail()));
          return true;
        }
        return false;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  async stop() {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.proc.once("exit", resolve));
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await condition();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

let directory;
let cloud;
let gateway;
let base;
let browser;
let adminKey;

function chat(workload, text) {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hearth-workload": workload },
    body: JSON.stringify({
      model: "stories",
      messages: [{ role: "user", content: text }],
      max_tokens: 8,
      temperature: 0,
    }),
  });
}

async function metric(name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(name + " "));
  return line ? Number(line.split(" ")[1]) : NaN;
}

before(async () => {
  assert.ok(HEARTH_BIN && existsSync(HEARTH_BIN), "HEARTH_BIN must name the hearth binary");
  assert.ok(STORIES && existsSync(STORIES), "HEARTH_STORIES_MODEL must name stories260K.gguf");
  assert.ok(existsSync(CHROMIUM_BIN),
    `no browser at ${CHROMIUM_BIN}: install Debian's chromium (scripts/bootstrap does)`);
  directory = mkdtempSync(path.join(os.tmpdir(), "hearth-ui-test-"));

  cloud = new Child("fake cloud", "python3",
    [path.join(REPO, "tests", "support", "fake_cloud.py"), "--port", "0", "--api-key", CLOUD_KEY]);
  const [, cloudUrl] = await cloud.waitFor(/fake cloud listening on (\S+)/, START_TIMEOUT_MS);

  const config = `
default_model: stories
providers:
  - name: fake-cloud
    base_url: ${cloudUrl}
    api_key_env: FAKE_CLOUD_KEY
models:
  - name: stories
    path: ${STORIES}
    context: 1024
    parallel: 2
    threads: 1
    load_on_start: true
  - name: cloud-gpt
    provider: fake-cloud
    upstream_model: gpt-fake-mini
    price: {input: 1000, output: 2000}
ledger:
  path: ${path.join(directory, "ledger.db")}
  flush_interval: 50ms
local_costs:
  hardware_price_usd: 6000
  amortisation_months: 36
  power_busy_watts: 250
  power_idle_watts: 60
  electricity_usd_per_kwh: 0.25
  carbon_grams_per_kwh: 300
  operations_usd_per_month: 200
advisor:
  min_requests: 3
policy:
  rules:
    - name: support-local
      match: {workload: support}
      targets: [stories, cloud-gpt]
    - name: summaries-cloud
      match: {workload: summaries}
      targets: [cloud-gpt]
`;
  const configPath = path.join(directory, "hearth.yaml");
  writeFileSync(configPath, config);
  gateway = new Child("hearth serve", HEARTH_BIN,
    ["serve", "--config", configPath, "--listen", "127.0.0.1:0"], { FAKE_CLOUD_KEY: CLOUD_KEY });
  const [, port] = await gateway.waitFor(/gateway listening on http:\/\/127\.0\.0\.1:(\d+)/,
    START_TIMEOUT_MS);
  base = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${base}/readyz`)).status === 200, START_TIMEOUT_MS,
    "the gateway to be ready");

  browser = await chromium.launch({
    executablePath: CHROMIUM_BIN,
    // The browser only loads this test's own gateway on loopback; containers often lack the
    // kernel features Chromium's sandbox needs (and it refuses to run as root with it).
    args: ["--no-sandbox"],
  });
}, { timeout: 2 * START_TIMEOUT_MS });

after(async () => {
  if (browser) await browser.close();
  if (gateway) await gateway.stop();
  if (cloud) await cloud.stop();
  if (directory) rmSync(directory, { recursive: true, force: true });
});

test("the gateway serves the page's files with their types and cache headers", async () => {
  const page = await fetch(`${base}/ui`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(page.headers.get("cache-control"), "no-cache");
  assert.match(page.headers.get("content-security-policy"), /default-src 'none'/);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  const etag = page.headers.get("etag");
  assert.match(etag, /^"[0-9a-f]{16}"$/);
  const html = await page.text();
  assert.match(html, /<title>Hearth dashboard<\/title>/);
  assert.doesNotMatch(html, /https?:\/\//, "the page must not load anything from elsewhere");

  const same = await fetch(`${base}/ui/`);
  assert.equal(same.status, 200);
  assert.equal(await same.text(), html);
  const unchanged = await fetch(`${base}/ui/index.html`, { headers: { "if-none-match": etag } });
  assert.equal(unchanged.status, 304);
  assert.equal(await unchanged.text(), "");

  const script = await fetch(`${base}/ui/dashboard.js`);
  assert.equal(script.status, 200);
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  const style = await fetch(`${base}/ui/dashboard.css`);
  assert.equal(style.headers.get("content-type"), "text/css; charset=utf-8");
  assert.notEqual(style.headers.get("etag"), etag);

  assert.equal((await fetch(`${base}/ui/missing.js`)).status, 404);
  assert.equal((await fetch(`${base}/admin/dashboard`, { method: "POST" })).status, 405);
});

test("the page shows the traffic it was sent, the worker and the advisor's advice",
  { timeout: TEST_TIMEOUT_MS }, async () => {
    for (let i = 0; i < LOCAL_REQUESTS; ++i) {
      const reply = await chat("support", `Once upon a time ${i}`);
      const body = await reply.text();
      assert.equal(reply.status, 200, body);
      assert.equal(reply.headers.get("x-hearth-placement"), "local");
    }
    for (let i = 0; i < CLOUD_REQUESTS; ++i) {
      const reply = await chat("summaries", `Summarise chapter ${i}`);
      const body = await reply.text();
      assert.equal(reply.status, 200, body);
      assert.equal(reply.headers.get("x-hearth-placement"), "cloud");
    }
    const total = LOCAL_REQUESTS + CLOUD_REQUESTS;
    // The advisor reads the ledger: every record committed before the page first asks.
    await until(async () => (await metric("hearth_gateway_ledger_records_written_total")) >= total,
      RENDER_TIMEOUT_MS, "the ledger to hold every usage record");

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    page.on("pageerror", (error) => problems.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    await page.goto(`${base}/ui/`);
    const text = (selector) => page.locator(selector).first().innerText();
    const expectText = async (selector, expected) => {
      await page.waitForFunction(
        ([sel, want]) => document.querySelector(sel)?.innerText.trim() === want,
        [selector, String(expected)], { timeout: RENDER_TIMEOUT_MS },
      ).catch(async () => {
        assert.fail(`${selector}: "${await text(selector)}", expected "${expected}"`);
      });
    };

    // The live split, since the gateway started.
    await expectText("#requests-total", total);
    await expectText("#placement-local", LOCAL_REQUESTS);
    await expectText("#placement-cloud", CLOUD_REQUESTS);
    await expectText("#placement-unplaced", 0);
    await expectText("#placement-errors", 0);
    await expectText("#local-share", "60.0%");
    // This month, from the ledger.
    await expectText("#month-local", LOCAL_REQUESTS);
    await expectText("#month-cloud", CLOUD_REQUESTS);
    // The fake cloud counts words as tokens: "Summarise chapter N" is 3 prompt tokens, its
    // answer "Hello from the fake cloud" 5 completion tokens; at $1000 and $2000 per million,
    // $0.013 a request. Local answers avoided the same model's price for their own tokens.
    await expectText("#cloud-spend", "$0.05");
    await expectText("#month-cloud-spend", "$0.05");
    assert.notEqual(await text("#avoided-spend"), "$0.00");

    // Workloads: the counts per placement.
    const support = page.locator('#workload-rows tr[data-workload="support"] td');
    const summaries = page.locator('#workload-rows tr[data-workload="summaries"] td');
    assert.deepEqual((await support.allInnerTexts()).slice(0, 6),
      ["support", "6", "60.0%", "6", "0", "0"]);
    assert.deepEqual((await summaries.allInnerTexts()).slice(0, 6),
      ["summaries", "4", "40.0%", "0", "4", "0"]);

    // Latency: one row per placement, counting the answered requests.
    const latency = async (placement) =>
      page.locator(`#latency-rows tr[data-placement="${placement}"] td`).allInnerTexts();
    assert.equal((await latency("local"))[1], String(LOCAL_REQUESTS));
    assert.equal((await latency("cloud"))[1], String(CLOUD_REQUESTS));
    assert.match((await latency("local"))[2], /^\d+\.\d ms$/);

    // The local model's worker, loaded; the cloud model beside it.
    const worker = page.locator('#worker-rows tr[data-model="stories"] td');
    await page.waitForFunction(() =>
      document.querySelector('#worker-rows tr[data-model="stories"] td:nth-child(3)')
        ?.innerText === "loaded", null, { timeout: RENDER_TIMEOUT_MS });
    const workerCells = await worker.allInnerTexts();
    assert.equal(workerCells[0], "stories");
    assert.equal(workerCells[1], "local");
    assert.equal(workerCells[4], "0", "queue depth");
    assert.match(workerCells[5], /^\d+ \/ 2$/, "busy slots of the two");
    const cloudRow = await page.locator('#worker-rows tr[data-model="cloud-gpt"] td')
      .allInnerTexts();
    assert.equal(cloudRow[1], "cloud");

    // The advisor's recommendations over the ledger: a row per workload.
    await page.waitForSelector('#recommendation-rows tr[data-workload="support"]',
      { timeout: RENDER_TIMEOUT_MS });
    await page.waitForSelector('#recommendation-rows tr[data-workload="summaries"]',
      { timeout: RENDER_TIMEOUT_MS });
    const advice = await page.locator('#recommendation-rows tr[data-workload="support"]')
      .getAttribute("data-recommendation");
    assert.ok(["move_local", "keep_cloud", "hybrid", "not_enough_data"].includes(advice), advice);
    const adviceCells = await page.locator('#recommendation-rows tr[data-workload="support"] td')
      .allInnerTexts();
    assert.ok(adviceCells[1].length > 0, "the recommendation in words");
    assert.ok(adviceCells[6].length > 0, "the reasons");
    assert.match(await text("#recommendations-status"), /last 30 days of the ledger \(10 records\)/);

    assert.deepEqual(problems, [], "the page logged errors");
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    if (UPDATE_SCREENSHOT) copyFileSync(SCREENSHOT, DOCS_SCREENSHOT);
    await page.close();
  });

test("once an API key exists, the page asks for an admin key and keeps it for the tab",
  { timeout: TEST_TIMEOUT_MS }, async () => {
    // With no key, loopback callers may create the first one.
    const created = await fetch(`${base}/admin/keys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenant: "ops", name: "dashboard", scopes: ["admin"] }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    adminKey = (await created.json()).key;
    assert.equal((await fetch(`${base}/admin/dashboard`)).status, 401);

    const page = await browser.newPage();
    await page.goto(`${base}/ui/`);
    await page.waitForSelector("#key-form:not([hidden])", { timeout: RENDER_TIMEOUT_MS });
    assert.equal(await page.locator("#dashboard").isHidden(), true);

    const firstMessage = await page.locator("#key-message").innerText();
    await page.fill("#key-input", "hk_0000000000000000_wrong");
    await page.click("#key-form button");  // hides the form until the gateway answers
    await page.waitForSelector("#key-form:not([hidden])", { timeout: RENDER_TIMEOUT_MS });
    assert.notEqual(await page.locator("#key-message").innerText(), firstMessage,
      "the gateway's reason for refusing the wrong key");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("hearth-admin-key")), null);
    assert.equal(await page.locator("#dashboard").isHidden(), true);

    await page.fill("#key-input", adminKey);
    await page.click("#key-form button");
    await page.waitForSelector("#dashboard:not([hidden])", { timeout: RENDER_TIMEOUT_MS });
    await page.waitForFunction(() => document.querySelector("#requests-total")?.innerText ===
      String(10), null, { timeout: RENDER_TIMEOUT_MS });
    // Kept for the tab: a reload does not ask again.
    await page.reload();
    await page.waitForSelector("#dashboard:not([hidden])", { timeout: RENDER_TIMEOUT_MS });
    assert.equal(await page.evaluate(() => sessionStorage.getItem("hearth-admin-key")), adminKey);
    await page.close();
  });
