/* The page writer: the embedded template has one placeholder inside the data block; the data
 * goes there with '<', '>' and '&' escaped, the same whether written whole or in pieces; a
 * failed write is reported. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "html/page.h"

typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} mem_t;

static void mem_open(mem_t *m) {
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    cr_assert_not_null(m->f);
}

static void mem_close(mem_t *m) {
    cr_assert_eq(fclose(m->f), 0);
}

/* The template's offset of the placeholder. */
static size_t placeholder(void) {
    const char *p = strstr(memtap_page_template, MEMTAP_PAGE_PLACEHOLDER);
    cr_assert_not_null(p);
    return (size_t)(p - memtap_page_template);
}

Test(page, template_has_one_placeholder_in_the_data_block, .timeout = 10) {
    cr_assert_eq(strlen(memtap_page_template), memtap_page_template_len, "NUL after it only");
    cr_assert_gt(memtap_page_template_len, 200000, "d3 and d3-flame-graph are inside");
    size_t at = placeholder();
    cr_assert_null(strstr(memtap_page_template + at + 1, MEMTAP_PAGE_PLACEHOLDER));
    const char *open_tag = "<script type=\"application/json\" id=\"memtap-data\">";
    cr_assert_eq(strncmp(memtap_page_template + at - strlen(open_tag), open_tag, strlen(open_tag)),
                 0);
    cr_assert_eq(
        strncmp(memtap_page_template + at + strlen(MEMTAP_PAGE_PLACEHOLDER), "</script>", 9), 0);
    cr_assert_eq(strncmp(memtap_page_template, "<!DOCTYPE html>", 15), 0);
    cr_assert_not_null(strstr(memtap_page_template, "Content-Security-Policy"));
}

Test(page, data_replaces_the_placeholder_escaped, .timeout = 10) {
    const char json[] = "{\"name\":\"</script><!--a&b-->\",\"n\":1}";
    const char want[] = "{\"name\":\"\\u003c/script\\u003e\\u003c!--a\\u0026b--\\u003e\",\"n\":1}";
    mem_t m;
    mem_open(&m);
    cr_assert_eq(memtap_page_write(m.f, json, strlen(json)), 0);
    mem_close(&m);
    size_t at = placeholder(),
           tail = memtap_page_template_len - at - strlen(MEMTAP_PAGE_PLACEHOLDER);
    cr_assert_eq(m.len, memtap_page_template_len - strlen(MEMTAP_PAGE_PLACEHOLDER) + strlen(want));
    cr_assert_eq(memcmp(m.buf, memtap_page_template, at), 0);
    cr_assert_eq(memcmp(m.buf + at, want, strlen(want)), 0);
    cr_assert_eq(memcmp(m.buf + at + strlen(want),
                        memtap_page_template + memtap_page_template_len - tail, tail),
                 0);
    free(m.buf);
}

Test(page, pieces_write_the_same_page, .timeout = 10) {
    const char json[] = "{\"f\":[\"a<b\",\"\xc3\xa9t\xc3\xa9 & co\",\"x>y\"],\"<\":\"<<>>\"}";
    mem_t whole, pieces;
    mem_open(&whole);
    cr_assert_eq(memtap_page_write(whole.f, json, strlen(json)), 0);
    mem_close(&whole);
    mem_open(&pieces);
    cr_assert_eq(memtap_page_begin(pieces.f), 0);
    for (size_t i = 0; i < strlen(json); i += 3) /* cuts UTF-8 characters too */
        cr_assert_eq(
            memtap_page_data(pieces.f, json + i, strlen(json) - i < 3 ? strlen(json) - i : 3), 0);
    cr_assert_eq(memtap_page_data(pieces.f, "", 0), 0);
    cr_assert_eq(memtap_page_end(pieces.f), 0);
    mem_close(&pieces);
    cr_assert_eq(whole.len, pieces.len);
    cr_assert_eq(memcmp(whole.buf, pieces.buf, whole.len), 0);
    cr_assert_null(
        memmem(whole.buf + placeholder(), whole.len - memtap_page_template_len + 13, "<", 1),
        "no '<' in the data");
    free(whole.buf);
    free(pieces.buf);
}

Test(page, a_failed_write_is_reported, .timeout = 10) {
    FILE *full = fopen("/dev/full", "w");
    cr_assert_not_null(full);
    setvbuf(full, NULL, _IONBF, 0); /* unbuffered: the first write fails at once */
    cr_assert_eq(memtap_page_write(full, "{}", 2), -1);
    fclose(full);
}
