/* The v4 thread model's site tables (docs/format.md section 3.4): the size last allocated at
 * each stack node and the node that followed each node. The writer (preload/record.c) and
 * the reader (reader/thread_model.h) must predict and learn exactly alike, so both use
 * these. Header-only and allocation-free: safe inside malloc. */
#ifndef MEMTAP_MODEL_H
#define MEMTAP_MODEL_H

#include <stdint.h>

#include "memtap/format.h"

typedef struct {
    struct {
        uint32_t node, size; /* size: UINT32_MAX for 2^32 - 1 or more */
    } sizes[MEMTAP_MODEL_SIZES];
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

/* The size last allocated at `node`, or UINT32_MAX when the table does not hold it. */
static inline uint32_t memtap_model_size_at(const memtap_model_sites_t *m, uint32_t node) {
    const __typeof__(m->sizes[0]) *e = &m->sizes[node & (MEMTAP_MODEL_SIZES - 1)];
    return e->node == node ? e->size : UINT32_MAX;
}

/* An ALLOC of `size` at `node` was written (read). */
static inline void memtap_model_learn_alloc(memtap_model_sites_t *m, uint32_t node, uint64_t size) {
    uint32_t prev = m->last_node;
    m->next[prev & (MEMTAP_MODEL_NEXT - 1)].prev = prev;
    m->next[prev & (MEMTAP_MODEL_NEXT - 1)].next = node;
    m->last_node = node;
    m->sizes[node & (MEMTAP_MODEL_SIZES - 1)].node = node;
    m->sizes[node & (MEMTAP_MODEL_SIZES - 1)].size =
        size < UINT32_MAX ? (uint32_t)size : UINT32_MAX;
}

#endif
