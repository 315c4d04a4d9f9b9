/* Python records: PY_CODE, PY_NODE and MAIN_DONE through the real encoder and decoder,
 * the "held when main finished" snapshot, and the merge of Python frames into native
 * stacks (stack_view.c) against functions of this very test binary. */
#include <criterion/criterion.h>
#include <link.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "support/capture_builder.h"
#include "report/report.h"
#include "symbolize/stack_view.h"
#include "symbolize/symbolize.h"

/* --- encoder and decoder ---------------------------------------------------------------- */

static int next(memtap_decoder_t *d, memtap_event_t *ev) {
    int rc = memtap_decoder_next(d, ev);
    cr_assert_eq(rc, MEMTAP_OK, "%s", memtap_decoder_error(d));
    return ev->type;
}

Test(python_records, round_trip) {
    cb_t c;
    cb_init(&c);
    cb_header(&c, 0);
    memtap_enc_node(&c.enc, 1, 0, 0x401000);
    cr_assert_eq(memtap_enc_py_code(&c.enc, 7, 12, "Cls.method", 10, "/x/app.py", 9), 0);
    memtap_enc_py_node(&c.enc, 2, 1, 7, 15, 1);
    memtap_enc_node(&c.enc, 3, 2, 0x401010); /* delta from the last native frame */
    memtap_enc_alloc(&c.enc, MEMTAP_KIND_PYMEM_OBJ, 0x1000, 64, 3);
    memtap_enc_u64(&c.enc, MEMTAP_REC_MAIN_DONE, 42);
    cb_end(&c);
    const char *path = cb_file(&c, 1);
    memtap_decoder_t *d;
    cr_assert_eq(memtap_decoder_open(&d, path), MEMTAP_OK);
    memtap_event_t ev;
    cr_assert_eq(next(d, &ev), MEMTAP_EV_HEADER);
    cr_assert_eq(ev.u.header.version, 2);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_NODE);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_PY_CODE);
    cr_assert_eq(ev.u.py_code.id, 7);
    cr_assert_eq(ev.u.py_code.firstline, 12);
    cr_assert_eq(ev.u.py_code.qualname_len, 10);
    cr_assert(!memcmp(ev.u.py_code.qualname, "Cls.method", 10));
    cr_assert(!memcmp(ev.u.py_code.filename, "/x/app.py", 9));
    cr_assert_eq(next(d, &ev), MEMTAP_EV_NODE);
    cr_assert(memtap_is_py_frame(ev.u.node.frame));
    cr_assert_eq(memtap_py_frame_code(ev.u.node.frame), 7);
    cr_assert_eq(memtap_py_frame_line(ev.u.node.frame), 15);
    cr_assert(ev.u.node.frame & MEMTAP_PY_ENTRY_BIT);
    cr_assert_eq(ev.u.node.parent, 1);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_NODE);
    cr_assert_eq(ev.u.node.frame, 0x401010);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_ALLOC);
    cr_assert_eq(ev.u.alloc.kind, MEMTAP_KIND_PYMEM_OBJ);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_MAIN_DONE);
    cr_assert_eq(ev.u.time.ms, 42);
    memtap_decoder_free(d);
    unlink(path);
    free(c.buf);
}

static const char *decode_error(cb_t *c) {
    static char err[256];
    memtap_replay_t r;
    const char *path = cb_file(c, 1);
    int rc = cb_replay(path, &r, err, sizeof err);
    memtap_replay_free(&r);
    unlink(path);
    free(c->buf);
    return rc == MEMTAP_OK ? NULL : err;
}

Test(python_records, bad_python_node_is_corrupt) {
    cb_t c;
    cb_init(&c);
    cb_header(&c, 0);
    memtap_enc_py_node(&c.enc, 1, 0, 0, 3, 0); /* code id 0 */
    cb_end(&c);
    const char *err = decode_error(&c);
    cr_assert(err && strstr(err, "Python frame out of range"), "%s", err ? err : "(none)");
}

Test(python_records, version_1_frames_know_no_python_records) {
    cb_t c;
    cb_init(&c);
    cb_header(&c, 0);
    c.buf[MEMTAP_MAGIC_LEN] = 1; /* an older writer's frame */
    memtap_enc_u64(&c.enc, MEMTAP_REC_MAIN_DONE, 1);
    cb_end(&c);
    const char *err = decode_error(&c);
    cr_assert(err && strstr(err, "unknown record type"), "%s", err ? err : "(none)");
}

Test(python_records, python_kinds_need_version_2) {
    cb_t c;
    cb_init(&c);
    cb_header(&c, 0);
    c.buf[MEMTAP_MAGIC_LEN] = 1;
    memtap_enc_alloc(&c.enc, MEMTAP_KIND_PYMEM_RAW, 0x1000, 8, 0);
    cb_end(&c);
    const char *err = decode_error(&c);
    cr_assert(err && strstr(err, "unknown allocator kind"), "%s", err ? err : "(none)");
}

/* --- held when the main program finished -------------------------------------------------- */

static memtap_replay_t r;

static void feed(memtap_event_t e) { cr_assert_eq(memtap_replay_event(&r, &e), 0); }

static void start_image(void) {
    cr_assert_eq(memtap_replay_init(&r), 0);
    memtap_event_t h = {.type = MEMTAP_EV_HEADER};
    h.u.header.exe = "/bin/python3";
    h.u.header.exe_len = 12;
    h.u.header.cmdline = "python3";
    h.u.header.cmdline_len = 7;
    feed(h);
}

static void node(uint32_t id, uint32_t parent, uint64_t frame) {
    memtap_event_t e = {.type = MEMTAP_EV_NODE};
    e.u.node.id = id;
    e.u.node.parent = parent;
    e.u.node.frame = frame;
    feed(e);
}

static void alloc(uint64_t addr, uint64_t size, uint32_t at) {
    memtap_event_t e = {.type = MEMTAP_EV_ALLOC};
    e.u.alloc.kind = MEMTAP_KIND_PYMEM_OBJ;
    e.u.alloc.addr = addr;
    e.u.alloc.size = size;
    e.u.alloc.node = at;
    feed(e);
}

static void code(uint64_t id, const char *name) {
    memtap_event_t e = {.type = MEMTAP_EV_PY_CODE};
    e.u.py_code.id = id;
    e.u.py_code.firstline = 1;
    e.u.py_code.qualname = name;
    e.u.py_code.qualname_len = strlen(name);
    e.u.py_code.filename = "/app/main.py";
    e.u.py_code.filename_len = 12;
    feed(e);
}

Test(python_replay, held_at_main_end_is_a_snapshot) {
    start_image();
    for (uint32_t i = 1; i <= 3; i++)
        node(i, 0, 0x1000 * i);
    alloc(0x100, 10, 1);
    alloc(0x200, 20, 2);
    memtap_event_t done = {.type = MEMTAP_EV_MAIN_DONE};
    done.u.time.ms = 5;
    feed(done);
    memtap_event_t f = {.type = MEMTAP_EV_FREE};
    f.u.free.addr = 0x100; /* teardown frees it */
    feed(f);
    alloc(0x300, 30, 3); /* teardown allocates and never frees */
    memtap_replay_finish(&r);
    cr_assert(r.main_done);
    cr_assert_eq(r.held_bytes, 30);
    cr_assert_eq(r.held_blocks, 2);
    cr_assert_eq(r.leaked_bytes, 50);
    cr_assert_eq(r.sites.v[r.site_of_node.v[1]].held_bytes, 10);
    cr_assert_eq(r.sites.v[r.site_of_node.v[3]].held_bytes, 0);
    memtap_replay_free(&r);
}

Test(python_replay, without_main_done_held_is_what_leaked) {
    start_image();
    node(1, 0, 0x1000);
    alloc(0x100, 10, 1);
    memtap_replay_finish(&r);
    cr_assert(!r.main_done);
    cr_assert_eq(r.held_bytes, 10);
    memtap_replay_free(&r);
}

Test(python_replay, codes_are_looked_up_per_image) {
    start_image();
    code(5, "first");
    code(5, "ignored: the same id again in a later frame");
    cr_assert_str_eq(memtap_replay_py_code(&r, 0, 5)->qualname, "first");
    cr_assert_null(memtap_replay_py_code(&r, 0, 6));
    cr_assert_null(memtap_replay_py_code(&r, 1, 5));
    memtap_replay_free(&r);
}

/* --- merging Python frames into native stacks -------------------------------------------- */

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
    feed(m);
    return 1; /* the first object is the program itself */
}

static uint64_t ip(void (*fn)(void)) { return (uint64_t)(uintptr_t)fn + 4; }

Test(python_merge, loop_frames_become_the_python_frames_they_ran) {
    start_image();
    memtap_replay_t *self;
    dl_iterate_phdr(add_self, &self);
    code(1, "outer");
    code(2, "middle");
    code(3, "callback");
    /* as the writer's trie holds them, root first: native frames (outermost first), then
     * Python frames (outermost first). Runs of the loop: [outer, middle] entered from the
     * program, [callback] entered from the C extension. */
    node(1, 0, ip(test_program_main));
    node(2, 1, ip(_PyEval_EvalFrameDefault));
    node(3, 2, ip(test_c_extension_function));
    node(4, 3, ip(_PyEval_EvalFrameDefault));
    node(5, 4, ip(test_allocating_function));
    node(6, 5, memtap_py_frame(1, 10, 1));
    node(7, 6, memtap_py_frame(2, 20, 0));
    node(8, 7, memtap_py_frame(3, 30, 1));
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

Test(python_merge, sites_with_the_same_python_frames_merge_in_python_only_views) {
    start_image();
    node(1, 0, 0x1000); /* two native paths ... */
    node(2, 0, 0x2000);
    node(3, 1, memtap_py_frame(1, 10, 1)); /* ... under the same Python frame */
    node(4, 2, memtap_py_frame(1, 10, 0)); /* run by another loop: the same Python stack */
    node(5, 2, memtap_py_frame(1, 11, 1)); /* another line */
    alloc(0x100, 10, 3);
    alloc(0x200, 20, 4);
    alloc(0x300, 40, 5);
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
Test(python_merge, groups_left_over_follow_a_cut_native_stack) {
    start_image();
    memtap_replay_t *self;
    dl_iterate_phdr(add_self, &self);
    code(1, "outer");
    code(2, "inner");
    node(1, 0, memtap_py_frame(1, 1, 1));
    node(2, 1, memtap_py_frame(2, 2, 1));
    node(3, 2, ip(_PyEval_EvalFrameDefault)); /* the outer loop's frame was cut off */
    node(4, 3, ip(test_allocating_function));
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
