// Shared pieces of the dashboard's end-to-end test and benchmark: a real atlasd on a free port,
// a real training streaming to it, and Debian's Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = path.resolve(WEB_DIR, "..");
export const ARTIFACTS = path.join(WEB_DIR, "test-artifacts");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws after `timeoutMs` (a safety limit). */
export async function waitFor(what, fn, timeoutMs = 30000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function atlasdPath() {
  const build = process.env.ATLAS_BUILD_DIR ?? path.join(REPO, "build-web");
  const bin = path.join(build, "server/src/cli/atlasd");
  if (!existsSync(bin))
    throw new Error(`atlasd not found at ${bin}: build it or set ATLAS_BUILD_DIR`);
  return bin;
}

/** Starts atlasd on a free port with a fresh data directory, serving web/dist. */
export async function startAtlasd() {
  const dataDir = mkdtempSync(path.join(tmpdir(), "atlas-web-e2e-"));
  const portFile = path.join(dataDir, "port");
  const proc = spawn(
    atlasdPath(),
    [
      "--port",
      "0",
      "--port-file",
      portFile,
      "--data-dir",
      dataDir,
      "--web-dir",
      path.join(WEB_DIR, "dist"),
      "--no-request-log",
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  const port = await waitFor(
    "atlasd's port file",
    () => existsSync(portFile) && Number(readFileSync(portFile, "utf8").trim()),
    20000,
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await waitFor(
          "atlasd to exit",
          () => proc.exitCode !== null || proc.signalCode !== null,
          15000,
        ).catch(() => proc.kill("SIGKILL"));
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs web/e2e/train.py against the server; resolves the run id once the Observer prints it. */
export async function startTraining(url, args = []) {
  const python = process.env.ATLAS_PYTHON ?? path.join(REPO, ".venv/bin/python");
  const proc = spawn(python, [path.join(WEB_DIR, "e2e/train.py"), ...args], {
    env: { ...process.env, ATLAS_URL: url },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout.on("data", (d) => (out += d.toString()));
  const exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  const runId = await waitFor("the training's run id", () => /run (\S+)/.exec(out)?.[1], 240000);
  return {
    runId,
    proc,
    exited,
    output: () => out,
    kill() {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

export async function api(url, p, init) {
  const res = await fetch(url + p, init);
  const body = res.headers.get("content-type")?.includes("json")
    ? await res.json()
    : await res.text();
  return { status: res.status, body };
}

/** Debian's Chromium, headless, with software WebGL for the 3D view. */
export async function launchChromium() {
  const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath))
    throw new Error(`${executablePath} not found: apt-get install chromium`);
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--use-angle=swiftshader",
      "--enable-unsafe-swiftshader",
      "--ignore-gpu-blocklist",
    ],
  });
}

export function artifactsDir(sub) {
  const dir = path.join(ARTIFACTS, sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}
