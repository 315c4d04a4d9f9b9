/* Synthetic heaps for the leak scan's tests: blocks carved out of real memory of the test
 * process, and the checks both test files share. */
#ifndef MEMTAP_TEST_LEAK_HEAP_H
#define MEMTAP_TEST_LEAK_HEAP_H

#include <criterion/criterion.h>

#include <stdint.h>
#include <sys/mman.h>

#include "leaks/leaks.h"

#define P(x) ((uint64_t)(uintptr_t)(x))
enum {
    R = MEMTAP_LEAK_REACHABLE,
    PO = MEMTAP_LEAK_POSSIBLE,
    I = MEMTAP_LEAK_INDIRECT,
    D = MEMTAP_LEAK_DEFINITE
};

/* A synthetic heap: blocks carved out of one mapping, the array of them in another. */
typedef struct {
    uint8_t *mem;
    size_t size;
    memtap_live_block_t *blocks;
    size_t n, cap;
} heap_t;

static inline void *map(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

static inline heap_t heap_new(size_t size, size_t cap) {
    heap_t h = {map(size), size, map(cap * sizeof(memtap_live_block_t)), 0, cap};
    return h;
}

/* Block at offset off of size bytes (offsets must grow). */
static inline uint64_t *blk(heap_t *h, size_t off, size_t size) {
    cr_assert(h->n < h->cap && off + size <= h->size);
    h->blocks[h->n++] = (memtap_live_block_t){P(h->mem + off), size};
    return (uint64_t *)(void *)(h->mem + off);
}

static uint8_t cls[1 << 16]; /* the classes found */

/* cls[0..n) is want[0..n): one assertion, not one per block (each is an event for the
 * runner). */
static inline void expect(const uint8_t *want, size_t n) {
    size_t i = 0;
    while (i < n && cls[i] == want[i])
        i++;
    cr_assert_eq(i, n, "block %zu is %d, expected %d", i, cls[i], want[i]);
}

#endif
