// Browser half of the TF.js harness: the same line protocol as run_models.mjs (one JSON request
// per stdin line, one JSON answer per stdout line), answered by TF.js inside headless Chromium.
//
//   node run_browser.mjs PAGE_URL [CHROMIUM]
//
// PAGE_URL is tests/js/browser/index.html as served by the pytest HTTP server (same origin as the
// models).  CHROMIUM defaults to $TFJSCONV_CHROMIUM or /usr/bin/chromium: a system browser driven
// through playwright-core, so nothing downloads a browser.  Each request is passed to
// window.tfjsconvHandle in the page; TF.js's own console output goes to stderr.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const protocolOut = process.stdout.write.bind(process.stdout);
const log = (line) => process.stderr.write(line + '\n');
const reply = (obj) => protocolOut(JSON.stringify(obj) + '\n');

const pageUrl = process.argv[2];
const executablePath = process.argv[3] || process.env.TFJSCONV_CHROMIUM || '/usr/bin/chromium';
if (!pageUrl) {
  log('usage: node run_browser.mjs PAGE_URL [CHROMIUM]');
  process.exit(2);
}

// A fresh, empty profile per run; no GPU (webgl runs on SwiftShader, Chromium's CPU Vulkan/GL
// implementation) and none of the background traffic a first start would make.
const profile = mkdtempSync(path.join(os.tmpdir(), 'tfjsconv-chromium-'));
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-extensions', '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
];

let context;
let page;

async function cleanup() {
  try {
    if (context) await context.close();
  } catch (err) {
    log(`closing chromium: ${err.message}`);
  }
  rmSync(profile, { recursive: true, force: true });
}

async function start() {
  context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: ARGS });
  page = context.pages()[0] || await context.newPage();
  page.on('console', (msg) => log(`[page ${msg.type()}] ${msg.text()}`));
  page.on('pageerror', (err) => log(`[page error] ${err.message}`));
  page.on('crash', () => log('[page crashed]'));
  await page.goto(pageUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => window.tfjsconvReady === true, null, { timeout: 60000 });
}

let launchError = null;
const lines = readline.createInterface({ input: process.stdin, terminal: false });
// Requests wait for the launch; if it failed, every request is answered with that error.
let queue = start().catch((err) => {
  launchError = `could not start chromium (${executablePath}): ${err.message}`;
  log(launchError);
});
lines.on('line', (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    if (launchError) {
      reply({ error: launchError });
      return;
    }
    let req;
    try {
      req = JSON.parse(line);
    } catch (err) {
      reply({ error: `bad request JSON: ${err.message}` });
      return;
    }
    try {
      reply(await page.evaluate((r) => window.tfjsconvHandle(r), req));
    } catch (err) {
      reply({ error: `browser: ${err.message}`, stack: err.stack ? String(err.stack) : '' });
    }
  });
});
lines.on('close', () => {
  queue.finally(async () => {
    await cleanup();
    process.exit(0);
  });
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { cleanup().finally(() => process.exit(1)); });
}
