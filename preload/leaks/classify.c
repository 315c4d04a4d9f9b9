/* memtap_leak_classify: the classes of the live blocks, as valgrind's memcheck defines
 * them (memcheck/mc_leakcheck.c), from a conservative scan of the roots and the blocks.
 *
 * The graph: roots and blocks are nodes; an aligned 8-byte word whose value is the
 * address of a block's first byte is a start pointer to it, one that points elsewhere
 * inside it an interior pointer (a block of size 0 counts as one byte). Unaligned words
 * are not pointers: memcheck scans aligned words only, and so does LeakSanitizer by
 * default. Unlike memcheck we cannot tell initialised memory from garbage: every word
 * counts, as in LeakSanitizer.
 *
 * Phase 1 marks from the roots (memcheck's lc_push_without_clique_if_a_chunk_ptr). A
 * start pointer from a root or from a Reachable block makes a block Reachable; an
 * interior pointer, or any pointer from a Possible block, makes an unreached block
 * Possible. A block whose state rises is scanned (again). At the end Reachable is "still
 * reachable" and Possible "possibly lost": memcheck's is_prior_definite, by which a block
 * pointed to only by a possibly lost block is possibly lost too.
 * Phase 2 gathers cliques (memcheck's lc_push_with_clique_if_a_chunk_ptr). Each block
 * still unreached, in address order, leads a clique: every unreached block it reaches
 * through unreached blocks, by start or interior pointers alike, becomes indirectly lost,
 * a member of the clique; a former leader so reached joins too, with all it gathered.
 * Cliques do not overlap: a clique does not go through blocks an earlier one took. The
 * leaders left are "definitely lost": the head of a lost list or tree, or of a lost cycle
 * the block with the lowest address.
 * We do not apply memcheck's leak-check heuristics (stdstring, length64, newarray,
 * multipleinheritance, on by default since valgrind 3.11, which count some interior
 * pointers as start pointers): this is memcheck with --leak-check-heuristics=none.
 *
 * How, and how fast: the sweep (scan.c) reads all blocks once, in address order and large
 * batches, and keeps their pointers to other blocks as edges (a budget of about one per
 * 32 bytes of blocks); then both phases walk edges in memory (drain.c). Blocks past the
 * budget are lazy: read again, in address-ordered batches, each time they are scanned.
 * Word lookups and edge walks go in batches whose cache misses overlap (scan.h). */
#include "leaks/scan.h"

#include <errno.h>
#include <string.h>

static size_t edge_budget = SIZE_MAX;

void memtap_leak_set_edge_budget(size_t edges) {
    edge_budget = edges == SIZE_MAX || edges < UINT32_MAX ? edges : UINT32_MAX - 1;
}

/* Sorted, not overlapping, no block at address 0 (zeros stand for unreadable memory) and
 * none wrapping around; indices must fit 31 bits (edges keep a flag beside them). */
static int valid(const memtap_live_block_t *blocks, size_t n) {
    if (n >= (1u << 31))
        return 0;
    uint64_t prev_end = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t size = blocks[i].size ? blocks[i].size : 1;
        if (blocks[i].addr < prev_end || size > UINT64_MAX - blocks[i].addr)
            return 0;
        prev_end = blocks[i].addr + size;
    }
    return 1;
}

static size_t round64(size_t x) {
    return (x + 63) & ~(size_t)63;
}

/* The number of edges the snapshot may keep. */
static size_t max_edges(const memtap_live_block_t *blocks, size_t n) {
    if (edge_budget != SIZE_MAX)
        return edge_budget;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += blocks[i].size;
    uint64_t e = bytes / 32;
    if (e < (4u << 20))
        e = 4u << 20;
    if (e > UINT32_MAX - 1)
        e = UINT32_MAX - 1;
    return (size_t)e;
}

/* Lays the scratch memory out: one mapping for everything, so one range to keep out of
 * the roots. Returns its size and, with mem set, carves it. */
static size_t layout(memtap_leak_scan_t *s, uint8_t *mem, size_t nclusters, size_t nslots) {
    size_t at = 0;
#define TAKE(ptr, bytes)                                                                           \
    do {                                                                                           \
        if (mem)                                                                                   \
            (ptr) = (void *)(mem + at);                                                            \
        at += round64(bytes);                                                                      \
    } while (0)
    void *reader = 0, *slots = 0;
    TAKE(s->ix.clusters, nclusters * sizeof(memtap_leak_cluster_t));
    TAKE(slots, nslots * sizeof(uint32_t));
    TAKE(s->stack, s->n * sizeof(uint32_t));
    TAKE(s->node, (s->n + 1) * sizeof(uint64_t));
    TAKE(s->lazy, (s->n + 63) / 64 * sizeof(uint64_t));
    TAKE(s->cand, MEMTAP_LEAK_BATCH * sizeof(memtap_leak_cand_t));
    TAKE(s->targets, MEMTAP_LEAK_TARGETS * sizeof(uint32_t));
    TAKE(s->target_prior, MEMTAP_LEAK_TARGETS);
    TAKE(reader, memtap_leak_reader_scratch());
    TAKE(s->edges, s->max_edges * sizeof(uint32_t));
#undef TAKE
    if (mem) {
        memtap_leak_index_build(&s->ix, s->blocks, s->n, s->ix.clusters, slots);
        memtap_leak_reader_init(&s->rd, reader);
        s->lazy_lo = SIZE_MAX;
    }
    return at;
}

/* Phase 2: every block still unreached leads a clique, in address order. */
static int gather_cliques(memtap_leak_scan_t *s) {
    s->mode = MEMTAP_LEAK_GATHER;
    for (size_t i = 0; i < s->n; i++) {
        if ((s->st[i] & MEMTAP_LEAK_CLASS_MASK) != MEMTAP_LEAK_UNREACHED)
            continue;
        s->clique = (uint32_t)i;
        memtap_leak_push(s, (uint32_t)i);
        int rc = memtap_leak_drain(s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The leaders left unreached are definitely lost; counts the classes. */
static void finish(memtap_leak_scan_t *s) {
    for (size_t i = 0; i < s->n; i++) {
        unsigned cls = s->st[i] & MEMTAP_LEAK_CLASS_MASK;
        if (cls == MEMTAP_LEAK_UNREACHED)
            cls = MEMTAP_LEAK_DEFINITE;
        s->st[i] = (uint8_t)cls;
        s->stats->blocks[cls]++;
        s->stats->bytes[cls] += s->blocks[i].size;
    }
}

static int run(memtap_leak_scan_t *s, const memtap_range_t *roots, size_t nroots) {
    int rc = memtap_leak_sweep(s);
    if (rc == 0)
        rc = memtap_leak_scan_roots(s, roots, nroots);
    if (rc == 0)
        rc = memtap_leak_drain(s); /* phase 1 */
    if (rc == 0)
        rc = gather_cliques(s);
    if (rc == 0)
        finish(s);
    s->stats->unreadable_bytes = s->rd.unreadable;
    s->stats->reads = s->rd.reads;
    return rc;
}

int memtap_leak_classify(const memtap_live_block_t *blocks, size_t n, const memtap_range_t *roots,
                         size_t nroots, uint8_t *classes_out, memtap_leak_stats_t *stats) {
    int saved = errno;
    memtap_leak_stats_t local;
    memtap_leak_scan_t s;
    memset(&s, 0, sizeof s);
    s.stats = stats ? stats : &local;
    memset(s.stats, 0, sizeof *s.stats);
    if (!valid(blocks, n))
        return -EINVAL;
    if (n == 0)
        return 0;
    s.blocks = blocks;
    s.n = n;
    s.st = classes_out;
    s.max_edges = max_edges(blocks, n);
    size_t nclusters, nslots;
    memtap_leak_index_measure(blocks, n, &nclusters, &nslots);
    size_t bytes = layout(&s, NULL, nclusters, nslots);
    uint8_t *mem = memtap_leak_map(bytes);
    if (!mem) {
        errno = saved;
        return -ENOMEM;
    }
    layout(&s, mem, nclusters, nslots);
    s.stats->scratch_bytes = bytes;
    memset(classes_out, 0, n);
    s.self[s.nself++] = (memtap_range_t){(uintptr_t)mem, (uintptr_t)mem + bytes, 0};
    s.self[s.nself++] = (memtap_range_t){(uintptr_t)blocks, (uintptr_t)(blocks + n), 0};
    s.self[s.nself++] = (memtap_range_t){(uintptr_t)classes_out, (uintptr_t)classes_out + n, 0};
    s.self[s.nself++] = (memtap_range_t){(uintptr_t)roots, (uintptr_t)(roots + nroots), 0};
    int rc = run(&s, roots, nroots);
    memtap_leak_reader_close(&s.rd);
    memtap_leak_unmap(mem, bytes);
    errno = saved;
    return rc;
}
