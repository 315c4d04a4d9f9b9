// The page as `memtap flamegraph` writes it for REAL captures made here by `memtap run`: a
// native program with known leaks, one whose heap is known at every instant (the timeline),
// a Python script, and a Python function named with markup in a capture whose path holds
// markup too. Each test also fails on a console error, a dialog or a request that leaves
// file://. MEMTAP_SCREENSHOTS=1 rewrites docs/flamegraph-*.png from examples/cache.py.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILD, ROOT, frames, launch, open, settle } from './harness.mjs';

const OUT = join(BUILD, 'tests', 'browser', 'real');
const MEMTAP = join(BUILD, 'memtap');
const PYTHON = '/usr/bin/python3.11';
const EVIL = '</script><script>alert(1)</script><!--';

// `memtap run` of argv into OUT/name.memtap, then `memtap flamegraph ARGS` into
// OUT/name.html (both replaced). Returns the page's path.
function capture(name, argv, args = [], file = join(OUT, `${name}.memtap`)) {
  rmSync(file, { force: true });
  execFileSync(MEMTAP, ['run', '-o', file, '--', ...argv], { stdio: 'pipe', timeout: 120000 });
  const page = join(OUT, `${name}.html`);
  const printed = execFileSync(MEMTAP, ['flamegraph', '--force', '-o', page, ...args, file],
    { encoding: 'utf8', timeout: 120000 });
  assert.equal(printed, `${page}\n`, 'the command prints the page it wrote');
  return page;
}

// The page's own data, as the page parsed it.
const pageData = (page) => page.evaluate(() =>
  JSON.parse(document.getElementById('memtap-data').textContent));
const rootValue = async (page) => (await frames(page)).find((f) => f.depth === 0).value;
const names = async (page) => new Set((await frames(page)).map((f) => f.name));

describe('pages of real captures', () => {
  let browser;
  const pages = {};
  const hasPython = existsSync(PYTHON);
  before(async () => {
    mkdirSync(OUT, { recursive: true });
    pages.known = capture('known', [join(BUILD, 'e2e', 'known_leaks')], ['--min-percent', '0']);
    pages.leaks = join(OUT, 'known-leaks.html');
    execFileSync(MEMTAP, ['flamegraph', '--force', '--leaks', '-o', pages.leaks,
      join(OUT, 'known.memtap')], { stdio: 'pipe' });
    pages.steps = capture('steps', [join(BUILD, 'e2e', 'heap_steps'), '2000'], ['--min-percent', '0']);
    if (hasPython) {
      const grow = join(OUT, 'grow.py');
      writeFileSync(grow, 'def grow(n):\n    return [bytearray(1000) for _ in range(n)]\n\n' +
        'def serve():\n    return grow(400)\n\nkeep = serve()\n');
      pages.python = capture('python', [PYTHON, grow], ['--python-only']);
      const evil = join(OUT, 'evil.py');
      writeFileSync(evil, 'def grow(n):\n    return [bytearray(1000) for _ in range(n)]\n' +
        `grow.__code__ = grow.__code__.replace(co_name=${JSON.stringify(EVIL)}, ` +
        `co_qualname=${JSON.stringify(EVIL)})\nkeep = grow(300)\n`);
      mkdirSync(join(OUT, '<'), { recursive: true });
      pages.evil = capture('evil', [PYTHON, evil], [], join(OUT, '<', 'script>.memtap'));
    }
    browser = await launch();
  });
  after(async () => { if (browser) await browser.close(); });

  it('known_leaks: its functions drawn, the peak at the root, the header', async () => {
    const p = await open(browser.context, pages.known), page = p.page;
    const data = await pageData(page);
    const drawn = await names(page);
    for (const fn of ['main', 'leak_big', 'leak_realloc_chain', 'leak_mmap'])
      assert.ok(drawn.has(fn), `${fn} drawn`);
    // 400 bytes of 1.1 MiB: under a pixel, so not drawn (d3-flame-graph's minFrameSize)
    assert.equal(drawn.has('leak_calloc'), false);
    assert.ok(data.frames.name.includes('leak_calloc'));
    assert.equal(await rootValue(page), data.meta.peak_bytes);
    assert.equal(await page.$eval('#command', (e) => e.textContent), data.meta.command);
    assert.match(data.meta.command, /known_leaks$/);
    assert.equal(await page.$eval('#views button.active', (b) => b.dataset.view), 'peak');
    assert.deepEqual(p.problems, []);
  });

  it('--leaks: the page opens with the leaked view', async () => {
    const p = await open(browser.context, pages.leaks), page = p.page;
    const data = await pageData(page);
    assert.equal(await page.$eval('#views button.active', (b) => b.dataset.view), 'leaked');
    assert.equal(await rootValue(page), data.meta.leaked_bytes);
    assert.deepEqual(p.problems, []);
  });

  it('heap_steps: a click on the timeline shows the memory live at that moment', async () => {
    const p = await open(browser.context, pages.steps), page = p.page;
    const data = await pageData(page), tl = data.timeline;
    assert.equal(await rootValue(page), tl.heap_bytes[tl.peak_index]);
    // a moment while the blocks are freed, its heap well under the peak
    const target = tl.t_ms.findIndex((t, i) => i > tl.peak_index && tl.heap_blocks[i] < 1000);
    assert.ok(target > 0);
    const y = (await page.$eval('#timeline svg', (s) => s.getBoundingClientRect().top)) + 60;
    await page.mouse.click(await page.evaluate((i) => window.memtap.timelineX(i), target), y);
    await settle(page);
    const m = await page.evaluate(() => window.memtap.state.moment);
    assert.ok(m > tl.peak_index, `moment ${m} picked`);
    assert.ok(tl.heap_bytes[m] < tl.heap_bytes[tl.peak_index]);
    assert.equal(await rootValue(page), tl.heap_bytes[m], 'the root is the heap then');
    // each stack's width is its live bytes then: the odd sizes' site holds the odd blocks
    // not yet freed (freed in order: j freed leaves the blocks j+1..2000)
    const j = 2000 - tl.heap_blocks[m], odd = (k) => ((k + 1) >> 1) ** 2;
    const drawn = await frames(page);
    assert.equal(drawn.find((f) => f.name === 'odd_block').value, odd(2000) - odd(j));
    assert.equal(await page.$eval('#moment-banner', (e) => e.hidden), false);
    assert.match(await page.$eval('#moment-text', (e) => e.textContent), new RegExp(`moment ${m + 1} of`));
    await page.click('#moment-back');
    await settle(page);
    assert.equal(await rootValue(page), tl.heap_bytes[tl.peak_index], 'back to the peak view');
    assert.deepEqual(p.problems, []);
  });

  it('a Python script: Python frames in blue, the Python-only switch on', async (t) => {
    if (!hasPython) { t.skip(`no ${PYTHON}`); return; }
    const p = await open(browser.context, pages.python), page = p.page;
    const data = await pageData(page);
    assert.equal(data.meta.python, true);
    assert.equal(await page.$eval('#python-only', (e) => e.checked), true);
    const drawn = await frames(page);
    const grow = drawn.find((f) => f.name === 'grow (grow.py:2)');
    assert.ok(grow, 'the allocating line of grow drawn');
    assert.ok(drawn.find((f) => f.name === 'serve (grow.py:5)'), 'its caller');
    assert.match(grow.fill, /^hsl\((19[5-9]|2[0-2]\d)/, 'a Python frame is blue');
    // Python-only: no interpreter frame outer of the Python ones
    const kinds = await page.evaluate(() => d3.selectAll('#chart g.frame').data()
      .filter((d) => d.data.frame >= 0).map((d) => [d.data.name, d.depth]));
    const growDepth = grow.depth;
    assert.ok(kinds.every(([name, depth]) => depth >= growDepth - 2 || !/^_?Py/.test(name)),
      'the interpreter loop is hidden');
    await page.uncheck('#python-only');
    await settle(page);
    assert.ok((await names(page)).has('_PyEval_EvalFrameDefault') || data.frames.kind.includes(2),
      'with the switch off, the interpreter frames are back');
    assert.deepEqual(p.problems, []);
  });

  it('names made of markup, written by the real command, show as text and run nothing', async (t) => {
    if (!hasPython) { t.skip(`no ${PYTHON}`); return; }
    const html = readFileSync(pages.evil, 'utf8');
    assert.equal(html.match(/<\/script>/g).length, 4, 'our three scripts and the data block');
    const p = await open(browser.context, pages.evil), page = p.page;
    const drawn = await frames(page);
    const evil = drawn.find((f) => f.name.startsWith(EVIL));
    assert.ok(evil, 'the function is drawn with its name as text');
    assert.equal(evil.label.startsWith(EVIL), true);
    assert.equal(await page.$$eval('script', (s) => s.length), 4);
    assert.equal(await page.$eval('#facts [data-fact="capture"] dd', (e) => e.textContent),
      join(OUT, '<', 'script>.memtap'));
    await page.fill('#search', '<script>');
    await settle(page);
    assert.match(await page.$eval('#search-result', (e) => e.textContent), /^1 frame matches: /);
    assert.deepEqual(p.problems, [], 'no dialog, console error or request');
  });

  it('writes the screenshots into docs/ when MEMTAP_SCREENSHOTS is set', async (t) => {
    if (!process.env.MEMTAP_SCREENSHOTS) { t.skip('MEMTAP_SCREENSHOTS not set'); return; }
    if (!hasPython) { t.skip(`no ${PYTHON}`); return; }
    const path = capture('cache', [PYTHON, join(ROOT, 'examples', 'cache.py')]);
    const p = await open(browser.context, path), page = p.page;
    await page.setViewportSize({ width: 1200, height: 760 });
    await page.evaluate(() => window.dispatchEvent(new Event('resize')));
    await page.waitForTimeout(400);
    await settle(page);
    const drawn = await frames(page);
    const render = drawn.find((f) => f.name.startsWith('render (cache.py'));
    if (render) await page.hover(`#chart g.frame[name="${render.name}"] rect`, { force: true });
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(ROOT, 'docs', 'flamegraph-peak.png'), fullPage: true });
    const data = await pageData(page), tl = data.timeline;
    const mid = Math.floor(tl.peak_index / 2);
    await page.evaluate(() => window.scrollTo(0, 0));
    const box = await page.$eval('#timeline svg', (s) => s.getBoundingClientRect().toJSON());
    await page.mouse.click(await page.evaluate((i) => window.memtap.timelineX(i), mid), box.top + 60);
    await settle(page);
    assert.equal(await page.$eval('#moment-banner', (e) => e.hidden), false, 'a moment shown');
    await page.mouse.move(5, 5);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(ROOT, 'docs', 'flamegraph-timeline.png'), fullPage: true });
    assert.deepEqual(p.problems, []);
  });
});
