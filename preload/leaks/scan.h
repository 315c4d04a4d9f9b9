/* The leak scan's working state and its reading machinery (scan.c), shared by the
 * classification (classify.c): a conservative scan in memcheck's manner. */
#ifndef MEMTAP_PRELOAD_LEAKS_SCAN_H
#define MEMTAP_PRELOAD_LEAKS_SCAN_H

#include "leaks/index.h"
#include "leaks/leaks.h"
#include "leaks/memread.h"

#include <stddef.h>
#include <stdint.h>

/* A block's state while we work lives in its classes_out byte: the class in the low bits
 * (0 while unreached, then memcheck's Reachable / Possible / IndirectLeak; an unreached
 * block becomes DEFINITE at the end) and PENDING while it waits on the mark stack. */
#define MEMTAP_LEAK_UNREACHED 0u
#define MEMTAP_LEAK_CLASS_MASK 7u
#define MEMTAP_LEAK_PENDING 0x80u

/* What a scanned pointer does (memcheck's lc_scan_memory with clique -1, or a clique):
 * SWEEP records it as an edge of the snapshot, MARK and ROOT reach its block (phase 1, from
 * a block or a root), GATHER adds an unreached block to the current clique (phase 2). */
enum memtap_leak_mode { MEMTAP_LEAK_SWEEP, MEMTAP_LEAK_MARK, MEMTAP_LEAK_GATHER };

typedef struct {
    const memtap_live_block_t *blocks;
    size_t n;
    uint8_t *st; /* the caller's classes_out */
    memtap_leak_index_t ix;
    uint32_t *stack; /* the mark stack: each block at most once (PENDING) */
    size_t top;
    /* The snapshot: blocks [0, snapped) were read once and their pointers to other blocks
     * kept as edges[offs[i] .. offs[i + 1]), each (target << 1 | interior). The others are
     * lazy: read again each time they are scanned. */
    uint32_t *offs, *edges;
    size_t nedges, max_edges, snapped, offs_next;
    enum memtap_leak_mode mode;
    uint32_t clique; /* the leader while gathering a clique */
    memtap_leak_reader_t rd;
    memtap_range_t self[4]; /* never scanned as roots: our arrays and scratch */
    size_t nself;
    memtap_leak_stats_t *stats;
} memtap_leak_scan_t;

static inline void memtap_leak_push(memtap_leak_scan_t *s, uint32_t b) {
    if (!(s->st[b] & MEMTAP_LEAK_PENDING)) {
        s->st[b] |= MEMTAP_LEAK_PENDING;
        s->stack[s->top++] = b;
    }
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

/* Reads the blocks [0, n) once in address order, in large batches, and keeps their
 * pointers as edges until max_edges; sets snapped. Returns 0 or -errno. */
int memtap_leak_sweep(memtap_leak_scan_t *s);

/* Scans the roots (minus the self ranges, resident pages only where flagged) in phase 1.
 * Returns 0 or -errno. */
int memtap_leak_scan_roots(memtap_leak_scan_t *s, const memtap_range_t *roots, size_t nroots);

/* Pops the mark stack until it is empty, scanning each block in the current mode: its
 * edges, or its memory (batched) when it is lazy. Returns 0 or -errno. */
int memtap_leak_drain(memtap_leak_scan_t *s);

#endif
