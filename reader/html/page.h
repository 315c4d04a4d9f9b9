/* memtap's HTML flamegraph page: the template (built from page.html, page.js, page.css, d3
 * and d3-flame-graph by build-page.mjs, embedded in the binary by template.S), filled with
 * the page data whose schema docs/reports.md fixes. */
#ifndef MEMTAP_READER_HTML_PAGE_H
#define MEMTAP_READER_HTML_PAGE_H

#include <stddef.h>
#include <stdio.h>

/* The template: memtap_page_template_len bytes of UTF-8 HTML (a NUL follows them), holding
 * MEMTAP_PAGE_PLACEHOLDER exactly once, inside <script type="application/json">. */
extern const char memtap_page_template[];
extern const size_t memtap_page_template_len;
#define MEMTAP_PAGE_PLACEHOLDER "@MEMTAP_DATA@"

/* Writes the whole page to out: the template with json (len bytes: the page data, one JSON
 * object of schema 1, UTF-8) in place of the placeholder. Each '<', '>' and '&' of json is
 * written as \u003c, \u003e, \u0026; in valid JSON they occur only inside strings, where the
 * escape means the same character, so no name in the data can close the data's element
 * ("</script>") or open a comment ("<!--"). json is not checked otherwise. Returns 0, or -1
 * when a write failed (errno says why); out is buffered, so its fclose() must be checked
 * too. Not for use inside malloc (stdio). */
int memtap_page_write(FILE *out, const char *json, size_t len);

/* The same in pieces, for data written as it is made (e.g. jansson's json_dump_callback):
 * begin writes the template up to the data, data each piece escaped as above (a piece may
 * end anywhere, even inside a UTF-8 character: the escaping is byte by byte), end the rest.
 * Each returns 0, or -1 when a write failed. */
int memtap_page_begin(FILE *out);
int memtap_page_data(FILE *out, const char *json, size_t len);
int memtap_page_end(FILE *out);

#endif
