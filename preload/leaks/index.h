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
void memtap_leak_index_build(memtap_leak_index_t *ix, const memtap_live_block_t *blocks,
                             size_t n, memtap_leak_cluster_t *clusters, uint32_t *slots);

/* Slow path of memtap_leak_lookup: the cluster holding w, or NULL. */
const memtap_leak_cluster_t *memtap_leak_index_cluster(memtap_leak_index_t *ix, uint64_t w);

/* The index of the block w points into (start or interior), or -1. Inline: it runs for
 * every scanned word that falls inside [lo, lo + span). */
static inline int64_t memtap_leak_lookup(memtap_leak_index_t *ix, uint64_t w) {
    if (w - ix->lo >= ix->span)
        return -1;
    const memtap_leak_cluster_t *c = &ix->clusters[ix->last];
    if (w - c->base >= c->limit - c->base) {
        c = memtap_leak_index_cluster(ix, w);
        if (!c)
            return -1;
    }
    uint64_t k = (w - c->base) >> c->shift;
    uint32_t a = c->slot[k], z = c->slot[k + 1];
    if (z >= c->end)
        z = c->end - 1;
    const memtap_live_block_t *b = ix->blocks;
    /* the last block in [a, z] that starts at or before w */
    while (a < z) {
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

#endif
