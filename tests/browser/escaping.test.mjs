// Names are data, never markup: a function, a file, a thread name and a command line made
// of <script> tags show as text, no script of theirs runs and no dialog opens. The page is
// written by the C page writer (fill-page, page.c), which must escape exactly as
// make-page.mjs does.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILD, frames, launch, open, settle, writePage } from './harness.mjs';
import { HOSTILE, hostile } from './fixtures.mjs';

describe('escaping', () => {
  let browser, path;
  before(async () => {
    browser = await launch();
    const json = JSON.stringify(hostile());
    const jsPath = writePage('hostile-js', json);
    const dataPath = join(BUILD, 'tests', 'browser', 'hostile.json');
    writeFileSync(dataPath, json);
    path = join(BUILD, 'tests', 'browser', 'hostile.html');
    execFileSync(join(BUILD, 'tests', 'browser', 'fill-page'), [dataPath, path]);
    assert.ok(readFileSync(path).equals(readFileSync(jsPath)), 'page.c and make-page.mjs write the same page');
  });
  after(async () => { await browser.close(); });

  it('the data block holds no markup', () => {
    const html = readFileSync(path, 'utf8');
    const data = html.slice(html.indexOf('<script type="application/json" id="memtap-data">'));
    const block = data.slice(data.indexOf('>') + 1, data.indexOf('</script>'));
    assert.equal(/[<>&]/.test(block), false, 'no <, > or & in the data block');
    assert.deepEqual(JSON.parse(block), hostile(), 'the escaped data reads back the same');
    assert.equal(html.match(/<script/g).length, 4, 'the data block and our three scripts');
  });

  it('hostile names show as text and run nothing', async () => {
    const p = await open(browser.context, path), page = p.page;
    await page.selectOption('#thread', '1');
    const drawn = await frames(page);
    assert.ok(drawn.some((f) => f.name === HOSTILE.func && f.label === HOSTILE.func), 'function name as text');
    assert.equal(await page.$eval('#command', (e) => e.textContent), HOSTILE.command);
    assert.equal(await page.title(), `memtap: ${HOSTILE.command}`);
    assert.deepEqual(await page.$$eval('#thread option', (o) => o.map((x) => x.textContent)),
      ['all threads', 'main (tid 4242)', `${HOSTILE.thread} (tid 4243)`]);
    assert.match(await page.$eval('#view-note', (e) => e.textContent), /\(<img src=x onerror=alert\(3\)><\/script> \(tid 4243\)\)/);
    await settle(page);
    await page.hover(`#chart g.frame rect >> nth=${drawn.findIndex((f) => f.name === HOSTILE.func)}`, { force: true });
    const tip = await page.$eval('.d3-flame-graph-tip', (e) => e.textContent);
    assert.equal(tip.split('\n').slice(0, 2).join('\n'), `${HOSTILE.func}\n${HOSTILE.file}:40`);
    await page.fill('#search', '<script>');
    await settle(page);
    assert.match(await page.$eval('#search-result', (e) => e.textContent), /^1 frame matches: /);
    // nothing of the data became an element: our three scripts, the data block, no image
    assert.equal(await page.$$eval('script', (s) => s.length), 4);
    assert.equal(await page.$$eval('img', (s) => s.length), 0);
    assert.equal(await page.$eval('#facts [data-fact="capture"] dd', (e) => e.textContent), '/tmp/<!--x-->.memtap');
    assert.deepEqual(p.problems, [], 'no dialog, console error or request');
  });
});
