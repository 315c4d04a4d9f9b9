/* The JSON writer (reader/html/json_write.c): escapes, invalid UTF-8, html mode written as
 * memtap_page_data escapes, numbers, a buffer filled many times over, a failed write. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "html/json_write.h"
#include "html/page.h"

static memtap_jw_t w;
static char *buf;
static size_t len;
static FILE *mem;

static void begin(int html) {
    mem = open_memstream(&buf, &len);
    memtap_jw_init(&w, mem, html);
}
static const char *end(void) {
    cr_assert_eq(memtap_jw_flush(&w), 0);
    fclose(mem);
    return buf;
}
static void teardown(void) { free(buf), buf = NULL; }
TestSuite(json_write, .fini = teardown);

Test(json_write, escapes, .timeout = 10) {
    begin(0);
    memtap_jw_str(&w, "a\"b\\c\n\t\r\x01\x1f</script>&");
    memtap_jw_raw(&w, ",", 1);
    memtap_jw_str(&w, NULL);
    cr_assert_str_eq(end(), "\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u001f</script>&\",null");
}

Test(json_write, html_mode_hides_markup, .timeout = 10) {
    begin(1);
    memtap_jw_str(&w, "</script><!--&");
    cr_assert_str_eq(end(), "\"\\u003c/script\\u003e\\u003c!--\\u0026\"");
}

Test(json_write, utf8_kept_invalid_replaced, .timeout = 10) {
    begin(0);
    /* é, €, 😀 are kept; a lone continuation byte, a cut sequence, an overlong '/', a
     * surrogate and a byte past U+10FFFF are each U+FFFD */
    memtap_jw_str(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80|\xf5");
    cr_assert_str_eq(end(), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|"
                            "\\ufffd\\ufffd\\ufffd|\\ufffd\"");
}

Test(json_write, numbers, .timeout = 10) {
    begin(0);
    memtap_jw_u64(&w, 0);
    memtap_jw_raw(&w, " ", 1);
    memtap_jw_u64(&w, UINT64_MAX);
    memtap_jw_raw(&w, " ", 1);
    memtap_jw_i64(&w, -42);
    memtap_jw_raw(&w, " ", 1);
    memtap_jw_ms(&w, 12.5);
    memtap_jw_raw(&w, " ", 1);
    memtap_jw_ms(&w, 100.0);
    memtap_jw_raw(&w, " ", 1);
    memtap_jw_ms(&w, 0.0004);
    cr_assert_str_eq(end(), "0 18446744073709551615 -42 12.5 100 0");
}

/* The same text written in html mode and through memtap_page_data are the same bytes:
 * the page may take the writer's output straight into its data block. */
Test(json_write, html_mode_equals_page_data, .timeout = 10) {
    static char text[200000];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = "ab<>&\"x/ \xc3\xa9"[i % 11];
    text[sizeof text - 1] = '\0';
    begin(0);
    memtap_jw_str(&w, text); /* 200 KB: more than the buffer */
    const char *plain = end();
    char *a = NULL;
    size_t alen = 0;
    FILE *m = open_memstream(&a, &alen);
    cr_assert_eq(memtap_page_data(m, plain, len), 0);
    fclose(m);
    char *html = buf;
    buf = NULL;
    begin(1);
    memtap_jw_str(&w, text);
    end();
    cr_assert_eq(len, alen);
    cr_assert_eq(memcmp(buf, a, len), 0);
    free(a);
    free(html);
}

Test(json_write, failed_write_is_sticky, .timeout = 10) {
    FILE *full = fopen("/dev/full", "w");
    cr_assert_not_null(full);
    setvbuf(full, NULL, _IONBF, 0);
    memtap_jw_init(&w, full, 0);
    memtap_jw_str(&w, "x");
    cr_assert_eq(memtap_jw_flush(&w), -1);
    memtap_jw_u64(&w, 1);
    cr_assert_eq(memtap_jw_flush(&w), -1, "the error stays");
    fclose(full);
}
