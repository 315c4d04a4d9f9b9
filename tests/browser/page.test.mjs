// The flamegraph page on the small hand-written capture (fixtures.mjs): each view's frames
// and widths, search, zoom and breadcrumb, inverted, the frame toggles, threads, the
// timeline's moments, tooltips and the header. Every test also fails on a console error, a
// page error, a dialog or a request that leaves file://.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TEMPLATE, chartWidth, frames, launch, open, settle, writePage } from './harness.mjs';
import { small } from './fixtures.mjs';

const PY = { module: '<module> (app.py:1)', load: 'load_data (app.py:20)', parse: 'parse (app.py:35)',
  cache: 'build_cache (app.py:50)' };
const EVAL = '_PyEval_EvalFrameDefault';

// Expected frames of each view: "depth name" -> value, from the sites in fixtures.mjs.
const PEAK = {
  '0 all': 32000, '1 main': 15360, '1 start_thread': 16384, '1 [other]': 256,
  '2 Py_RunMain': 15360, '2 worker_main': 16384, [`3 ${EVAL}`]: 15360, '3 compress_block': 16384,
  [`4 ${PY.module}`]: 15360, [`5 ${PY.cache}`]: 8192, [`5 ${EVAL}`]: 7168, [`6 ${PY.load}`]: 7168,
  '7 scanner_call': 4096, [`7 ${PY.parse}`]: 3072, '8 PyList_New': 1024,
};
const LEAKED = {
  '0 all': 13824, '1 main': 9728, '1 start_thread': 4096, '2 Py_RunMain': 9728,
  '2 worker_main': 4096, [`3 ${EVAL}`]: 9728, '3 compress_block': 4096, [`4 ${PY.module}`]: 9728,
  [`5 ${PY.cache}`]: 8192, [`5 ${EVAL}`]: 1536, [`6 ${PY.load}`]: 1536, '7 scanner_call': 1024,
  [`7 ${PY.parse}`]: 512, '8 PyList_New': 512,
};
const TOTAL = {
  '0 all': 75024, '1 main': 37648, '1 start_thread': 36864, '1 [other]': 512,
  '2 Py_RunMain': 37648, '2 worker_main': 36864, [`3 ${EVAL}`]: 37648, '3 compress_block': 32768,
  [`4 ${PY.module}`]: 37648, [`5 ${PY.cache}`]: 16384, [`5 ${EVAL}`]: 21264, [`6 ${PY.load}`]: 21264,
  '7 scanner_call': 10000, [`7 ${PY.parse}`]: 11264, '8 PyList_New': 3072,
};
const COUNT = {
  '0 all': 111, '1 main': 88, '1 start_thread': 17, '1 [other]': 6, '2 Py_RunMain': 88,
  '2 worker_main': 17, [`3 ${EVAL}`]: 88, '3 compress_block': 16, [`4 ${PY.module}`]: 88,
  [`5 ${PY.cache}`]: 2, [`5 ${EVAL}`]: 86, [`6 ${PY.load}`]: 86, '7 scanner_call': 10,
  [`7 ${PY.parse}`]: 76, '8 PyList_New': 12,
};
const TEMPORARY = {
  '0 all': 40, '1 main': 34, '1 start_thread': 5, '1 [other]': 1, '2 Py_RunMain': 34,
  '2 worker_main': 5, [`3 ${EVAL}`]: 34, '3 compress_block': 4, [`4 ${PY.module}`]: 34,
  [`5 ${EVAL}`]: 34, [`6 ${PY.load}`]: 34, '7 scanner_call': 2, [`7 ${PY.parse}`]: 32,
};

// Checks the drawn frames are exactly `expected`, each as wide as its share of the root.
async function expectFrames(page, expected, what) {
  const drawn = await frames(page), w = await chartWidth(page);
  const got = Object.fromEntries(drawn.map((f) => [`${f.depth} ${f.name}`, f.value]));
  assert.deepEqual(got, expected, `${what}: frames and values`);
  const total = expected['0 all'];
  for (const f of drawn) {
    assert.ok(Math.abs(f.width - f.value / total * w) < 0.01, `${what}: ${f.name} is ${f.width} px wide`);
    assert.equal(f.label, f.name, `${what}: label of ${f.name}`);
  }
  return drawn;
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent);
const clickFrame = (page, name) => page.click(`#chart g.frame[name="${name}"] rect`, { force: true });

describe('flamegraph page (small capture)', () => {
  let browser, path;
  const pages = [];
  before(async () => {
    browser = await launch();
    path = writePage('small', small());
  });
  after(async () => { await browser.close(); });
  // a fresh tab for each test; its problems are checked at its end
  async function fresh() {
    const p = await open(browser.context, path);
    pages.push(p);
    return p;
  }
  const clean = (p) => assert.deepEqual(p.problems, [], 'no console error, dialog or request');

  it('opens with the peak view, header figures and no problem', async () => {
    const p = await fresh(), page = p.page;
    await expectFrames(page, PEAK, 'peak');
    assert.equal(await text(page, '#command'), 'python3 app.py --input data.json');
    assert.equal(await page.title(), 'memtap: python3 app.py --input data.json');
    const facts = await page.$$eval('#facts .fact', (els) =>
      Object.fromEntries(els.map((e) => [e.dataset.fact, e.querySelector('dd').textContent])));
    assert.equal(facts.pid, '4242 (parent 4200)');
    assert.equal(facts.duration, '1.195 s');
    assert.equal(facts.peak, '31.3 KiB in 34 blocks at 600 ms');
    assert.equal(facts.leaked, '13.5 KiB in 5 blocks');
    assert.equal(facts.allocated, '73.3 KiB in 111 calls, 106 frees');
    assert.equal(facts.temporary, '40 allocations');
    assert.equal(facts.threads, '2');
    assert.match(await text(page, '#view-note'), /31\.3 KiB live at the peak \(all threads\)/);
    assert.equal(await page.$eval('#views button.active', (b) => b.dataset.view), 'peak');
    assert.equal(await page.$eval('#incomplete', (e) => e.hidden), true);
    clean(p);
  });

  it('switches views without reloading: leaked, total, count, temporary, back to peak', async () => {
    const p = await fresh(), page = p.page;
    await page.evaluate(() => { window.sameDocument = true; });
    for (const [view, expected] of [['leaked', LEAKED], ['total', TOTAL], ['count', COUNT],
      ['temporary', TEMPORARY], ['peak', PEAK]]) {
      await page.click(`#views button[data-view="${view}"]`);
      await expectFrames(page, expected, view);
      assert.equal(await page.$eval('#views button.active', (b) => b.dataset.view), view);
    }
    await page.click('#views button[data-view="temporary"]');
    assert.match(await text(page, '#view-note'),
      /freed before any other allocation was made/);
    assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload');
    clean(p);
  });

  it('search highlights the matches and shows their share, each stack once', async () => {
    const p = await fresh(), page = p.page;
    await page.fill('#search', 'load');
    let drawn = await frames(page);
    assert.deepEqual(drawn.filter((f) => f.highlight).map((f) => f.name), [PY.load]);
    assert.equal(drawn.find((f) => f.name === PY.load).fill, '#e600e6');
    assert.equal(await text(page, '#search-result'), '1 frame matches: 7.00 KiB, 22.40% of the view');
    // a file name: <module> holds every other match, so the share is <module>'s
    await page.fill('#search', 'APP.PY');
    drawn = await frames(page);
    assert.deepEqual(drawn.filter((f) => f.highlight).map((f) => f.name).sort(),
      [PY.module, PY.cache, PY.load, PY.parse].sort());
    assert.equal(await text(page, '#search-result'), '4 frames match: 15.0 KiB, 48.00% of the view');
    // the search stays across a view switch
    await page.click('#views button[data-view="leaked"]');
    await settle(page);
    assert.equal(await text(page, '#search-result'), '4 frames match: 9.50 KiB, 70.37% of the view');
    await page.fill('#search', '');
    drawn = await frames(page);
    assert.equal(drawn.filter((f) => f.highlight).length, 0);
    assert.equal(await text(page, '#search-result'), '');
    clean(p);
  });

  it('click zooms in, the breadcrumb zooms out', async () => {
    const p = await fresh(), page = p.page;
    const w = await chartWidth(page);
    await settle(page);
    await clickFrame(page, PY.load);
    let drawn = await frames(page);
    const byName = (n) => drawn.filter((f) => f.name === n);
    assert.equal(byName(PY.load)[0].width, w);
    assert.ok(Math.abs(byName('scanner_call')[0].width - 4096 / 7168 * w) < 0.01);
    assert.equal(byName('start_thread').length, 0, 'other stacks are hidden');
    assert.equal(byName(PY.cache).length, 0);
    const crumbs = await page.$$eval('#breadcrumb .crumb', (b) => b.map((x) => x.textContent));
    assert.deepEqual(crumbs, ['all (zoom out)', 'main', 'Py_RunMain', EVAL, PY.module, EVAL, PY.load]);
    // one step out: <module>
    await page.click(`#breadcrumb .crumb:text-is("${PY.module}")`);
    drawn = await frames(page);
    assert.ok(Math.abs(byName(PY.cache)[0].width - 8192 / 15360 * w) < 0.01);
    assert.equal(byName(PY.module)[0].width, w);
    assert.equal((await page.$$('#breadcrumb .crumb')).length, 5);
    // all the way out
    await page.click('#breadcrumb .crumb:text-is("all (zoom out)")');
    await expectFrames(page, PEAK, 'zoomed out');
    assert.equal((await page.$$('#breadcrumb .crumb')).length, 0);
    clean(p);
  });

  it('inverted draws the root at the top (icicle)', async () => {
    const p = await fresh(), page = p.page;
    let drawn = await frames(page);
    const rootY = drawn.find((f) => f.name === 'all').y;
    assert.ok(rootY > drawn.find((f) => f.name === 'PyList_New').y, 'flame: root at the bottom');
    await page.check('#inverted');
    drawn = await frames(page);
    assert.equal(drawn.find((f) => f.name === 'all').y, 0);
    assert.equal(drawn.find((f) => f.name === 'PyList_New').y, 8 * 18);
    await page.uncheck('#inverted');
    drawn = await frames(page);
    assert.equal(drawn.find((f) => f.name === 'all').y, rootY);
    clean(p);
  });

  it('Python frames only, and hide interpreter frames', async () => {
    const p = await fresh(), page = p.page;
    await page.check('#python-only');
    const pyOnly = {
      '0 all': 32000, [`1 ${PY.module}`]: 15360, '1 start_thread': 16384, '1 [other]': 256,
      [`2 ${PY.cache}`]: 8192, [`2 ${PY.load}`]: 7168, '2 worker_main': 16384,
      '3 scanner_call': 4096, [`3 ${PY.parse}`]: 3072, '3 compress_block': 16384, '4 PyList_New': 1024,
    };
    await expectFrames(page, pyOnly, 'python only');
    await page.check('#hide-interpreter');
    delete pyOnly['4 PyList_New'];
    await expectFrames(page, pyOnly, 'python only, no interpreter');
    await page.uncheck('#python-only');
    await expectFrames(page, {
      '0 all': 32000, '1 main': 15360, '1 start_thread': 16384, '1 [other]': 256,
      [`2 ${PY.module}`]: 15360, '2 worker_main': 16384, [`3 ${PY.cache}`]: 8192,
      [`3 ${PY.load}`]: 7168, '3 compress_block': 16384, '4 scanner_call': 4096, [`4 ${PY.parse}`]: 3072,
    }, 'no interpreter');
    await page.uncheck('#hide-interpreter');
    await expectFrames(page, PEAK, 'all frames again');
    clean(p);
  });

  it('the thread selector shows one thread or all', async () => {
    const p = await fresh(), page = p.page;
    const options = await page.$$eval('#thread option', (o) => o.map((x) => x.textContent));
    assert.deepEqual(options, ['all threads', 'main (tid 4242)', 'worker-1 (tid 4243)']);
    await page.selectOption('#thread', '1');
    await expectFrames(page, { '0 all': 16384, '1 start_thread': 16384, '2 worker_main': 16384,
      '3 compress_block': 16384 }, 'worker peak');
    await page.click('#views button[data-view="total"]');
    await expectFrames(page, { '0 all': 36864, '1 start_thread': 36864, '2 worker_main': 36864,
      '3 compress_block': 32768 }, 'worker total');
    await page.selectOption('#thread', '0');
    const main = await frames(page);
    assert.equal(main.find((f) => f.name === 'all').value, 37648 + 512);
    assert.equal(main.filter((f) => f.name === 'start_thread').length, 0);
    await page.selectOption('#thread', '-1');
    await expectFrames(page, TOTAL, 'all threads');
    clean(p);
  });

  it('tooltips give bytes, share, blocks, allocators and file:line', async () => {
    const p = await fresh(), page = p.page;
    await settle(page);
    await page.hover('#chart g.frame[name="scanner_call"] rect', { force: true });
    await page.waitForSelector('.d3-flame-graph-tip', { state: 'visible' });
    assert.equal(await text(page, '.d3-flame-graph-tip'), ['scanner_call', 'Modules/_json.c:321',
      'in _json.cpython-311-x86_64-linux-gnu.so', 'native frame',
      '4.00 KiB live at the peak: 12.80% of the view', '2 blocks', 'allocators: malloc'].join('\n'));
    await page.hover(`#chart g.frame[name="${PY.parse}"] rect`, { force: true });
    assert.equal(await text(page, '.d3-flame-graph-tip'), [PY.parse, '/home/u/app.py:35',
      'Python frame', '3.00 KiB live at the peak: 9.60% of the view', '2.00 KiB in this frame itself',
      '20 blocks', 'allocators: pymem, pyobject'].join('\n'));
    assert.equal(await text(page, '#details'), `${PY.parse}: 3.00 KiB, 9.60%`);
    await page.click('#views button[data-view="count"]');
    await settle(page);
    await page.hover('#chart g.frame[name="compress_block"] rect', { force: true });
    assert.equal(await text(page, '.d3-flame-graph-tip'), ['compress_block', 'worker.c:40',
      'in libworker.so', 'native frame', '16 allocation calls: 14.41% of the view',
      '32.0 KiB allocated', 'allocators: malloc, calloc'].join('\n'));
    clean(p);
  });

  it('the timeline: a click shows the memory live at that moment, a range its highest', async () => {
    const p = await fresh(), page = p.page;
    const box = await page.$eval('#timeline svg', (s) => s.getBoundingClientRect().toJSON());
    const y = box.top + 60;
    assert.equal(await page.$$eval('.peak-mark text', (t) => t[0].textContent), 'peak 31.3 KiB');
    // moment 50 (500 ms): A 4096, B 1024, C 1024, D 8192, F 16384
    await page.mouse.click(await page.evaluate(() => window.memtap.timelineX(50)), y);
    await expectFrames(page, {
      '0 all': 30720, '1 main': 14336, '1 start_thread': 16384, '2 Py_RunMain': 14336,
      '2 worker_main': 16384, [`3 ${EVAL}`]: 14336, '3 compress_block': 16384,
      [`4 ${PY.module}`]: 14336, [`5 ${PY.cache}`]: 8192, [`5 ${EVAL}`]: 6144, [`6 ${PY.load}`]: 6144,
      '7 scanner_call': 4096, [`7 ${PY.parse}`]: 2048, '8 PyList_New': 1024,
    }, 'moment 50');
    assert.equal(await text(page, '#moment-text'),
      'Memory live at 500 ms (moment 51 of 120): heap 30.0 KiB in 23 blocks.');
    assert.equal(await page.$$eval('#views button.active', (b) => b.length), 0);
    // back to the view it came from
    assert.equal(await text(page, '#moment-back'), 'back to live at peak');
    await page.click('#moment-back');
    await expectFrames(page, PEAK, 'back');
    assert.equal(await page.$eval('#moment-banner', (e) => e.hidden), true);
    // a range from moment 65.5 to 100.5: its highest heap is moment 66 (31,744 bytes)
    const x0 = (await page.evaluate(() => window.memtap.timelineX(65) + window.memtap.timelineX(66))) / 2;
    const x1 = (await page.evaluate(() => window.memtap.timelineX(100) + window.memtap.timelineX(101))) / 2;
    await page.mouse.move(x0, y);
    await page.mouse.down();
    await page.mouse.move(x1, y, { steps: 8 });
    await page.mouse.up();
    const drawn = await frames(page);
    assert.equal(drawn.find((f) => f.name === 'all').value, 31744);
    assert.equal(drawn.filter((f) => f.name === '[other]').length, 0);
    assert.match(await text(page, '#moment-text'), /^Memory live at 660 ms \(moment 67 of 120\)/);
    // the peak moment shows the peak view's figures
    await page.mouse.click(await page.evaluate(() => window.memtap.timelineX(60)), y);
    await expectFrames(page, PEAK, 'peak moment');
    // a view button leaves the moment
    await page.click('#views button[data-view="leaked"]');
    await expectFrames(page, LEAKED, 'leaked after a moment');
    clean(p);
  });

  it('a page without data, or of another schema, says so', async () => {
    for (const [file, message] of [[TEMPLATE, 'memtap: this page has no data (template only)'],
      [writePage('schema2', { schema: 2 }), 'memtap: unknown data schema 2 (this page reads 1)']]) {
      const page = await browser.context.newPage(), errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('#view-note.error');
      assert.equal(await text(page, '#view-note'), message);
      assert.deepEqual(errors, []);
    }
  });
});
