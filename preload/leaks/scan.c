/* The leak scan's reading and word scanning (see scan.h): the sweep that snapshots the
 * pointers between blocks, the scan of the roots, and the mark stack's draining, which
 * reads lazy blocks in batches. All memory is read through the reader (memread.h). */
#include "leaks/scan.h"

/* The block with the edge being recorded exceeded the budget: the sweep stops there. */
#define SWEEP_FULL 1

/* Starts block b's edge list (the blocks before it that had no words get empty lists). */
static void begin_edges(memtap_leak_scan_t *s, uint32_t b) {
    while (s->offs_next <= b)
        s->offs[s->offs_next++] = (uint32_t)s->nedges;
}

/* Records a pointer from block src to block t. Self pointers and repeats of the previous
 * edge change nothing in either phase, so they are not kept. */
static int add_edge(memtap_leak_scan_t *s, uint32_t src, uint32_t t, int interior) {
    if (t == src)
        return 0;
    uint32_t e = t << 1 | (uint32_t)interior;
    if (s->nedges > s->offs[src] && s->edges[s->nedges - 1] == e)
        return 0;
    if (s->nedges == s->max_edges)
        return SWEEP_FULL;
    s->edges[s->nedges++] = e;
    return 0;
}

/* Scans nw words that come from block src (MEMTAP_LEAK_ROOT: from a root) in the current
 * mode. prior_definite as in memtap_leak_reach. Returns SWEEP_FULL or 0. */
static int scan_words(memtap_leak_scan_t *s, const uint64_t *w, size_t nw, uint32_t src,
                      int prior_definite) {
    const uint64_t lo = s->ix.lo, span = s->ix.span;
    const memtap_live_block_t *blocks = s->blocks;
    for (size_t i = 0; i < nw; i++) {
        uint64_t v = w[i];
        if (v - lo >= span) /* most words: not an address inside the blocks' span */
            continue;
        int64_t t = memtap_leak_lookup(&s->ix, v);
        if (t < 0)
            continue;
        int start = v == blocks[t].addr;
        switch (s->mode) {
        case MEMTAP_LEAK_SWEEP:
            if (add_edge(s, src, (uint32_t)t, !start))
                return SWEEP_FULL;
            break;
        case MEMTAP_LEAK_MARK:
            memtap_leak_reach(s, (uint32_t)t, start, prior_definite);
            break;
        case MEMTAP_LEAK_GATHER:
            memtap_leak_gather(s, (uint32_t)t);
            break;
        }
    }
    return 0;
}

/* Reads what is queued and scans it: roots with prior_definite set, blocks as their state
 * says (memcheck's lc_process_markstack: a Possible block passes on only possibility).
 * In the sweep, stops at the first block that does not fit the budget. */
static int flush(memtap_leak_scan_t *s) {
    memtap_leak_reader_t *rd = &s->rd;
    if (rd->nitems == 0)
        return 0;
    int rc = memtap_leak_reader_fill(rd);
    if (rc < 0)
        return rc;
    for (uint32_t k = 0; k < rd->nitems; k++) {
        const memtap_leak_item_t *it = &rd->items[k];
        const uint64_t *data = (const uint64_t *)(rd->buf + it->off);
        if (it->first == MEMTAP_LEAK_ROOT) {
            s->stats->root_bytes += it->end - it->start;
            scan_words(s, data, (size_t)(it->end - it->start) / 8, MEMTAP_LEAK_ROOT, 1);
            continue;
        }
        for (uint32_t b = it->first; b <= it->last; b++) {
            uint64_t ws, we;
            const memtap_live_block_t *blk = &s->blocks[b];
            if (!memtap_leak_words(blk->addr, blk->addr + blk->size, &ws, &we))
                continue;
            if (ws < it->start)
                ws = it->start;
            if (we > it->end)
                we = it->end;
            s->stats->heap_bytes += we - ws;
            unsigned cls = s->st[b] & MEMTAP_LEAK_CLASS_MASK;
            if (s->mode == MEMTAP_LEAK_SWEEP)
                begin_edges(s, b);
            if (scan_words(s, data + (ws - it->start) / 8, (size_t)(we - ws) / 8, b,
                           cls != MEMTAP_LEAK_POSSIBLE)) {
                s->nedges = s->offs[b]; /* b and all after it stay lazy */
                s->snapped = b;
                break;
            }
        }
        if (s->mode == MEMTAP_LEAK_SWEEP && s->snapped < s->n)
            break;
    }
    memtap_leak_reader_clear(rd);
    return 0;
}

/* Queues the words [ws, we) of blocks [first, last], in pieces when they do not fit the
 * buffer, reading and scanning whenever it is full. */
static int queue(memtap_leak_scan_t *s, uint64_t ws, uint64_t we, uint32_t first,
                 uint32_t last) {
    while (ws < we) {
        uint32_t room = memtap_leak_reader_room(&s->rd) & ~7u;
        if (room == 0) {
            int rc = flush(s);
            if (rc < 0)
                return rc;
            if (s->mode == MEMTAP_LEAK_SWEEP && s->snapped < s->n)
                return 0;
            continue;
        }
        uint64_t e = we - ws > room ? ws + room : we;
        memtap_leak_item_t *it = memtap_leak_reader_add(&s->rd, ws, e);
        it->first = first;
        it->last = last;
        ws = e;
    }
    return 0;
}

int memtap_leak_sweep(memtap_leak_scan_t *s) {
    s->mode = MEMTAP_LEAK_SWEEP;
    s->snapped = s->n;
    s->offs_next = 0;
    size_t page = memtap_leak_page_size();
    for (size_t b = 0; b < s->n && s->snapped == s->n;) {
        uint64_t ws, we;
        if (!memtap_leak_words(s->blocks[b].addr, s->blocks[b].addr + s->blocks[b].size, &ws,
                               &we)) {
            b++;
            continue;
        }
        /* one read for the following blocks too while the gaps between them are under a
         * page (such a gap holds no whole page, so it reads as well as its neighbours) and
         * the run fits the buffer */
        size_t last = b, next = b + 1;
        uint32_t room = memtap_leak_reader_room(&s->rd) & ~7u;
        for (; next < s->n; next++) {
            uint64_t nws, nwe;
            const memtap_live_block_t *nb = &s->blocks[next];
            if (!memtap_leak_words(nb->addr, nb->addr + nb->size, &nws, &nwe))
                continue;
            if (nws - we >= page || nwe - ws > room)
                break;
            we = nwe;
            last = next;
        }
        int rc = queue(s, ws, we, (uint32_t)b, (uint32_t)last);
        if (rc < 0)
            return rc;
        b = last + 1;
    }
    if (s->snapped == s->n) {
        int rc = flush(s);
        if (rc < 0)
            return rc;
    }
    memtap_leak_reader_clear(&s->rd);
    if (s->snapped == s->n)
        begin_edges(s, (uint32_t)s->n); /* offs[n]: the end of the last list */
    s->stats->edges = s->nedges;
    s->stats->lazy_blocks = s->n - s->snapped;
    return 0;
}

static int queue_root_run(void *ctx, uint64_t start, uint64_t end) {
    uint64_t ws, we;
    if (!memtap_leak_words(start, end, &ws, &we))
        return 0;
    return queue(ctx, ws, we, MEMTAP_LEAK_ROOT, MEMTAP_LEAK_ROOT);
}

/* Queues the root words of [start, end): only the pages worth reading when flagged. */
static int queue_root(memtap_leak_scan_t *s, uint64_t start, uint64_t end, uint64_t flags) {
    if (flags & MEMTAP_RANGE_RESIDENT_ONLY)
        return memtap_leak_for_each_run(&s->rd, start, end, queue_root_run, s);
    return queue_root_run(s, start, end);
}

int memtap_leak_scan_roots(memtap_leak_scan_t *s, const memtap_range_t *roots, size_t nroots) {
    s->mode = MEMTAP_LEAK_MARK;
    for (size_t r = 0; r < nroots; r++) {
        memtap_range_t parts[sizeof s->self / sizeof s->self[0] + 1];
        size_t nparts = memtap_leak_subtract(roots[r].start, roots[r].end, s->self, s->nself,
                                             parts, sizeof parts / sizeof parts[0]);
        if (nparts == SIZE_MAX) /* cannot happen: at most nself + 1 parts */
            nparts = 0;
        for (size_t k = 0; k < nparts; k++) {
            int rc = queue_root(s, parts[k].start, parts[k].end, roots[r].flags);
            if (rc < 0)
                return rc;
        }
    }
    return flush(s);
}

/* Scans block b: its edges at once, or, when it is lazy, queues its memory. */
static int scan_block(memtap_leak_scan_t *s, uint32_t b) {
    if (b < s->snapped) {
        int prior_definite = (s->st[b] & MEMTAP_LEAK_CLASS_MASK) != MEMTAP_LEAK_POSSIBLE;
        for (uint32_t k = s->offs[b]; k < s->offs[b + 1]; k++) {
            uint32_t t = s->edges[k] >> 1;
            if (s->mode == MEMTAP_LEAK_GATHER)
                memtap_leak_gather(s, t);
            else
                memtap_leak_reach(s, t, !(s->edges[k] & 1), prior_definite);
        }
        return 0;
    }
    uint64_t ws, we;
    if (!memtap_leak_words(s->blocks[b].addr, s->blocks[b].addr + s->blocks[b].size, &ws, &we))
        return 0;
    return queue(s, ws, we, b, b);
}

int memtap_leak_drain(memtap_leak_scan_t *s) {
    for (;;) {
        while (s->top > 0) {
            uint32_t b = s->stack[--s->top];
            s->st[b] &= (uint8_t)~MEMTAP_LEAK_PENDING;
            int rc = scan_block(s, b);
            if (rc < 0)
                return rc;
        }
        if (s->rd.nitems == 0)
            return 0;
        int rc = flush(s); /* may push more */
        if (rc < 0)
            return rc;
    }
}
