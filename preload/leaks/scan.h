/* The leak scan's working state and its machinery, shared by the classification
 * (classify.c): reading and word scanning (scan.c), the mark stack and the lazy blocks
 * (drain.c). A conservative scan in memcheck's manner.
 *
 * Speed on big heaps is a matter of cache misses, not instructions: a random access to a
 * big array costs 100-300 ns when the next access waits for it, 10-15 ns when many are
 * in flight. So words that may be pointers are looked up in batches, each stage
 * prefetching what the next needs (scan.c), and the mark stack is popped in waves
 * (drain.c), so the misses of a batch overlap. */
#ifndef MEMTAP_PRELOAD_LEAKS_SCAN_H
#define MEMTAP_PRELOAD_LEAKS_SCAN_H

#include "leaks/index.h"
#include "leaks/leaks.h"
#include "leaks/memread.h"

#include <stddef.h>
#include <stdint.h>

/* A block's state while we work lives in its classes_out byte: the class in the low bits
 * (0 while unreached, then memcheck's Reachable / Possible / IndirectLeak; an unreached
 * block becomes DEFINITE at the end), PENDING while it waits to be scanned (on the mark
 * stack, or in the lazy bitmap), QUEUED while a lazy block's memory is being read. */
#define MEMTAP_LEAK_UNREACHED 0u
#define MEMTAP_LEAK_CLASS_MASK 7u
#define MEMTAP_LEAK_QUEUED 0x40u
#define MEMTAP_LEAK_PENDING 0x80u

/* What a scanned pointer does (memcheck's lc_scan_memory with clique -1, or a clique):
 * SWEEP records it as an edge of the snapshot, MARK reaches its block (phase 1, from a
 * root or a block), GATHER adds an unreached block to the current clique (phase 2). */
enum memtap_leak_mode { MEMTAP_LEAK_SWEEP, MEMTAP_LEAK_MARK, MEMTAP_LEAK_GATHER };

/* Words that may be pointers, looked up together. */
#define MEMTAP_LEAK_BATCH 64u
/* Blocks popped from the mark stack together, and their targets applied together. */
#define MEMTAP_LEAK_WAVE 32u
#define MEMTAP_LEAK_TARGETS 256u

typedef struct {
    uint64_t v;           /* the word */
    const uint32_t *slot; /* its slot in the index */
    uint32_t end;         /* its cluster's end */
    uint32_t src;         /* the block it was found in, or MEMTAP_LEAK_ROOT */
    uint32_t a, z;        /* the candidate blocks */
    uint32_t prior;       /* prior_definite (see memtap_leak_reach) */
} memtap_leak_cand_t;

typedef struct {
    const memtap_live_block_t *blocks;
    size_t n;
    uint8_t *st; /* the caller's classes_out */
    memtap_leak_index_t ix;
    uint32_t *stack; /* the mark stack, of snapshot blocks */
    size_t top;
    /* The snapshot: blocks [0, snapped) were read once and their pointers to other blocks
     * kept as edges[from(i) .. from(i + 1)), each (target << 1 | interior), where node[i]
     * is from(i) | first edge << 32: the first edge at hand saves walking a list of
     * blocks linked one to the next a cache miss per block. The others are lazy: read
     * again each time they are scanned, in address order (drain.c), found through the
     * lazy bitmap, whose set bits lie in [lazy_lo, lazy_hi]. */
    uint64_t *node;
    uint32_t *edges;
    size_t nedges, max_edges, snapped, node_next;
    int full; /* the sweep ran out of budget */
    uint64_t *lazy;
    size_t lazy_count, lazy_lo, lazy_hi;
    memtap_leak_cand_t *cand;
    uint32_t ncand;
    uint32_t *targets; /* a wave's targets (edges), and their prior_definite */
    uint8_t *target_prior;
    enum memtap_leak_mode mode;
    uint32_t clique; /* the leader while gathering a clique */
    memtap_leak_reader_t rd;
    memtap_range_t self[4]; /* never scanned as roots: our arrays and scratch */
    size_t nself;
    memtap_leak_stats_t *stats;
} memtap_leak_scan_t;

/* Queues block b to be scanned (once until it is). */
static inline void memtap_leak_push(memtap_leak_scan_t *s, uint32_t b) {
    if (s->st[b] & MEMTAP_LEAK_PENDING)
        return;
    s->st[b] |= MEMTAP_LEAK_PENDING;
    if (b < s->snapped) {
        s->stack[s->top++] = b;
        return;
    }
    s->lazy[b >> 6] |= 1ull << (b & 63);
    s->lazy_count++;
    if (b < s->lazy_lo)
        s->lazy_lo = b;
    if (b > s->lazy_hi)
        s->lazy_hi = b;
}

/* Phase 1 (memcheck's lc_push_without_clique_if_a_chunk_ptr): a pointer to block t, to
 * its start or not, found in memory whose own chain from the roots is made of start
 * pointers only (prior_definite: a root, or a Reachable block) or not (a Possible block).
 * Unreached -> Reachable or Possible, Possible -> Reachable; a change (re)scans t. */
static inline void memtap_leak_reach(memtap_leak_scan_t *s, uint32_t t, int start,
                                     int prior_definite) {
    unsigned cls = s->st[t] & MEMTAP_LEAK_CLASS_MASK;
    if (cls == MEMTAP_LEAK_REACHABLE)
        return;
    if (start && prior_definite) {
        s->st[t] = (uint8_t)((s->st[t] & ~MEMTAP_LEAK_CLASS_MASK) | MEMTAP_LEAK_REACHABLE);
        memtap_leak_push(s, t);
    } else if (cls == MEMTAP_LEAK_UNREACHED) {
        s->st[t] |= MEMTAP_LEAK_POSSIBLE;
        memtap_leak_push(s, t);
    }
}

/* Phase 2 (memcheck's lc_push_with_clique_if_a_chunk_ptr): a pointer, start or interior
 * alike, from a block of the clique to an unreached block other than the leader makes it
 * indirectly lost, part of the clique; a former leader joins with all it gathered. */
static inline void memtap_leak_gather(memtap_leak_scan_t *s, uint32_t t) {
    if ((s->st[t] & MEMTAP_LEAK_CLASS_MASK) == MEMTAP_LEAK_UNREACHED && t != s->clique) {
        s->st[t] |= MEMTAP_LEAK_INDIRECT;
        memtap_leak_push(s, t);
    }
}

/* A pointer to block t (interior or not) found in memory with prior_definite, in the
 * current mode (phases 1 and 2). */
static inline void memtap_leak_hit(memtap_leak_scan_t *s, uint32_t t, int start,
                                   int prior_definite) {
    if (s->mode == MEMTAP_LEAK_GATHER)
        memtap_leak_gather(s, t);
    else
        memtap_leak_reach(s, t, start, prior_definite);
}

/* The aligned words of [start, end): [*ws, *we); 0 when there are none. */
static inline int memtap_leak_words(uint64_t start, uint64_t end, uint64_t *ws, uint64_t *we) {
    uint64_t s = start;
    if (s & 7) {
        if ((s | 7) == UINT64_MAX)
            return 0;
        s = (s | 7) + 1;
    }
    uint64_t e = end & ~(uint64_t)7;
    if (s >= e)
        return 0;
    *ws = s;
    *we = e;
    return 1;
}

static inline int memtap_leak_block_words(const memtap_leak_scan_t *s, uint32_t b, uint64_t *ws,
                                          uint64_t *we) {
    return memtap_leak_words(s->blocks[b].addr, s->blocks[b].addr + s->blocks[b].size, ws, we);
}

/* Queues the words [ws, we) of blocks [first, last] (or of a root: MEMTAP_LEAK_ROOT), in
 * pieces when they do not fit the buffer, reading and scanning whenever it is full.
 * Returns 0 or -errno. */
int memtap_leak_queue(memtap_leak_scan_t *s, uint64_t ws, uint64_t we, uint32_t first,
                      uint32_t last);

/* Reads what is queued and scans it (and resolves every pending lookup). 0 or -errno. */
int memtap_leak_flush(memtap_leak_scan_t *s);

/* Reads the blocks [0, n) once in address order, in large batches, and keeps their
 * pointers as edges until max_edges; sets snapped. Returns 0 or -errno. */
int memtap_leak_sweep(memtap_leak_scan_t *s);

/* Scans the roots (minus the self ranges, only the pages worth reading where flagged) in
 * phase 1. Returns 0 or -errno. */
int memtap_leak_scan_roots(memtap_leak_scan_t *s, const memtap_range_t *roots, size_t nroots);

/* Scans every pending block, and those they make pending, in the current mode: snapshot
 * blocks through their edges, lazy ones by reading them. Returns 0 or -errno. */
int memtap_leak_drain(memtap_leak_scan_t *s);

#endif
