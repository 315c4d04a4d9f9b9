/* The symbolizer, on this test program itself (built with -g): function, file and line of
 * return addresses taken here, inlined frames, Python frames, and the degraded answers
 * (module+offset) for a missing module and for a binary whose build-id is not the recorded
 * one; then every allocation the symbolizer makes failing in turn (test seam): it must
 * still answer each node, with valid strings (the test also runs under ASan). */
#include <stdio.h>
#include <criterion/criterion.h>
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replay/replay.h"
#include "support/replay_events.h"
#include "symbolize/symbolize.h"

/* ---- return addresses with known callers ---------------------------------------------- */

static volatile int side_effect; /* after each call: no tail call, the caller's frame stays */

/* (line) = the line this is written on, then expr */
#define AT_LINE(line, expr) ((line) = __LINE__, (expr))

__attribute__((noinline)) static uint64_t return_address(void) {
    side_effect++;
    return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

static unsigned plain_line, inner_line, outer_line;

__attribute__((noinline)) static uint64_t plain_caller(void) {
    uint64_t ra = AT_LINE(plain_line, return_address());
    side_effect++;
    return ra;
}

static inline __attribute__((always_inline)) uint64_t inlined_part(void) {
    uint64_t ra = AT_LINE(inner_line, return_address());
    side_effect++;
    return ra;
}

__attribute__((noinline)) static uint64_t calls_inlined(void) {
    uint64_t ra = AT_LINE(outer_line, inlined_part());
    side_effect++;
    return ra;
}

/* ---- a replay holding this program's module ------------------------------------------ */

typedef struct {
    char path[4096];
    uint64_t bias;
    uint8_t build_id[64];
    size_t build_id_len;
    memtap_seg_t segs[16];
    size_t nseg;
} self_t;

static int note_self(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    self_t *me = arg;
    me->bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && me->nseg < 16)
            me->segs[me->nseg++] = (memtap_seg_t){ph->p_vaddr, ph->p_memsz, ph->p_flags};
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(uintptr_t)(info->dlpi_addr + ph->p_vaddr);
        for (size_t off = 0; off + sizeof(ElfW(Nhdr)) <= ph->p_memsz;) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + off);
            size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && nh->n_descsz <= 64) {
                memcpy(me->build_id, p + off + sizeof *nh + name, nh->n_descsz);
                me->build_id_len = nh->n_descsz;
            }
            off += sizeof *nh + name + desc;
        }
    }
    return 1; /* the first object listed is the program */
}

static self_t self;
static memtap_replay_t r;
static memtap_symbolizer_t *sym; /* for r, made by setup */

/* A new image (header) with one module. */
static void image_with_module(const char *path, uint64_t bias, const uint8_t *build_id,
                              size_t build_id_len, const memtap_seg_t *segs, size_t nseg) {
    re_header(&r, path, "", 0);
    re_module(&r, path, bias, build_id, build_id_len, segs, nseg);
}

/* A one-frame stack in the current image; returns its global node id. */
static uint32_t node(uint64_t frame) {
    uint32_t local = re_next_node(&r, 0, frame); /* (first: it may move local_nodes.v) */
    return r.local_nodes.v[local];
}

static uint32_t plain_node, inlined_node, python_node, unknown_python_node, gone_node, changed_node;
static uint64_t plain_ra, changed_ra;
static const uint64_t gone_bias = 0x7f0000000000ull;

static void setup(void) {
    cr_assert(readlink("/proc/self/exe", self.path, sizeof self.path - 1) > 0);
    dl_iterate_phdr(note_self, &self);
    cr_assert(self.nseg > 0 && self.build_id_len > 0, "the test program has a build-id");
    cr_assert_eq(memtap_replay_init(&r), 0);

    image_with_module(self.path, self.bias, self.build_id, self.build_id_len, self.segs, self.nseg);
    plain_ra = plain_caller();
    plain_node = node(plain_ra);
    inlined_node = node(calls_inlined());
    re_code(&r, 7, "Shop.checkout"); /* in /app/main.py */
    python_node = node(memtap_py_frame(7, 12, 0));
    unknown_python_node = node(memtap_py_frame(8, 3, 0));

    /* this program again, recorded with another build-id: a binary changed since */
    image_with_module(self.path, self.bias, (const uint8_t[]){1, 2, 3, 4}, 4, self.segs, self.nseg);
    changed_ra = plain_ra;
    changed_node = node(changed_ra);

    static const memtap_seg_t gone_seg = {0, 0x10000, PF_R | PF_X};
    image_with_module("/nonexistent/libgone.so", gone_bias, (const uint8_t[]){9, 9}, 2, &gone_seg,
                      1);
    gone_node = node(gone_bias + 0x1234);
    memtap_replay_finish(&r);
    sym = memtap_symbolizer_new(&r);
    cr_assert(sym);
}
static void teardown(void) {
    memtap_symbolize_realloc = realloc;
    memtap_symbolizer_free(sym);
    memtap_replay_free(&r);
}
TestSuite(symbolize, .init = setup, .fini = teardown);

static const char *base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

Test(symbolize, a_plain_call_has_function_file_and_line, .timeout = 120) {
    const memtap_frame_t *f;
    cr_assert_eq(memtap_symbolize_node(sym, plain_node, &f), 1);
    cr_assert_str_eq(f[0].function, "plain_caller");
    cr_assert(f[0].file && !strcmp(base_name(f[0].file), "test_symbolize.c"), "file %s",
              f[0].file ? f[0].file : "(none)");
    cr_assert_eq(f[0].line, plain_line);
    cr_assert_str_eq(f[0].module, self.path);
    cr_assert_eq(f[0].address, plain_ra);
    cr_assert(f[0].known && !f[0].inlined && !f[0].python);
}

Test(symbolize, an_inlined_call_gives_a_frame_per_function, .timeout = 120) {
    const memtap_frame_t *f;
    cr_assert_eq(memtap_symbolize_node(sym, inlined_node, &f), 2);
    cr_assert_str_eq(f[0].function, "inlined_part");
    cr_assert(f[0].inlined);
    cr_assert_eq(f[0].line, inner_line);
    cr_assert_str_eq(f[1].function, "calls_inlined");
    cr_assert_not(f[1].inlined);
    cr_assert_eq(f[1].line, outer_line, "where inlined_part was called: line %u, not %u",
                 outer_line, f[1].line);
    cr_assert(f[1].file && !strcmp(base_name(f[1].file), "test_symbolize.c"));
}

Test(symbolize, python_frames_name_the_code_object, .timeout = 120) {
    const memtap_frame_t *f;
    cr_assert_eq(memtap_symbolize_node(sym, python_node, &f), 1);
    cr_assert_str_eq(f[0].function, "Shop.checkout");
    cr_assert_str_eq(f[0].file, "/app/main.py");
    cr_assert_eq(f[0].line, 12);
    cr_assert(f[0].python && f[0].known);
    cr_assert_eq(memtap_symbolize_node(sym, unknown_python_node, &f), 1);
    cr_assert_str_eq(f[0].function, "<unknown Python code>");
    cr_assert(f[0].python && !f[0].known);
}

Test(symbolize, a_missing_module_degrades_to_module_and_offset, .timeout = 120) {
    const memtap_frame_t *f;
    cr_assert_eq(memtap_symbolize_node(sym, gone_node, &f), 1);
    cr_assert_str_eq(f[0].function, "libgone.so+0x1234");
    cr_assert_str_eq(f[0].module, "/nonexistent/libgone.so");
    cr_assert_null(f[0].file);
    cr_assert_eq(f[0].line, 0);
    cr_assert_not(f[0].known);
}

Test(symbolize, a_changed_binary_degrades_to_module_and_offset, .timeout = 120) {
    const memtap_frame_t *f;
    char want[4200];
    snprintf(want, sizeof want, "%s+0x%llx", base_name(self.path),
             (unsigned long long)(changed_ra - self.bias));
    cr_assert_eq(memtap_symbolize_node(sym, changed_node, &f), 1);
    cr_assert_str_eq(f[0].function, want, "its symbols would lie: %s", f[0].function);
    cr_assert_null(f[0].file);
    cr_assert_not(f[0].known);
    /* the same file with the build-id it has is still read (another image) */
    cr_assert_eq(memtap_symbolize_node(sym, plain_node, &f), 1);
    cr_assert_str_eq(f[0].function, "plain_caller");
}

Test(symbolize, answers_are_cached_across_a_growing_cache, .timeout = 120) {
    enum { N = 3000 }; /* past the cache's first 1,024 slots */
    static uint32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = node(gone_bias + 16 * (uint64_t)i); /* in the last image: libgone.so */
    for (int i = 0; i < N; i++) {
        const memtap_frame_t *f;
        char want[64];
        snprintf(want, sizeof want, "libgone.so+0x%x", 16 * i);
        cr_assert_eq(memtap_symbolize_node(sym, ids[i], &f), 1);
        cr_assert_str_eq(f[0].function, want);
    }
    const memtap_frame_t *first, *again;
    memtap_symbolize_node(sym, ids[0], &first);
    memtap_symbolize_node(sym, ids[N - 1], &again);
    cr_assert_str_eq(again[0].function, "libgone.so+0xbb70");
    memtap_symbolize_node(sym, ids[0], &again);
    cr_assert_eq(again, first, "a cached node is not resolved again");
}

/* ---- allocation failures ---------------------------------------------------------- */

static long allowed; /* allocations that succeed before every later one fails */
static long made;
static void *failing_realloc(void *p, size_t n) {
    if (made >= allowed)
        return NULL;
    made++;
    return realloc(p, n);
}

/* Every frame of every node: a valid string for a name, within the frames returned. */
static void symbolize_all_checked(memtap_symbolizer_t *s) {
    const uint32_t nodes[] = {plain_node, inlined_node, python_node, unknown_python_node,
                              gone_node,  changed_node, plain_node};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        const memtap_frame_t *f;
        size_t n = memtap_symbolize_node(s, nodes[i], &f);
        cr_assert(n >= 1 && n <= 2, "node %u: %zu frames", nodes[i], n);
        for (size_t k = 0; k < n; k++) {
            cr_assert(f[k].function && strlen(f[k].function) > 0);
            cr_assert(!f[k].file || strlen(f[k].file) < 4096);
        }
    }
}

Test(symbolize, every_failed_allocation_degrades_cleanly, .timeout = 120) {
    memtap_symbolize_realloc = failing_realloc;
    long needed = -1;
    for (allowed = 0; allowed < 10000 && needed < 0; allowed++) {
        made = 0;
        memtap_symbolizer_t *s = memtap_symbolizer_new(&r);
        if (s) {
            symbolize_all_checked(s);
            memtap_symbolizer_free(s);
        }
        if (made < allowed) /* nothing failed: every allocation was made */
            needed = made;
    }
    cr_assert(needed > 10, "the run allocates through the seam (%ld times)", needed);
    /* and with all it needs, the answers are the full ones */
    allowed = needed;
    made = 0;
    memtap_symbolizer_t *s = memtap_symbolizer_new(&r);
    const memtap_frame_t *f;
    cr_assert_eq(memtap_symbolize_node(s, inlined_node, &f), 2);
    cr_assert_str_eq(f[1].function, "calls_inlined");
    memtap_symbolizer_free(s);
}

Test(symbolize, no_memory_at_all_gives_unknown_frames, .timeout = 120) {
    memtap_symbolize_realloc = failing_realloc;
    allowed = made = 0;
    const memtap_frame_t *f;
    cr_assert_eq(memtap_symbolize_node(sym, plain_node, &f), 1);
    cr_assert_str_eq(f[0].function, "??");
}
