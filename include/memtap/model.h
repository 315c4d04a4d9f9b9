/* The thread model's tables (docs/format.md section 3.4): the allocator kind, size and
 * address of the last allocation at each stack node, the node that followed each node, and
 * the addresses of the last frees. The writer (preload/output/record.c) and the reader
 * (reader/decode/thread_record.h) must predict and learn exactly alike, so both use these.
 * Header-only and allocation-free: safe inside malloc. */
#ifndef MEMTAP_MODEL_H
#define MEMTAP_MODEL_H

#include <stdint.h>

#include "memtap/format.h"

#define MEMTAP_MODEL_SIZE_BITS 28 /* sizes from 2^28 - 1 on are not remembered */
#define MEMTAP_MODEL_SIZE_NONE ((1u << MEMTAP_MODEL_SIZE_BITS) - 1)

typedef struct {
    struct {
        uint32_t node;
        uint32_t kind_size; /* kind << 28 | size (MEMTAP_MODEL_SIZE_NONE: 2^28 - 1 or more) */
        uint64_t addr;      /* the allocation's address (ALLOC_MODEL deltas start from it) */
    } sites[MEMTAP_MODEL_SIZES];
    struct {
        uint32_t prev, next;
    } next[MEMTAP_MODEL_NEXT];
    uint32_t last_node; /* of the last ALLOC */
} memtap_model_sites_t;

/* The node predicted for the next ALLOC. */
static inline uint32_t memtap_model_predicted(const memtap_model_sites_t *m) {
    uint32_t prev = m->last_node;
    return m->next[prev & (MEMTAP_MODEL_NEXT - 1)].prev == prev
               ? m->next[prev & (MEMTAP_MODEL_NEXT - 1)].next
               : prev;
}

/* What the table holds of the last allocation at `node`: 1 with its kind and size
 * (MEMTAP_MODEL_SIZE_NONE when not remembered), or 0 when the entry is another node's. */
static inline int memtap_model_site(const memtap_model_sites_t *m, uint32_t node, unsigned *kind,
                                    uint32_t *size) {
    const __typeof__(m->sites[0]) *e = &m->sites[node & (MEMTAP_MODEL_SIZES - 1)];
    *kind = e->kind_size >> MEMTAP_MODEL_SIZE_BITS;
    *size = e->kind_size & MEMTAP_MODEL_SIZE_NONE;
    return e->node == node;
}

/* The address of the last allocation at `node`, whose entry memtap_model_site found. */
static inline uint64_t memtap_model_site_addr(const memtap_model_sites_t *m, uint32_t node) {
    return m->sites[node & (MEMTAP_MODEL_SIZES - 1)].addr;
}

/* An ALLOC of `size` at `node` by allocator `kind` was written (read). */
static inline void memtap_model_learn_alloc(memtap_model_sites_t *m, uint32_t node, unsigned kind,
                                            uint64_t size, uint64_t addr) {
    uint32_t prev = m->last_node;
    m->next[prev & (MEMTAP_MODEL_NEXT - 1)].prev = prev;
    m->next[prev & (MEMTAP_MODEL_NEXT - 1)].next = node;
    m->last_node = node;
    m->sites[node & (MEMTAP_MODEL_SIZES - 1)].node = node;
    m->sites[node & (MEMTAP_MODEL_SIZES - 1)].kind_size =
        (uint32_t)(kind & 0x0f) << MEMTAP_MODEL_SIZE_BITS |
        (size < MEMTAP_MODEL_SIZE_NONE ? (uint32_t)size : MEMTAP_MODEL_SIZE_NONE);
    m->sites[node & (MEMTAP_MODEL_SIZES - 1)].addr = addr;
}

/* The addresses of a thread's last MEMTAP_MODEL_FREES FREE and MUNMAP records (all 0 at
 * first): the bases of FREE_UNITS deltas. */
typedef struct {
    uint64_t addr[MEMTAP_MODEL_FREES];
    uint32_t n; /* records learnt, modulo 2^32 */
} memtap_model_frees_t;

/* The address of the c-th last free (c = 0: the last). */
static inline uint64_t memtap_model_free_base(const memtap_model_frees_t *f, unsigned c) {
    return f->addr[(f->n - 1 - c) & (MEMTAP_MODEL_FREES - 1)];
}

/* A FREE (any form) or MUNMAP of addr was written (read). */
static inline void memtap_model_learn_free(memtap_model_frees_t *f, uint64_t addr) {
    f->addr[f->n++ & (MEMTAP_MODEL_FREES - 1)] = addr;
}

#endif
