// Builds memtap's HTML page template: page.html with d3, d3-flame-graph (from node_modules,
// pinned by package-lock.json), their CSS and our page.js/page.css inlined, and one data
// placeholder that memtap_page_write() (page.c) fills. Usage: node build-page.mjs OUT.html
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const read = (...p) => readFileSync(join(...p), 'utf8');

// The one placeholder where the data goes; page.c and make-page.mjs look for it.
export const PLACEHOLDER = '@MEMTAP_DATA@';

const scripts = [
  ['d3 7 (d3.min.js)', read(root, 'node_modules/d3/dist/d3.min.js')],
  ['d3-flame-graph (d3-flamegraph.umd.min.js)',
    read(root, 'node_modules/d3-flame-graph/dist/d3-flamegraph.umd.min.js')],
  ['memtap page (reader/html/page.js)', read(here, 'page.js')],
];
const styles = [
  read(root, 'node_modules/d3-flame-graph/dist/d3-flamegraph.css'),
  read(here, 'page.css'),
];

// Inlined code must neither close its element early nor hide the data placeholder.
for (const [name, text] of [...scripts, ['styles', styles.join('\n')]]) {
  if (/<\/(script|style)|<!--/i.test(text))
    throw new Error(`${name}: contains </script, </style or <!--, cannot be inlined`);
  if (text.includes(PLACEHOLDER))
    throw new Error(`${name}: contains the data placeholder ${PLACEHOLDER}`);
}
// The source maps' comments would make the browser look for files that are not there.
const strip = (js) => js.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n');
const bodies = scripts.map(([, js]) => strip(js));

// Content-Security-Policy: nothing may be fetched (default-src 'none'), and only our three
// scripts may run (their SHA-256), so even markup smuggled past the escaping could not.
const sha = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const csp = `default-src 'none'; script-src ${bodies.map(sha).join(' ')}; ` +
  "style-src 'unsafe-inline'; img-src data:; connect-src 'none'; form-action 'none'; " +
  "base-uri 'none'";

const page = read(here, 'page.html');
const parts = page.split('<!--@STYLES@-->');
if (parts.length !== 2 || !page.includes('<!--@SCRIPTS@-->') || !page.includes('@CSP@'))
  throw new Error('page.html: needs one <!--@STYLES@-->, <!--@SCRIPTS@--> and @CSP@');
let out = page
  .replace('@CSP@', csp)
  .replace('<!--@STYLES@-->', () => `<style>\n${styles.join('\n')}\n</style>`)
  .replace('<!--@SCRIPTS@-->', () =>
    bodies.map((js, i) => `<!-- ${scripts[i][0]} -->\n<script>${js}</script>`).join('\n'));
if (out.split(PLACEHOLDER).length !== 2)
  throw new Error(`page.html: needs exactly one ${PLACEHOLDER}`);
writeFileSync(process.argv[2], out);
