/* The leak scan's root set (preload/leaks/roots.c), built from this very process: globals,
 * the stack, the callee-saved registers, and the mappings that are not roots. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "leaks/leaks.h"
#include "preload/leaks/leak_heap.h"

/* The heap's blocks start 64 bytes into its mapping, so h.mem (kept in the test's frame)
 * points at no block; the blocks' addresses are written only where a test wants them, by
 * functions that do not inline, whose dead frames lie below the caller's and are not
 * scanned. */
static memtap_range_t rootset[8192];
static void *volatile global_ptr;

static __attribute__((noinline)) void two_blocks(heap_t *h) {
    blk(h, 64, 32);
    blk(h, 128, 32);
}

static __attribute__((noinline)) void point_from(void *volatile *where, const heap_t *h) {
    *where = (void *)(uintptr_t)h->blocks[0].addr;
}

/* Roots of this process, then the classes of h's blocks. */
static int roots_then_classes(const heap_t *h, const memtap_range_t *exclude, size_t nexclude) {
    int n = memtap_leak_roots(rootset, sizeof rootset / sizeof rootset[0], exclude, nexclude,
                              h->blocks, h->n);
    cr_assert_gt(n, 0, "memtap_leak_roots: %d", n);
    return memtap_leak_classify(h->blocks, h->n, rootset, (size_t)n, cls, NULL);
}

Test(leakroots, a_global_pointer_makes_a_block_reachable, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    point_from(&global_ptr, &h);
    cr_assert_eq(roots_then_classes(&h, NULL, 0), 0);
    expect((uint8_t[]){R, D}, 2);
}

Test(leakroots, a_block_whose_only_pointer_was_overwritten_is_definite, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    point_from(&global_ptr, &h);
    global_ptr = NULL;
    cr_assert_eq(roots_then_classes(&h, NULL, 0), 0);
    expect((uint8_t[]){D, D}, 2);
}

Test(leakroots, a_pointer_on_the_stack_keeps_a_block_reachable, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    void *volatile on_stack = NULL;
    point_from(&on_stack, &h);
    cr_assert_eq(roots_then_classes(&h, NULL, 0), 0);
    expect((uint8_t[]){R, D}, 2);
    on_stack = NULL;
}

static __attribute__((noinline)) uintptr_t deeper_frame(void) {
    volatile char here = 0;
    return (uintptr_t)&here;
}

Test(leakroots, the_stack_is_scanned_from_the_caller_up, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    volatile char mine = 0;
    uintptr_t below = deeper_frame();
    int n = memtap_leak_roots(rootset, sizeof rootset / sizeof rootset[0], NULL, 0, h.blocks, h.n);
    cr_assert_gt(n, 0);
    int covers_mine = 0, covers_below = 0;
    for (int i = 0; i < n; i++) {
        covers_mine |= rootset[i].start <= (uintptr_t)&mine && (uintptr_t)&mine < rootset[i].end;
        covers_below |= rootset[i].start <= below && below < rootset[i].end;
    }
    cr_assert(covers_mine);
    cr_assert(!covers_below);
}

Test(leakroots, the_heap_shared_devices_and_excluded_ranges_are_not_roots, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* in the heap's mapping, outside any block */
    point_from((void *volatile *)(void *)(h.mem + 8 * page), &h);
    /* in shared memory */
    void *volatile *shared =
        mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq((void *)shared, MAP_FAILED);
    point_from(shared, &h);
    /* in an excluded range */
    void *volatile *excluded = map(page);
    point_from(excluded, &h);
    memtap_range_t ex = {P(excluded), P(excluded) + page, 0};
    cr_assert_eq(roots_then_classes(&h, &ex, 1), 0);
    expect((uint8_t[]){D, D}, 2);
    /* the same private mapping, not excluded: a root */
    cr_assert_eq(roots_then_classes(&h, NULL, 0), 0);
    expect((uint8_t[]){R, D}, 2);
}

Test(leakroots, untouched_mappings_are_left_out_touched_ones_flagged, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *untouched = map(64 * page), *touched = map(64 * page);
    /* guard pages keep the kernel from merging it with its neighbours */
    cr_assert_eq(mprotect(untouched, page, PROT_NONE), 0);
    cr_assert_eq(mprotect(untouched + 63 * page, page, PROT_NONE), 0);
    touched[3 * page] = 1;
    int n = memtap_leak_roots(rootset, sizeof rootset / sizeof rootset[0], NULL, 0, h.blocks, h.n);
    cr_assert_gt(n, 0);
    int found = 0;
    for (int i = 0; i < n; i++) {
        cr_assert(rootset[i].end <= P(untouched) + page ||
                  rootset[i].start >= P(untouched) + 63 * page);
        if (rootset[i].start <= P(touched) && P(touched) < rootset[i].end) {
            found = 1;
            cr_assert(rootset[i].flags & MEMTAP_RANGE_RESIDENT_ONLY);
        }
    }
    cr_assert(found);
}

Test(leakroots, too_small_an_array_is_an_error, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    errno = 77;
    cr_assert_eq(memtap_leak_roots(rootset, 1, NULL, 0, h.blocks, h.n), -ENOSPC);
    cr_assert_eq(errno, 77);
}

#if defined(__x86_64__)
/* call_roots_with_REG(fn, out, cap, blocks, n, value) calls
 * fn = memtap_leak_roots(out, cap, NULL, 0, blocks, n) with *value in REG, a callee-saved
 * register, and nowhere else: the block stays reachable only through the registers' copy.
 * rdi = fn, rsi = out, rdx = cap, rcx = blocks, r8 = n, r9 = value. */
#define CALL_WITH(reg)                                                                             \
    int call_roots_with_##reg(void *fn, memtap_range_t *out, size_t cap,                           \
                              const memtap_live_block_t *blocks, size_t n, const uint64_t *value); \
    __asm__(".text\n.globl call_roots_with_" #reg "\n.type call_roots_with_" #reg                  \
            ", @function\ncall_roots_with_" #reg ":\n"                                             \
            "  push %" #reg "\n  mov (%r9), %" #reg "\n  mov %rdi, %rax\n"                         \
            "  mov %rsi, %rdi\n  mov %rdx, %rsi\n  mov %r8, %r9\n  mov %rcx, %r8\n"                \
            "  xor %edx, %edx\n  xor %ecx, %ecx\n  call *%rax\n"                                   \
            "  pop %" #reg "\n  ret\n.size call_roots_with_" #reg ", .-call_roots_with_" #reg      \
            "\n");
CALL_WITH(rbx)
CALL_WITH(rbp)
CALL_WITH(r12)
CALL_WITH(r13)
CALL_WITH(r14)
CALL_WITH(r15)

typedef int (*call_with_fn)(void *, memtap_range_t *, size_t, const memtap_live_block_t *, size_t,
                            const uint64_t *);

Test(leakroots, a_pointer_held_in_a_register_keeps_a_block_reachable, .timeout = 30) {
    static heap_t h;
    h = heap_new(1 << 16, 8);
    two_blocks(&h);
    static const uint64_t nothing = 0;
    static const call_with_fn calls[] = {call_roots_with_rbx, call_roots_with_rbp,
                                         call_roots_with_r12, call_roots_with_r13,
                                         call_roots_with_r14, call_roots_with_r15};
    for (size_t reg = 0; reg < sizeof calls / sizeof calls[0]; reg++) {
        for (int with = 0; with < 2; with++) {
            int n =
                calls[reg]((void *)memtap_leak_roots, rootset, sizeof rootset / sizeof rootset[0],
                           h.blocks, h.n, with ? &h.blocks[0].addr : &nothing);
            cr_assert_gt(n, 0);
            /* the last range is the registers' copy (a root even if memtap's own .bss,
             * where it lies, is excluded): the register's value is in it */
            int in_copy = 0;
            for (uint64_t a = rootset[n - 1].start; a + 8 <= rootset[n - 1].end; a += 8)
                in_copy |= *(const uint64_t *)(uintptr_t)a == h.blocks[0].addr;
            cr_assert_eq(in_copy, with, "register %zu", reg);
            cr_assert_eq(memtap_leak_classify(h.blocks, h.n, rootset, (size_t)n, cls, NULL), 0);
            expect((uint8_t[]){with ? R : D, D}, 2);
        }
    }
}
#endif
