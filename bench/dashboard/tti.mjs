// Benchmark (not a test): time to interactive of the dashboard's run page for runs of 10k, 100k
// and 1M steps, and the bytes the page transfers. A real atlasd (build-web, or $ATLAS_BUILD_DIR)
// is filled through the ingest API with synthetic runs, then Debian's Chromium opens each run
// page with a cold cache, three times; the median is reported.
//
// TTI here: from navigation start until the first fold (the header and the epoch charts) has
// drawn and the main thread is next idle (requestIdleCallback). The step charts below the fold
// load as they near the viewport; "all charts" is the time until every one of them has drawn,
// scrolling to each in turn (it includes the server's full-range downsampling of each series).
//
// Usage: node bench/dashboard/tti.mjs [--steps 10000,100000,1000000] [--repeats 3] [--append]
//   --append adds the table to bench/dashboard/RESULTS.md.
import { appendFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, startAtlasd } from "../../web/e2e/harness.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const STEPS = opt("--steps", "10000,100000,1000000").split(",").map(Number);
const REPEATS = Number(opt("--repeats", "3"));
const APPEND = args.includes("--append");
const EPOCHS = 20;
const BATCH = 50000;

async function post(url, p, body) {
  const res = await fetch(url + p, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** A synthetic run: step fields with noise and a few spikes, epochs with energy, an architecture. */
async function fillRun(url, steps) {
  const run = await post(url, "/api/v1/runs", { project: "bench", name: `tti-${steps}`, started_at: 1.7e9 });
  let seq = 0;
  const t0 = 1.7e9;
  const dt = 0.01;
  const perEpoch = Math.ceil(steps / EPOCHS);
  const modules = [{ name: "", type: "Net", parent: null, params: 0, trainable_params: 0, flops: 5e6 }];
  for (let b = 0; b < 6; b++) {
    modules.push({ name: `block${b}`, type: "Sequential", parent: "", params: 0, trainable_params: 0 });
    modules.push({ name: `block${b}.conv`, type: "Conv2d", parent: `block${b}`, params: 10000 * (b + 1), trainable_params: 10000 * (b + 1), flops: 4e5 });
    modules.push({ name: `block${b}.act`, type: "ReLU", parent: `block${b}`, params: 0, trainable_params: 0, flops: 1e4 });
  }
  await post(url, `/api/v1/runs/${run.id}/records`, { records: [{ kind: "architecture", seq: seq++, modules }] });
  let records = [];
  const flush = async () => {
    if (records.length === 0) return;
    await post(url, `/api/v1/runs/${run.id}/records`, { records });
    records = [];
  };
  for (let s = 0; s < steps; s++) {
    const epoch = Math.floor(s / perEpoch);
    const loss = 2.3 * Math.exp(-s / (steps / 4)) + 0.05 * Math.random() + (s % 9973 === 0 ? 3 : 0);
    records.push({
      kind: "step", seq: seq++, step: s, epoch, ts: t0 + s * dt, loss, samples: 64,
      step_ms: 10 + Math.random(), samples_per_s: 6400 + 100 * Math.random(),
      rss_bytes: 2e9 + s * 10, cpu_percent: 90 + 5 * Math.random(),
    });
    if ((s + 1) % perEpoch === 0 || s === steps - 1) {
      records.push({
        kind: "epoch", seq: seq++, epoch, ts: t0 + s * dt, duration_s: perEpoch * dt,
        train: { loss, accuracy: 1 - loss / 3 }, val: { loss: loss * 1.1, accuracy: 1 - loss / 2.8 },
        energy: [{ component: "cpu", device: "package-0", joules: 500 + 10 * epoch, method: "measured:rapl" }],
      });
    }
    if (records.length >= BATCH) await flush();
  }
  await flush();
  await post(url, `/api/v1/runs/${run.id}/finish`, { seq: seq++, ts: t0 + steps * dt, status: "completed" });
  return run.id;
}

async function measure(browser, url, runId) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${url}/runs/${runId}`);
  await page.locator('[data-testid="epoch-metrics-chart"] canvas').waitFor({ timeout: 60000 });
  await page.locator('[data-testid="epoch-energy-chart"] canvas').waitFor({ timeout: 60000 });
  const result = await page.evaluate(
    () =>
      new Promise((resolve) =>
        requestIdleCallback(() => {
          const nav = performance.getEntriesByType("navigation")[0];
          const resources = performance.getEntriesByType("resource");
          const bytes = (nav?.transferSize ?? 0) + resources.reduce((s, r) => s + (r.transferSize || 0), 0);
          resolve({ tti: performance.now(), bytes, requests: resources.length + 1 });
        }),
      ),
  );
  // Then every step chart, each scrolled into view (they load when they near the viewport).
  const series = await (await fetch(`${url}/api/v1/runs/${runId}/series`)).json();
  const charts = series.series.filter((n) => n !== "samples" && n !== "tokens").length;
  for (let i = 0; i < charts; i++) {
    await page.locator(".step-chart").nth(i).scrollIntoViewIfNeeded();
    await page.locator(".step-chart").nth(i).locator("canvas").waitFor({ timeout: 120000 });
  }
  result.allCharts = await page.evaluate(() => performance.now());
  result.allBytes = await page.evaluate(() =>
    performance.getEntriesByType("resource").reduce((s, r) => s + (r.transferSize || 0), performance.getEntriesByType("navigation")[0]?.transferSize ?? 0),
  );
  await context.close();
  if (errors.length) throw new Error(errors.join("\n"));
  return result;
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await startAtlasd();
const browser = await launchChromium();
const rows = [];
try {
  for (const steps of STEPS) {
    const t = Date.now();
    const runId = await fillRun(server.url, steps);
    console.log(`filled ${steps} steps in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const runs = [];
    for (let i = 0; i < REPEATS; i++) runs.push(await measure(browser, server.url, runId));
    const row = {
      steps,
      tti: median(runs.map((r) => r.tti)),
      min: Math.min(...runs.map((r) => r.tti)),
      max: Math.max(...runs.map((r) => r.tti)),
      bytes: median(runs.map((r) => r.bytes)),
      allCharts: median(runs.map((r) => r.allCharts)),
      allBytes: median(runs.map((r) => r.allBytes)),
      requests: runs[0].requests,
    };
    rows.push(row);
    console.log(`${steps} steps: TTI median ${row.tti.toFixed(0)} ms (min ${row.min.toFixed(0)}, max ${row.max.toFixed(0)}), ${(row.bytes / 1024).toFixed(0)} KiB in ${row.requests} requests; all step charts ${row.allCharts.toFixed(0)} ms, ${(row.allBytes / 1024).toFixed(0)} KiB`);
  }
} finally {
  await browser.close();
  await server.stop();
}

if (APPEND) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    "",
    `## ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC — ${os.cpus().length} x ${cpu}, Chromium headless, cold cache, median of ${REPEATS}`,
    "",
    `Load average when measured: ${os.loadavg().map((l) => l.toFixed(1)).join(", ")} (1, 5, 15 min); atlasd from ${process.env.ATLAS_BUILD_DIR ?? "build-web"}.`,
    "",
    "| steps in the run | TTI, first fold: median (ms) | min–max (ms) | bytes to TTI | requests to TTI | all step charts drawn (ms) | bytes, all charts |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.steps.toLocaleString("en-US")} | ${r.tti.toFixed(0)} | ${r.min.toFixed(0)}–${r.max.toFixed(0)} | ${(r.bytes / 1024).toFixed(0)} KiB | ${r.requests} | ${r.allCharts.toFixed(0)} | ${(r.allBytes / 1024).toFixed(0)} KiB |`),
    "",
  ];
  appendFileSync(path.join(here, "RESULTS.md"), lines.join("\n"));
}
