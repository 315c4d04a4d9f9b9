/* The leak check's verdict: options, classes, when it passes, and its JSON and JUnit files
 * (reader/check/verdict.c, classes.c, verdict_json.c, junit.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/classes.h"
#include "check/verdict.h"

#define TIMEOUT 30
#define BIT(c) (1u << (c))

Test(verdict, class_words_and_masks, .timeout = TIMEOUT) {
    cr_assert_eq(memtap_class_mask("definite,indirect"),
                 BIT(MEMTAP_LC_DEFINITE) | BIT(MEMTAP_LC_INDIRECT));
    cr_assert_eq(memtap_class_mask("reachable"), BIT(MEMTAP_LC_REACHABLE));
    cr_assert_eq(memtap_class_mask("possible,reachable,definite,indirect"), 0x1e);
    cr_assert_eq(memtap_class_mask("definite,lost"), 0, "an unknown word");
    cr_assert_eq(memtap_class_mask("def"), 0, "words are matched whole");
    cr_assert_str_eq(memtap_class_name(MEMTAP_LC_INDIRECT), "indirectly lost");
    cr_assert_str_eq(memtap_class_key(MEMTAP_LC_REACHABLE), "still_reachable");
    cr_assert_str_eq(memtap_class_word(MEMTAP_LC_POSSIBLE), "possible");
}

Test(verdict, options, .timeout = TIMEOUT) {
    memtap_check_opts_t o;
    memtap_check_opts_init(&o);
    cr_assert_eq(o.classes, BIT(MEMTAP_LC_DEFINITE) | BIT(MEMTAP_LC_INDIRECT));
    cr_assert_eq(o.exit_code, 23);
    cr_assert_eq(o.enabled, 0);
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_CHECK, "possible", "run"), 1);
    cr_assert_eq(o.classes, 0x1c);
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_CHECK, "reachable", "run"), 1);
    cr_assert_eq(o.classes, 0x1e);
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_CHECK, NULL, "run"), 1);
    cr_assert_eq(o.classes, 0x18);
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_CHECK_EXIT, "7", "run"), 1);
    cr_assert_eq(o.exit_code, 7);
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_CHECK_EXIT, "0", "run"), -1, "1 to 255");
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_CHECK_EXIT, "256", "run"), -1);
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_MAX_LEAK, "1000", "run"), 1);
    cr_assert_eq(o.max_bytes, 1000);
    cr_assert_eq(memtap_check_option(&o, MEMTAP_OPT_MAX_LEAK, "-1", "run"), -1);
    cr_assert_eq(memtap_check_option(&o, 'x', NULL, "run"), 0, "not a check option");
    cr_assert_eq(o.enabled, 1);
}

Test(verdict, site_suppression_by_class, .timeout = TIMEOUT) {
    memtap_site_leak_t sl[3] = {0};
    sl[1].cls[MEMTAP_LC_DEFINITE] = (memtap_amount_t){2, 200};
    sl[1].cls[MEMTAP_LC_REACHABLE] = (memtap_amount_t){1, 50};
    sl[1].lost_rule = "python user";
    sl[2].cls[MEMTAP_LC_INDIRECT] = (memtap_amount_t){3, 30};
    sl[2].rule = "leak:x";
    memtap_amount_t by[MEMTAP_LC_COUNT], supp;
    memtap_site_leaks_total(sl, 3, by, &supp);
    cr_assert_eq(by[MEMTAP_LC_DEFINITE].bytes, 0);
    cr_assert_eq(by[MEMTAP_LC_REACHABLE].bytes, 50, "a lost-only rule keeps the reachable");
    cr_assert_eq(by[MEMTAP_LC_INDIRECT].bytes, 0);
    cr_assert_eq(supp.bytes, 230);
    cr_assert_eq(supp.blocks, 5);
    cr_assert_str_eq(memtap_site_suppressed(&sl[1], MEMTAP_LC_POSSIBLE), "python user");
    cr_assert_null(memtap_site_suppressed(&sl[1], MEMTAP_LC_REACHABLE));
    cr_assert_str_eq(memtap_site_suppressed(&sl[2], MEMTAP_LC_REACHABLE), "leak:x");
}

/* A verdict with a killed process and a judged one holding one leak site. */
static void sample(memtap_verdict_t *v, uint64_t max_bytes) {
    memtap_check_opts_t o;
    memtap_check_opts_init(&o);
    o.max_bytes = max_bytes;
    memtap_verdict_init(v, &o);
    cr_assert_eq(memtap_verdict_skip(v, 10, 1, "sleeper", "killed by signal 9: not judged"), 0);
    memtap_check_process_t *p = calloc(1, sizeof *p);
    p->pid = 11;
    p->ppid = 1;
    p->command = strdup("leaky <a&b>");
    p->judged = p->classes = 1;
    p->cls[MEMTAP_LC_DEFINITE] = (memtap_amount_t){3, 300};
    p->cls[MEMTAP_LC_REACHABLE] = (memtap_amount_t){1, 8};
    p->judged_amount = (memtap_amount_t){3, 300};
    cr_assert_eq(VEC_RESERVE(v->procs, 1), 0);
    v->procs.v[v->procs.n++] = *p;
    free(p);
    memtap_check_leak_t l = {.process = 1, .judged = {3, 300},
                             .judged_classes = BIT(MEMTAP_LC_DEFINITE) | BIT(MEMTAP_LC_INDIRECT)};
    l.cls[MEMTAP_LC_DEFINITE] = (memtap_amount_t){3, 300};
    l.nframes = 2;
    l.frames = calloc(2, sizeof *l.frames);
    l.frames[0] = (memtap_check_frame_t){strdup("lose_blocks"), strdup("/src/leaky.c"),
                                         strdup("/bin/leaky"), 27, 0, 0};
    l.frames[1] = (memtap_check_frame_t){strdup("main"), strdup("/src/leaky.c"),
                                         strdup("/bin/leaky"), 79, 0, 0};
    cr_assert_eq(VEC_RESERVE(v->leaks, 1), 0);
    v->leaks.v[v->leaks.n++] = l;
    v->cls[MEMTAP_LC_DEFINITE] = (memtap_amount_t){3, 300};
    v->cls[MEMTAP_LC_REACHABLE] = (memtap_amount_t){1, 8};
    v->judged = (memtap_amount_t){3, 300};
    memtap_verdict_finish(v);
}

Test(verdict, passes_only_within_the_threshold, .timeout = TIMEOUT) {
    memtap_verdict_t v;
    sample(&v, 0);
    cr_assert_eq(v.passed, 0);
    memtap_verdict_free(&v);
    sample(&v, 299);
    cr_assert_eq(v.passed, 0);
    memtap_verdict_free(&v);
    sample(&v, 300);
    cr_assert_eq(v.passed, 1, "at most N bytes pass");
    memtap_verdict_free(&v);
    memtap_check_opts_t o;
    memtap_check_opts_init(&o);
    memtap_verdict_init(&v, &o);
    memtap_verdict_finish(&v);
    cr_assert_eq(v.passed, 0, "nothing judged: nothing passes");
    cr_assert_eq(memtap_verdict_skip(&v, 5, 1, "x", "killed"), 0);
    memtap_verdict_finish(&v);
    cr_assert_eq(v.passed, 0, "every process killed: nothing passes");
    memtap_verdict_free(&v);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(verdict, json_file, .timeout = TIMEOUT) {
    memtap_verdict_t v;
    sample(&v, 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/memtap-verdict-%d.json", (int)getpid());
    cr_assert_eq(memtap_verdict_json(&v, path), 0);
    json_error_t e;
    json_t *o = json_load_file(path, 0, &e);
    cr_assert_not_null(o, "%s", e.text);
    cr_assert(json_is_false(json_object_get(o, "passed")));
    json_t *d = json_object_get(o, "definitely_lost");
    cr_assert_eq(json_integer_value(json_object_get(d, "bytes")), 300);
    cr_assert_eq(json_integer_value(json_object_get(d, "blocks")), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "still_reachable"),
                                                    "bytes")), 8);
    cr_assert_not_null(json_object_get(o, "indirectly_lost"));
    cr_assert_not_null(json_object_get(o, "possibly_lost"));
    cr_assert_not_null(json_object_get(o, "suppressed"));
    json_t *procs = json_object_get(o, "processes");
    cr_assert_eq(json_array_size(procs), 2);
    cr_assert(json_is_false(json_object_get(json_array_get(procs, 0), "judged")));
    json_t *leaks = json_object_get(o, "leaks");
    cr_assert_eq(json_array_size(leaks), 1);
    json_t *l = json_array_get(leaks, 0);
    cr_assert_str_eq(json_string_value(json_object_get(l, "function")), "lose_blocks");
    cr_assert_eq(json_integer_value(json_object_get(l, "line")), 27);
    cr_assert_eq(json_integer_value(json_object_get(l, "pid")), 11);
    cr_assert_eq(json_array_size(json_object_get(l, "stack")), 2);
    json_decref(o);
    unlink(path);
    memtap_verdict_free(&v);
}

Test(verdict, junit_file, .timeout = TIMEOUT) {
    memtap_verdict_t v;
    sample(&v, 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/memtap-verdict-%d.xml", (int)getpid());
    cr_assert_eq(memtap_verdict_junit(&v, path), 0);
    const char *x = slurp(path);
    cr_assert(strstr(x, "<testsuites name=\"memtap\" tests=\"1\" failures=\"1\">"), "%s", x);
    cr_assert(strstr(x, "name=\"lose_blocks (leaky.c:27) [pid 11]\""), "%s", x);
    cr_assert(strstr(x, "message=\"definitely lost 300 bytes in 3 blocks at lose_blocks "
                        "(leaky.c:27)\""), "%s", x);
    cr_assert(strstr(x, "process 11: leaky &lt;a&amp;b&gt;"), "escaped: %s", x);
    cr_assert(strstr(x, "    main  /src/leaky.c:79"), "%s", x);
    unlink(path);
    memtap_verdict_free(&v);
}
