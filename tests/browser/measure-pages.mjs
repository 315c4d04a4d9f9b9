// Measures pages memtap wrote: size, Chromium's load time (navigation to the first
// flamegraph drawn) and the page's own timings, the median of RUNS loads each (a fresh tab
// each time). Not a test: docs/performance.md's figures.
// Usage: node tests/browser/measure-pages.mjs PAGE.html... (RUNS=5 by default)
import { statSync } from 'node:fs';
import { launch, open, settle } from './harness.mjs';

const runs = Number(process.env.RUNS || 5);
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const browser = await launch();
for (const path of process.argv.slice(2)) {
  const load = [], parse = [], build = [], render = [];
  let drawn = 0, nodes = 0, problems = [];
  for (let i = 0; i < runs; i++) {
    const p = await open(browser.context, path);
    await settle(p.page);
    const t = await p.page.evaluate(() => window.memtap.timings);
    load.push(p.loadMs); parse.push(t.parse_ms); build.push(t.build_ms); render.push(t.render_ms);
    drawn = await p.page.$$eval('#chart g.frame', (g) => g.length);
    nodes = t.display_nodes;
    problems = problems.concat(p.problems);
    await p.page.close();
  }
  console.log(JSON.stringify({ page: path, bytes: statSync(path).size, runs,
    load_ms: median(load), parse_ms: Math.round(median(parse)), build_ms: Math.round(median(build)),
    render_ms: Math.round(median(render)), display_nodes: nodes, drawn_frames: drawn, problems }));
}
await browser.close();
