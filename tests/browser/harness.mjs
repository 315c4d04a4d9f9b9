// The browser tests' harness: Debian's chromium driven by playwright-core (no browser
// download), pages opened from file://, every console error, page error, dialog and request
// that leaves file:// recorded so that each test can fail on them.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { fillPage } from './make-page.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = process.env.MEMTAP_BUILD || join(ROOT, 'build');
export const TEMPLATE = join(BUILD, 'reader', 'html', 'page.html');
const OUT = join(BUILD, 'tests', 'browser');

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];

// Writes the page for data (an object, or JSON text) into build/tests/browser/NAME.html.
export function writePage(name, data) {
  mkdirSync(OUT, { recursive: true });
  const json = typeof data === 'string' ? data : JSON.stringify(data);
  const path = join(OUT, `${name}.html`);
  writeFileSync(path, fillPage(readFileSync(TEMPLATE, 'utf8'), json));
  return path;
}

// A fresh browser profile; returns {context, close}.
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'memtap-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.MEMTAP_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    offline: true,
  });
  return { context, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

// Opens path in a new tab and waits for the page to say it is ready. The returned problems
// list collects console errors, page errors, dialogs and requests that leave file://.
export async function open(context, path) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('request', (r) => { if (!r.url().startsWith('file://')) problems.push(`request: ${r.url()}`); });
  await page.route((url) => url.protocol !== 'file:', (route) => route.abort());
  const t0 = Date.now();
  await page.goto(pathToFileURL(path).href);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60000 });
  const loadMs = Date.now() - t0;
  return { page, problems, loadMs };
}

// The flamegraph's frames as drawn once its transitions are over: [{name, value, width}],
// value being the frame's figure in the view (d3-flame-graph's node.value).
export async function frames(page) {
  await settle(page);
  return page.evaluate(() => d3.selectAll('#chart g.frame').nodes().map((g) => {
    const d = d3.select(g).datum();
    return { name: d.data.name, value: d.value, width: +g.querySelector('rect').getAttribute('width'),
      depth: d.depth, y: +g.getAttribute('transform').split(',')[1].replace(')', ''),
      label: g.querySelector('div').textContent, highlight: !!d.highlight,
      fill: g.querySelector('rect').getAttribute('fill') };
  }));
}

// Waits until d3's transitions have ended (no element has an active one).
export async function settle(page) {
  await page.waitForFunction(() => !d3.selectAll('#chart *').nodes().some((n) => n.__transition), null,
    { timeout: 10000, polling: 50 });
}

export async function chartWidth(page) {
  return page.evaluate(() => +document.querySelector('#chart svg').getAttribute('width'));
}
