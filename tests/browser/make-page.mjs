// Fills memtap's page template with page data, escaped as memtap_page_write() (page.c)
// escapes it, until the C side makes the data itself; the browser tests' page maker.
// Usage: node tests/browser/make-page.mjs TEMPLATE.html DATA.json OUT.html
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PLACEHOLDER = '@MEMTAP_DATA@';

// '<', '>' and '&' only occur inside JSON strings, where \u escapes mean the same: the data
// block can then hold no "</script" and no "<!--", whatever the names in it.
export function escapeJson(json) {
  return json.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

export function fillPage(template, json) {
  const at = template.indexOf(PLACEHOLDER);
  if (at < 0 || template.indexOf(PLACEHOLDER, at + 1) >= 0)
    throw new Error(`the template must hold ${PLACEHOLDER} once`);
  return template.slice(0, at) + escapeJson(json) + template.slice(at + PLACEHOLDER.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [template, data, out] = process.argv.slice(2);
  if (!out) {
    console.error('usage: node make-page.mjs TEMPLATE.html DATA.json OUT.html');
    process.exit(2);
  }
  writeFileSync(out, fillPage(readFileSync(template, 'utf8'), readFileSync(data, 'utf8')));
}
