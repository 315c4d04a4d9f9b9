/* Code ids and names (pycode.c): names read from compact strings of every kind, ids found
 * again by address, forgotten at the code object's free, through the table's growth. */
#include "pyfake.h"

static const char *name_of_code(char *code) {
    uint32_t id = memtap_pycode_id(code);
    cr_assert(id);
    return memtap_pystack_code(id)->qualname;
}

static char *code_named(char *name_str) {
    char *c = fake_code("x", "x.py", 1);
    put_ptr(c, fl->co_name, name_str);
    if (fl->co_qualname)
        put_ptr(c, fl->co_qualname, name_str);
    return c;
}

static void names(int minor) {
    fake_python(minor);
    static const uint32_t latin[] = {'g', 'r', 0xfc, 0xdf, 'e'}; /* grüße */
    static const uint32_t cjk[] = {0x65e5, 0x672c};              /* 日本 */
    static const uint32_t astral[] = {'a', 0x1f600};             /* a😀 */
    cr_assert_str_eq(name_of_code(code_named(fake_ascii("plain"))), "plain");
    cr_assert_str_eq(name_of_code(code_named(fake_str(latin, 5, 1, NULL))), "gr\xc3\xbc\xc3\x9f"
                                                                            "e");
    cr_assert_str_eq(name_of_code(code_named(fake_str(cjk, 2, 2, NULL))),
                     "\xe6\x97\xa5\xe6\x9c\xac");
    cr_assert_str_eq(name_of_code(code_named(fake_str(astral, 2, 4, NULL))), "a\xf0\x9f\x98\x80");
    /* the interpreter's UTF-8 copy, when it has one, is what is read */
    cr_assert_str_eq(name_of_code(code_named(fake_str(cjk, 2, 2, "cached"))), "cached");
    /* a string that is not compact, and no string at all */
    char *legacy = fake_ascii("legacy");
    memset(legacy + fl->str_state, 0, 4);
    cr_assert_str_eq(name_of_code(code_named(legacy)), "?");
    cr_assert_str_eq(name_of_code(code_named(NULL)), "?");
}

Test(pycode, names_of_3_10, .timeout = 10) {
    names(10);
}
Test(pycode, names_of_3_11, .timeout = 10) {
    names(11);
}
Test(pycode, names_of_3_12, .timeout = 10) {
    names(12);
}

Test(pycode, long_names_are_cut, .timeout = 10) {
    fake_python(12);
    char text[10000];
    memset(text, 'n', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    uint32_t id = memtap_pycode_id(code_named(fake_ascii(text)));
    cr_assert_eq(memtap_pystack_code(id)->qualname_len, 4096);
    static uint32_t wide[3000];
    for (int i = 0; i < 3000; i++)
        wide[i] = 0x65e5;
    id = memtap_pycode_id(code_named(fake_str(wide, 3000, 2, NULL)));
    cr_assert_eq(memtap_pystack_code(id)->qualname_len, 4095, "whole characters only");
}

Test(pycode, ids_through_growth_and_frees, .timeout = 10) {
    fake_python(12);
    enum { N = 20000 };
    static char *codes[N];
    static uint32_t ids[N];
    for (int i = 0; i < N; i++) {
        codes[i] = fake_code("f", "many.py", i + 1);
        ids[i] = memtap_pycode_id(codes[i]);
        cr_assert(ids[i]);
        cr_assert(i == 0 || ids[i] > ids[i - 1], "a new id each");
    }
    for (int i = 0; i < N; i += 2)
        memtap_pycode_forget(codes[i]);
    for (int i = 0; i < N; i++) {
        uint32_t again = memtap_pycode_id(codes[i]);
        if (i % 2)
            cr_assert_eq(again, ids[i], "code %d keeps its id", i);
        else
            cr_assert_gt(again, ids[N - 1], "freed code %d: a new id", i);
        cr_assert_eq(memtap_pystack_code(again)->firstline, (uint32_t)i + 1);
    }
    cr_assert_null(memtap_pystack_code(0));
    cr_assert_null(memtap_pystack_code(UINT32_MAX));
}
