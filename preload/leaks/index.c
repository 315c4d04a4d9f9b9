/* The leak scan's word-to-block lookup (see index.h): clusters of blocks, each with a
 * table of slots sized to about one slot per block. */
#include "leaks/index.h"

/* The end (exclusive) of the cluster starting at block first: blocks follow each other
 * with gaps under MEMTAP_LEAK_CLUSTER_GAP. */
static size_t cluster_end(const memtap_live_block_t *blocks, size_t n, size_t first) {
    size_t end = first + 1;
    while (end < n &&
           blocks[end].addr - memtap_leak_block_end(&blocks[end - 1]) < MEMTAP_LEAK_CLUSTER_GAP)
        end++;
    return end;
}

/* The slot size of a cluster of count blocks over span bytes: the smallest power of two of
 * at least 16 bytes that gives no more slots than blocks (capped at 2^63). */
static uint32_t slot_shift(uint64_t span, uint64_t count) {
    uint32_t s = 4;
    while (s < 63 && ((span - 1) >> s) >= count)
        s++;
    return s;
}

void memtap_leak_index_measure(const memtap_live_block_t *blocks, size_t n, size_t *clusters,
                               size_t *slots) {
    *clusters = 0;
    *slots = 0;
    for (size_t first = 0, end; first < n; first = end) {
        end = cluster_end(blocks, n, first);
        uint64_t base = blocks[first].addr, limit = memtap_leak_block_end(&blocks[end - 1]);
        uint32_t s = slot_shift(limit - base, end - first);
        *clusters += 1;
        *slots += (size_t)((limit - 1 - base) >> s) + 2; /* the slots and the end marker */
    }
}

void memtap_leak_index_build(memtap_leak_index_t *ix, const memtap_live_block_t *blocks, size_t n,
                             memtap_leak_cluster_t *clusters, uint32_t *slots) {
    ix->blocks = blocks;
    ix->clusters = clusters;
    ix->nclusters = 0;
    ix->last = 0;
    ix->lo = blocks[0].addr;
    uint64_t hi = ix->lo;
    for (size_t first = 0, end; first < n; first = end) {
        end = cluster_end(blocks, n, first);
        memtap_leak_cluster_t *c = &clusters[ix->nclusters++];
        c->base = blocks[first].addr;
        c->limit = memtap_leak_block_end(&blocks[end - 1]);
        c->first = (uint32_t)first;
        c->end = (uint32_t)end;
        c->shift = slot_shift(c->limit - c->base, end - first);
        c->slot = slots;
        uint64_t nslots = ((c->limit - 1 - c->base) >> c->shift) + 1, k = 0;
        /* slot k gets the first block ending after the slot's start: walking the blocks in
         * order, block i is that block for every slot up to the one holding its last byte
         * that no earlier block claimed */
        for (size_t i = first; i < end; i++) {
            uint64_t last = (memtap_leak_block_end(&blocks[i]) - 1 - c->base) >> c->shift;
            while (k <= last)
                slots[k++] = (uint32_t)i;
        }
        while (k <= nslots)
            slots[k++] = (uint32_t)end;
        slots += nslots + 1;
        if (c->limit > hi)
            hi = c->limit;
    }
    ix->span = hi - ix->lo;
}

const memtap_leak_cluster_t *memtap_leak_index_cluster(memtap_leak_index_t *ix, uint64_t w) {
    /* the last cluster starting at or before w */
    uint32_t a = 0, z = ix->nclusters - 1;
    while (a < z) {
        uint32_t mid = a + (z - a + 1) / 2;
        if (ix->clusters[mid].base <= w)
            a = mid;
        else
            z = mid - 1;
    }
    const memtap_leak_cluster_t *c = &ix->clusters[a];
    if (w < c->base || w >= c->limit)
        return 0;
    ix->last = a;
    return c;
}
