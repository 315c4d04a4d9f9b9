/* The leak scan's word-to-block lookup: which live block (if any) a scanned word points
 * into, in a few steps whatever the number of blocks. Built in caller-given memory. */
#ifndef MEMTAP_PRELOAD_LEAKS_INDEX_H
#define MEMTAP_PRELOAD_LEAKS_INDEX_H

#include "leaks/leaks.h"

#include <stddef.h>
#include <stdint.h>

/* Blocks fall into clusters, runs of blocks with gaps under MEMTAP_LEAK_CLUSTER_GAP
 * between them (the brk heap, a run of mmap'd arenas...). Each cluster cuts its span
 * [base, limit) into slots of 2^shift bytes, shift chosen so there are about as many slots
 * as blocks (at least 16 bytes: malloc's alignment), and keeps for each slot k the first
 * block that ends after the slot's start. A word in slot k can only be inside a block
 * between slot[k] and slot[k + 1] (both included): usually one or two candidates, at
 * worst a binary search over a slot's blocks. */
#define MEMTAP_LEAK_CLUSTER_GAP (1ull << 20)

typedef struct {
    uint64_t base, limit; /* first block's address, last block's end */
    uint32_t first, end;  /* blocks [first, end) */
    uint32_t shift;
    uint32_t *slot; /* nslots + 1 entries, global block indices; the last one is end */
} memtap_leak_cluster_t;

typedef struct {
    const memtap_live_block_t *blocks;
    uint64_t lo, span; /* every block is inside [lo, lo + span) */
    memtap_leak_cluster_t *clusters;
    uint32_t nclusters;
    uint32_t last; /* the cluster of the last hit: pointers come in runs */
} memtap_leak_index_t;

/* The end of block b as the scan sees it: size 0 counts as 1. */
static inline uint64_t memtap_leak_block_end(const memtap_live_block_t *b) {
    return b->addr + (b->size ? b->size : 1);
}

/* What building the index for blocks[0..n) needs: *clusters cluster records and *slots
 * slot entries. blocks must be valid (see memtap_leak_classify); n > 0. */
void memtap_leak_index_measure(const memtap_live_block_t *blocks, size_t n, size_t *clusters,
                               size_t *slots);

/* Builds the index into clusters[] and slots[] of the sizes measure gave. */
void memtap_leak_index_build(memtap_leak_index_t *ix, const memtap_live_block_t *blocks, size_t n,
                             memtap_leak_cluster_t *clusters, uint32_t *slots);

/* Slow path of memtap_leak_cluster_of: binary search of the clusters. */
const memtap_leak_cluster_t *memtap_leak_index_cluster(memtap_leak_index_t *ix, uint64_t w);

/* The cluster whose span holds w, or NULL (w must be inside [lo, lo + span)). */
static inline const memtap_leak_cluster_t *memtap_leak_cluster_of(memtap_leak_index_t *ix,
                                                                  uint64_t w) {
    const memtap_leak_cluster_t *c = &ix->clusters[ix->last];
    if (w - c->base < c->limit - c->base)
        return c;
    return memtap_leak_index_cluster(ix, w);
}

/* The slot of w in cluster c. */
static inline const uint32_t *memtap_leak_slot_of(const memtap_leak_cluster_t *c, uint64_t w) {
    return &c->slot[(w - c->base) >> c->shift];
}

/* The candidates for a word of slot (of a cluster ending at block end): [*a, *z]. */
static inline void memtap_leak_candidates(const uint32_t *slot, uint32_t end, uint32_t *a,
                                          uint32_t *z) {
    *a = slot[0];
    *z = slot[1] < end ? slot[1] : end - 1;
}

/* The block among [a, z] that holds w, or -1. */
static inline int64_t memtap_leak_find(const memtap_live_block_t *b, uint32_t a, uint32_t z,
                                       uint64_t w) {
    while (a < z) { /* the last block in [a, z] that starts at or before w */
        uint32_t mid = a + (z - a + 1) / 2;
        if (b[mid].addr <= w)
            a = mid;
        else
            z = mid - 1;
    }
    if (b[a].addr <= w && w < memtap_leak_block_end(&b[a]))
        return a;
    return -1;
}

/* The index of the block w points into (start or interior), or -1: the three steps above
 * in one. The scan runs them on batches of words instead, to overlap their cache misses. */
static inline int64_t memtap_leak_lookup(memtap_leak_index_t *ix, uint64_t w) {
    if (w - ix->lo >= ix->span)
        return -1;
    const memtap_leak_cluster_t *c = memtap_leak_cluster_of(ix, w);
    if (!c)
        return -1;
    uint32_t a, z;
    memtap_leak_candidates(memtap_leak_slot_of(c, w), c->end, &a, &z);
    return memtap_leak_find(ix->blocks, a, z, w);
}

#endif
