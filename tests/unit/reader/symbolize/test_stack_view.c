/* Stack views (reader/symbolize/stack_view.c): Python frames merged into native stacks
 * where the interpreter's own frames stood, against functions of this very test binary
 * resolved by the real symbolizer; sites merged in Python-only views. */
#include <criterion/criterion.h>
#include <link.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "report/report.h"
#include "replay/replay.h"
#include "support/replay_events.h"
#include "symbolize/stack_view.h"
#include "symbolize/symbolize.h"

static memtap_replay_t r;

/* Stand-ins for the interpreter loop and C code around it, resolved from this binary's
 * own symbols by the real symbolizer. The bodies are long enough for an address inside. */
#define BODY { __asm__ volatile("nop; nop; nop; nop; nop; nop; nop; nop"); }
__attribute__((noinline)) void _PyEval_EvalFrameDefault(void);
__attribute__((noinline)) void _PyEval_EvalFrameDefault(void) BODY
__attribute__((noinline)) void test_c_extension_function(void);
__attribute__((noinline)) void test_c_extension_function(void) BODY
__attribute__((noinline)) void test_allocating_function(void);
__attribute__((noinline)) void test_allocating_function(void) BODY
__attribute__((noinline)) void test_program_main(void);
__attribute__((noinline)) void test_program_main(void) BODY

static int add_self(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    static memtap_seg_t segs[16];
    size_t n = 0;
    for (int i = 0; i < info->dlpi_phnum && n < 16; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD)
            segs[n++] = (memtap_seg_t){info->dlpi_phdr[i].p_vaddr, info->dlpi_phdr[i].p_memsz,
                                        info->dlpi_phdr[i].p_flags};
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(len > 0);
    exe[len] = '\0';
    memtap_event_t m = {.type = MEMTAP_EV_MODULE};
    m.u.module.path = exe;
    m.u.module.path_len = (size_t)len;
    m.u.module.bias = info->dlpi_addr;
    m.u.module.nseg = n;
    m.u.module.segs = segs;
    *(memtap_replay_t **)data = &r;
    re_feed(&r, m);
    return 1; /* the first object is the program itself */
}

static uint64_t ip(void (*fn)(void)) { return (uint64_t)(uintptr_t)fn + 4; }

Test(stack_view, loop_frames_become_the_python_frames_they_ran, .timeout = 10) {
    re_start_image(&r);
    memtap_replay_t *self;
    dl_iterate_phdr(add_self, &self);
    re_code(&r, 1, "outer");
    re_code(&r, 2, "middle");
    re_code(&r, 3, "callback");
    /* as the writer's trie holds them, root first: native frames (outermost first), then
     * Python frames (outermost first). Runs of the loop: [outer, middle] entered from the
     * program, [callback] entered from the C extension. */
    re_node(&r, 1, 0, ip(test_program_main));
    re_node(&r, 2, 1, ip(_PyEval_EvalFrameDefault));
    re_node(&r, 3, 2, ip(test_c_extension_function));
    re_node(&r, 4, 3, ip(_PyEval_EvalFrameDefault));
    re_node(&r, 5, 4, ip(test_allocating_function));
    re_node(&r, 6, 5, memtap_py_frame(1, 10, 1));
    re_node(&r, 7, 6, memtap_py_frame(2, 20, 0));
    re_node(&r, 8, 7, memtap_py_frame(3, 30, 1));
    memtap_replay_finish(&r);
    memtap_symbolizer_t *sym = memtap_symbolizer_new(&r);
    memtap_stack_view_t v = {0};
    cr_assert_eq(memtap_stack_view(sym, &r, 8, 0, &v), 0);
    const char *want[] = {"test_allocating_function", "callback", "test_c_extension_function",
                          "middle", "outer", "test_program_main"};
    cr_assert_eq(v.n, 6, "%zu frames", v.n);
    for (size_t i = 0; i < 6; i++)
        cr_assert_str_eq(v.v[i].function, want[i], "frame %zu", i);
    cr_assert(v.v[1].python && v.v[1].line == 30 && !strcmp(v.v[1].file, "/app/main.py"));
    cr_assert(!v.v[2].python);
    cr_assert_eq(memtap_stack_view(sym, &r, 8, 1, &v), 0); /* --python-only */
    cr_assert_eq(v.n, 3);
    cr_assert_str_eq(v.v[0].function, "callback");
    cr_assert_str_eq(v.v[2].function, "outer");
    memtap_stack_view_free(&v);
    memtap_symbolizer_free(sym);
    memtap_replay_free(&r);
}

Test(stack_view, sites_with_the_same_python_frames_merge_in_python_only_views, .timeout = 10) {
    re_start_image(&r);
    re_node(&r, 1, 0, 0x1000); /* two native paths ... */
    re_node(&r, 2, 0, 0x2000);
    re_node(&r, 3, 1, memtap_py_frame(1, 10, 1)); /* ... under the same Python frame */
    re_node(&r, 4, 2, memtap_py_frame(1, 10, 0)); /* run by another loop: the same Python stack */
    re_node(&r, 5, 2, memtap_py_frame(1, 11, 1)); /* another line */
    re_alloc(&r, 0x100, 10, 3);
    re_alloc(&r, 0x200, 20, 4);
    re_alloc(&r, 0x300, 40, 5);
    memtap_replay_finish(&r);
    size_t n = 0;
    memtap_site_t *v = memtap_view_sites(&r, 1, &n);
    cr_assert_eq(n, 3); /* [0] unused, line 10, line 11 */
    cr_assert_eq(v[1].live_bytes, 30);
    cr_assert_eq(v[1].count, 2);
    cr_assert_eq(v[2].live_bytes, 40);
    free(v);
    v = memtap_view_sites(&r, 0, &n);
    cr_assert_eq(n, 4);
    free(v);
    memtap_replay_free(&r);
}

/* the older layout (Python frames at the root end) merges the same way */
Test(stack_view, groups_left_over_follow_a_cut_native_stack, .timeout = 10) {
    re_start_image(&r);
    memtap_replay_t *self;
    dl_iterate_phdr(add_self, &self);
    re_code(&r, 1, "outer");
    re_code(&r, 2, "inner");
    re_node(&r, 1, 0, memtap_py_frame(1, 1, 1));
    re_node(&r, 2, 1, memtap_py_frame(2, 2, 1));
    re_node(&r, 3, 2, ip(_PyEval_EvalFrameDefault)); /* the outer loop's frame was cut off */
    re_node(&r, 4, 3, ip(test_allocating_function));
    memtap_replay_finish(&r);
    memtap_symbolizer_t *sym = memtap_symbolizer_new(&r);
    memtap_stack_view_t v = {0};
    cr_assert_eq(memtap_stack_view(sym, &r, 4, 0, &v), 0);
    cr_assert_eq(v.n, 3);
    cr_assert_str_eq(v.v[0].function, "test_allocating_function");
    cr_assert_str_eq(v.v[1].function, "inner");
    cr_assert_str_eq(v.v[2].function, "outer");
    memtap_stack_view_free(&v);
    memtap_symbolizer_free(sym);
    memtap_replay_free(&r);
}
