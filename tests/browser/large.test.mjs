// The page stays light on a huge capture: 65,536 sites of depth 30 (fixtures.mjs large()).
// Measures the page's size, its load time in Chromium and the page's own build and render
// times, writes them to build/tests/browser/large-figures.json and fails past generous bounds.
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILD, launch, open, settle, writePage } from './harness.mjs';
import { large } from './fixtures.mjs';

describe('large capture (65,536 sites)', () => {
  let browser, path, data;
  before(async () => {
    browser = await launch();
    data = large();
    path = writePage('large', data);
  });
  after(async () => { await browser.close(); });

  it('loads, switches views, searches and zooms within bounds', async (t) => {
    const figures = { sites: data.sites.node.length, nodes: data.nodes.parent.length,
      frames: data.frames.name.length, page_bytes: statSync(path).size };
    const p = await open(browser.context, path), page = p.page;
    figures.load_ms = p.loadMs; // navigation start to the first flamegraph drawn
    Object.assign(figures, await page.evaluate(() => window.memtap.timings));
    figures.drawn_frames = await page.$$eval('#chart g.frame', (g) => g.length);
    const timed = async (name, action) => {
      const t0 = Date.now();
      await action();
      await settle(page);
      figures[name] = Date.now() - t0;
    };
    await timed('switch_to_total_ms', () => page.click('#views button[data-view="total"]'));
    await timed('python_only_ms', () => page.check('#python-only'));
    await timed('search_ms', () => page.fill('#search', 'py_function_1'));
    await timed('thread_ms', () => page.selectOption('#thread', '2'));
    const y = (await page.$eval('#timeline svg', (s) => s.getBoundingClientRect().top)) + 60;
    await timed('moment_ms', async () => page.mouse.click(await page.evaluate(() => window.memtap.timelineX(700)), y));
    assert.match(await page.$eval('#moment-text', (e) => e.textContent), /moment 701 of 1000/);
    await timed('zoom_ms', () => page.click('#chart g.frame:nth-child(3) rect', { force: true }));
    writeFileSync(join(BUILD, 'tests', 'browser', 'large-figures.json'), JSON.stringify(figures, null, 2));
    t.diagnostic(JSON.stringify(figures));
    // every site reached the peak view's tree: its root is the sum of the peak figures
    assert.equal(figures.display_nodes > 100000, true);
    assert.ok(figures.load_ms < 15000, `load took ${figures.load_ms} ms`);
    assert.ok(figures.build_ms < 2000, `a tree took ${figures.build_ms} ms`);
    assert.ok(figures.drawn_frames < 5000, `${figures.drawn_frames} frames drawn`);
    assert.deepEqual(p.problems, []);
  });

  it('the peak view sums every site', async () => {
    const p = await open(browser.context, path), page = p.page;
    await settle(page);
    const root = await page.evaluate(() => d3.select('#chart g.frame[name="all"]').datum().value);
    assert.equal(root, data.meta.peak_bytes);
    assert.deepEqual(p.problems, []);
  });
});
