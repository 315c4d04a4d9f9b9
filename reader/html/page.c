/* Writes memtap's HTML flamegraph page: the embedded template with the page data in place of
 * its placeholder, escaped so that no data can be read as markup. */
#include "html/page.h"

#include <string.h>

/* Where the placeholder starts in the template (the build checks there is exactly one); the
 * template's length when it has none. */
static size_t placeholder_offset(void) {
    const char *p = memmem(memtap_page_template, memtap_page_template_len, MEMTAP_PAGE_PLACEHOLDER,
                           strlen(MEMTAP_PAGE_PLACEHOLDER));
    return p ? (size_t)(p - memtap_page_template) : memtap_page_template_len;
}

static int put(FILE *out, const char *s, size_t n) {
    return n == 0 || fwrite(s, 1, n, out) == n ? 0 : -1;
}

int memtap_page_begin(FILE *out) {
    return put(out, memtap_page_template, placeholder_offset());
}

/* The escape of a byte that must not appear in the data block, or NULL. */
static const char *escape_of(char c) {
    return c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : c == '&' ? "\\u0026" : NULL;
}

int memtap_page_data(FILE *out, const char *json, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = escape_of(json[i]);
        if (!esc)
            continue;
        if (put(out, json + start, i - start) < 0 || put(out, esc, strlen(esc)) < 0)
            return -1;
        start = i + 1;
    }
    return put(out, json + start, len - start);
}

int memtap_page_end(FILE *out) {
    size_t at = placeholder_offset();
    if (at == memtap_page_template_len) /* no placeholder: begin wrote it all */
        return 0;
    at += strlen(MEMTAP_PAGE_PLACEHOLDER);
    return put(out, memtap_page_template + at, memtap_page_template_len - at);
}

int memtap_page_write(FILE *out, const char *json, size_t len) {
    if (memtap_page_begin(out) < 0 || memtap_page_data(out, json, len) < 0)
        return -1;
    return memtap_page_end(out);
}
