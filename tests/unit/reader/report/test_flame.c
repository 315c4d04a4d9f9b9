/* The flamegraph's model (reader/report/flame.c) and the page data (reader/html/page_data.c)
 * on events made by hand: stacks of this test binary's own functions, resolved by the real
 * symbolizer; frames, the call tree, sites per thread and their figures in each view, the
 * [other] sites, the timeline's entries per site, and the page data as JSON. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "html/page_data.h"
#include "replay/timeline.h"
#include "report/flame.h"
#include "support/replay_events.h"

static memtap_replay_t r;
static memtap_symbolizer_t *sym;
static memtap_flame_t f;
static memtap_fsite_t *in;
static size_t nin;

#define BODY { __asm__ volatile("nop; nop; nop; nop; nop; nop; nop; nop"); }
__attribute__((noinline)) void flame_test_main(void);
__attribute__((noinline)) void flame_test_main(void) BODY
__attribute__((noinline)) void flame_test_a(void);
__attribute__((noinline)) void flame_test_a(void) BODY
__attribute__((noinline)) void flame_test_b(void);
__attribute__((noinline)) void flame_test_b(void) BODY
__attribute__((noinline)) void flame_test_alloc(void);
__attribute__((noinline)) void flame_test_alloc(void) BODY
static uint64_t ip(void (*fn)(void)) { return (uint64_t)(uintptr_t)fn + 4; }

/* The test binary as the capture's module, so its functions symbolize. */
static int add_self(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size, (void)data;
    static memtap_seg_t segs[16];
    size_t n = 0;
    for (int i = 0; i < info->dlpi_phnum && n < 16; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD)
            segs[n++] = (memtap_seg_t){info->dlpi_phdr[i].p_vaddr, info->dlpi_phdr[i].p_memsz,
                                        info->dlpi_phdr[i].p_flags};
    static char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(len > 0);
    exe[len] = '\0';
    re_module(&r, exe, info->dlpi_addr, NULL, 0, segs, n);
    return 1; /* the first object is the program itself */
}

static void alloc(uint64_t addr, uint64_t size, uint32_t node, uint32_t thread) {
    re_feed(&r, (memtap_event_t){.type = MEMTAP_EV_ALLOC,
                                 .u.alloc = {.kind = MEMTAP_KIND_MALLOC, .addr = addr, .size = size,
                                             .node = node, .thread = thread}});
}

/* main -> a -> alloc on threads 1 and 2, main -> b -> alloc on thread 1:
 *   t1 alloc 100 @a; t2 alloc 200 @a; t1 alloc 50 @b (peak 350); free the 100;
 *   t1 alloc 1 @b, freed at once (temporary). Leaked: 200 + 50. */
static void setup(void) {
    memtap_replay_use_timeline(64);
    cr_assert_eq(memtap_replay_init(&r), 0);
    memtap_replay_use_timeline(0);
    re_header(&r, "/bin/flame-test", "flame-test --x", 0);
    dl_iterate_phdr(add_self, NULL);
    for (uint32_t t = 1; t <= 2; t++)
        re_feed(&r, (memtap_event_t){.type = MEMTAP_EV_THREAD,
                                     .u.thread = {.index = t, .tid = 500 + t, .name = t == 1 ? "main" : "</script>", .name_len = t == 1 ? 4 : 9}});
    uint32_t m = re_next_node(&r, 0, ip(flame_test_main));
    uint32_t a = re_next_node(&r, m, ip(flame_test_a)), b = re_next_node(&r, m, ip(flame_test_b));
    uint32_t aa = re_next_node(&r, a, ip(flame_test_alloc)), ba = re_next_node(&r, b, ip(flame_test_alloc));
    alloc(0x1000, 100, aa, 1);
    alloc(0x2000, 200, aa, 2);
    alloc(0x3000, 50, ba, 1);
    re_free(&r, 0x1000);
    alloc(0x4000, 1, ba, 1);
    re_free(&r, 0x4000);
    re_feed(&r, (memtap_event_t){.type = MEMTAP_EV_END, .u.end = {.complete = 1}});
    memtap_replay_finish(&r);
    cr_assert_eq(memtap_timeline_finish(&r), 0);
    sym = memtap_symbolizer_new(&r);
    in = memtap_flame_sites(&r, &nin);
    cr_assert_not_null(in);
}
static void teardown(void) {
    memtap_flame_free(&f);
    free(in);
    memtap_symbolizer_free(sym);
    memtap_replay_free(&r);
}
TestSuite(flame, .init = setup, .fini = teardown);

/* The names of node n's frames from the root down, joined by '/'. */
static const char *path(uint32_t n) {
    static char buf[512];
    const char *names[32];
    size_t k = 0;
    for (int32_t at = (int32_t)n; at > 0 && k < 32; at = f.parent.v[at])
        names[k++] = f.frames.v[f.frame.v[at]].name;
    buf[0] = '\0';
    while (k-- > 0) {
        strcat(buf, names[k]);
        if (k)
            strcat(buf, "/");
    }
    return buf;
}

static void expect_site(size_t i, const char *stack, uint32_t thread, uint64_t peak, uint64_t leaked,
                        uint64_t total, uint64_t count, uint64_t temporary) {
    const memtap_fsite_t *s = &f.sites.v[i];
    cr_assert_str_eq(path(s->node), stack, "site %zu", i);
    cr_assert_eq(s->thread, thread, "site %zu", i);
    cr_assert_eq(s->peak_bytes, peak, "site %zu: peak %lu", i, (unsigned long)s->peak_bytes);
    cr_assert_eq(s->leaked_bytes, leaked, "site %zu", i);
    cr_assert_eq(s->total_bytes, total, "site %zu", i);
    cr_assert_eq(s->allocations, count, "site %zu", i);
    cr_assert_eq(s->temporary, temporary, "site %zu", i);
}

Test(flame, sites_per_thread_and_the_tree, .timeout = 10) {
    cr_assert_eq(nin, 3);
    cr_assert_eq(memtap_flame_build(&f, sym, &r, in, nin, 0, 0), 0);
    cr_assert_eq(f.sites.n, 3);
    expect_site(0, "flame_test_main/flame_test_a/flame_test_alloc", 0, 100, 0, 100, 1, 0);
    expect_site(1, "flame_test_main/flame_test_a/flame_test_alloc", 1, 200, 200, 200, 1, 0);
    expect_site(2, "flame_test_main/flame_test_b/flame_test_alloc", 0, 50, 50, 51, 2, 1);
    cr_assert_eq(f.sites.v[2].temporary_bytes, 1);
    cr_assert_eq(f.sites.v[2].peak_blocks, 1);
    cr_assert_eq(f.sites.v[0].node, f.sites.v[1].node, "one stack, one node");
    /* four distinct frames (flame_test_alloc at one line, under two callers), six nodes */
    cr_assert_eq(f.frames.n, 4);
    cr_assert_eq(f.parent.n, 6);
    for (size_t i = 1; i < f.parent.n; i++)
        cr_assert(f.parent.v[i] >= 0 && (size_t)f.parent.v[i] < i, "parents first");
    for (size_t i = 0; i < f.frames.n; i++) {
        cr_assert_eq(f.frames.v[i].kind, MEMTAP_FK_NATIVE);
        cr_assert_not_null(f.frames.v[i].file);
        cr_assert(strstr(f.frames.v[i].file, "test_flame.c"), "%s", f.frames.v[i].file);
        cr_assert_str_eq(f.frames.v[i].module, "test_flame", "the module's file name");
    }
    cr_assert_eq(f.merged, 0);
}

/* Under 30% of every view: the first site (peak 100/350, total 100/351, 1 of 4 calls, none
 * leaked or temporary) goes to [other]; the third stays for its 2 calls of 4. */
Test(flame, small_sites_merge_into_other_per_thread, .timeout = 10) {
    memtap_flame_keep_top = 0; /* only --min-percent decides here */
    cr_assert_eq(memtap_flame_build(&f, sym, &r, in, nin, 0, 30), 0);
    cr_assert_eq(f.merged, 1);
    cr_assert_eq(f.sites.n, 3);
    expect_site(0, "[other]", 0, 100, 0, 100, 1, 0);
    cr_assert_eq(f.parent.v[f.sites.v[0].node], 0, "[other] is a child of the root");
    cr_assert_eq(f.frames.v[f.frame.v[f.sites.v[0].node]].kind, MEMTAP_FK_OTHER);
    expect_site(1, "flame_test_main/flame_test_a/flame_test_alloc", 1, 200, 200, 200, 1, 0);
    expect_site(2, "flame_test_main/flame_test_b/flame_test_alloc", 0, 50, 50, 51, 2, 1);
    cr_assert_eq(f.site_of[0], 0);
    cr_assert_eq(f.site_of[2], 2);
    /* at 100%: only the third stays, which made every temporary allocation; the [other]
     * sites are one per thread */
    memtap_flame_free(&f);
    cr_assert_eq(memtap_flame_build(&f, sym, &r, in, nin, 0, 100), 0);
    cr_assert_eq(f.sites.n, 3);
    expect_site(0, "[other]", 0, 100, 0, 100, 1, 0);
    expect_site(1, "[other]", 1, 200, 200, 200, 1, 0);
    expect_site(2, "flame_test_main/flame_test_b/flame_test_alloc", 0, 50, 50, 51, 2, 1);
    cr_assert_eq(f.sites.v[0].node, f.sites.v[1].node, "one [other] node");
}

/* The timeline's entries per flame site: at every moment the sites' figures sum to the
 * heap, merged sites summed. */
Test(flame, temporal_entries_per_site, .timeout = 10) {
    cr_assert_eq(memtap_flame_build(&f, sym, &r, in, nin, 0, 100), 0);
    const memtap_timeline_t *tl = r.tl;
    memtap_tl_entry_t *out = malloc(tl->entries.n * sizeof *out);
    size_t n = memtap_flame_temporal(&f, tl->entries.v, tl->entries.n, tl->tsites.n, out);
    cr_assert_neq(n, (size_t)-1);
    for (size_t i = 1; i < n; i++)
        cr_assert(out[i - 1].tsite < out[i].tsite ||
                      (out[i - 1].tsite == out[i].tsite && out[i - 1].moment < out[i].moment),
                  "by site, then moment; one entry per (site, moment)");
    for (size_t m = 0; m < tl->moments.n; m++) {
        uint64_t sum = 0, blocks = 0;
        for (uint32_t s = 0; s < f.sites.n; s++) { /* the site's latest entry at or before m */
            uint64_t b = 0, k = 0;
            for (size_t i = 0; i < n; i++)
                if (out[i].tsite == s && out[i].moment <= m)
                    b = out[i].bytes, k = out[i].blocks;
            sum += b;
            blocks += k;
        }
        cr_assert_eq(sum, tl->moments.v[m].heap_bytes, "moment %zu", m);
        cr_assert_eq(blocks, tl->moments.v[m].heap_blocks, "moment %zu", m);
    }
    free(out);
}

/* The page data: valid JSON with the figures above, names as data. */
Test(flame, page_data_json, .timeout = 10) {
    cr_assert_eq(memtap_flame_build(&f, sym, &r, in, nin, 0, 0), 0);
    const memtap_timeline_t *tl = r.tl;
    memtap_tl_entry_t *t = malloc(tl->entries.n * sizeof *t);
    size_t nt = memtap_flame_temporal(&f, tl->entries.v, tl->entries.n, tl->tsites.n, t);
    memtap_page_input_t pin = {"/tmp/</script>.memtap", &r, &f, t, nt, MEMTAP_VIEW_LEAKED, 1};
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    static memtap_jw_t w;
    memtap_jw_init(&w, mem, 1);
    cr_assert_eq(memtap_page_data_json(&w, &pin), 0);
    fclose(mem);
    cr_assert_null(strpbrk(buf, "<>&"), "html mode: no <, > or &");
    json_error_t err;
    json_t *d = json_loadb(buf, len, 0, &err);
    cr_assert_not_null(d, "%s at %d", err.text, err.position);
    json_t *meta = json_object_get(d, "meta");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "capture")), "/tmp/</script>.memtap");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "command")), "flame-test --x");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "view")), "leaked");
    cr_assert(json_is_false(json_object_get(meta, "python_only")), "no Python: off");
    cr_assert_eq(json_integer_value(json_object_get(meta, "peak_bytes")), 350);
    cr_assert_eq(json_integer_value(json_object_get(meta, "leaked_bytes")), 250);
    cr_assert_eq(json_integer_value(json_object_get(meta, "allocations")), 4);
    json_t *threads = json_object_get(d, "threads");
    cr_assert_eq(json_array_size(threads), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(threads, 1), "name")), "</script>");
    json_t *sites = json_object_get(d, "sites");
    const char *cols[] = {"peak_bytes", "leaked_bytes", "total_bytes", "allocations", "temporary_allocations", "temporary_bytes"};
    const long want[][3] = {{100, 200, 50}, {0, 200, 50}, {100, 200, 51}, {1, 1, 2}, {0, 0, 1}, {0, 0, 1}};
    for (size_t c = 0; c < 6; c++)
        for (size_t i = 0; i < 3; i++)
            cr_assert_eq(json_integer_value(json_array_get(json_object_get(sites, cols[c]), i)), want[c][i], "%s[%zu]", cols[c], i);
    json_t *timeline = json_object_get(d, "timeline");
    size_t peak = (size_t)json_integer_value(json_object_get(timeline, "peak_index"));
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(timeline, "heap_bytes"), peak)), 350);
    cr_assert_eq(json_array_size(json_object_get(timeline, "t_ms")), tl->moments.n);
    json_t *kinds = json_object_get(d, "allocator_kinds");
    cr_assert_eq(json_array_size(kinds), 13);
    cr_assert_str_eq(json_string_value(json_array_get(kinds, 12)), "pyobject");
    json_decref(d);
    free(buf);
    free(t);
}

/* Sites given by hand: the two small ones of a thread are summed into its [other] site;
 * input sites are summed where their stacks read the same on one thread. */
Test(flame, other_sums_its_sites, .timeout = 10) {
    memtap_flame_keep_top = 0; /* only --min-percent decides here */
    uint32_t node = r.sites.v[1].node; /* a real stack */
    memtap_fsite_t hand[] = {
        {.node = node, .thread = 0, .kinds = 1, .peak_bytes = 1000, .total_bytes = 1000, .allocations = 10},
        {.node = node, .thread = 0, .kinds = 2, .peak_bytes = 3, .total_bytes = 5, .allocations = 1,
         .leaked_bytes = 1, .leaked_blocks = 1},
        {.node = node, .thread = 0, .kinds = 4, .peak_bytes = 4, .total_bytes = 6, .allocations = 1},
        {.node = node, .thread = 0, .kinds = 8, .peak_bytes = 500, .total_bytes = 500, .allocations = 5},
    };
    cr_assert_eq(memtap_flame_build(&f, sym, &r, hand, 4, 0, 10.0), 0);
    /* at 10%: the third (1 call of 17, 4 bytes of 1,507 at the peak) merges; the second
     * stays for its leak (1 byte of 1) */
    cr_assert_eq(f.merged, 1);
    cr_assert_eq(f.sites.n, 2);
    cr_assert_eq(f.site_of[0], 0);
    cr_assert_eq(f.site_of[2], 1);
    cr_assert_eq(f.site_of[1], 0, "the same stack on the same thread: one site");
    cr_assert_eq(f.site_of[3], 0);
    cr_assert_eq(f.sites.v[0].peak_bytes, 1503);
    cr_assert_eq(f.sites.v[0].kinds, 1 | 2 | 8);
    cr_assert_eq(f.sites.v[0].allocations, 16);
    memtap_flame_free(&f);
    hand[1].leaked_bytes = hand[1].leaked_blocks = 0;
    cr_assert_eq(memtap_flame_build(&f, sym, &r, hand, 4, 0, 10.0), 0);
    cr_assert_eq(f.merged, 2);
    cr_assert_eq(f.site_of[1], f.site_of[2]);
    const memtap_fsite_t *o = &f.sites.v[f.site_of[1]];
    cr_assert_str_eq(path(o->node), "[other]");
    cr_assert(o->peak_bytes == 7 && o->total_bytes == 11 && o->allocations == 2 && o->kinds == (2 | 4));
}
