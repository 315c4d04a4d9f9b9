/* The leak scan's reading and word scanning (see scan.h): batched lookups of the words
 * that may be pointers, the sweep that snapshots the pointers between blocks, the scan of
 * the roots. All memory is read through the reader (memread.h). */
#include "leaks/scan.h"

/* Starts block b's edge list (the blocks before it without edges get empty lists). */
static void begin_edges(memtap_leak_scan_t *s, uint32_t b) {
    while (s->node_next <= b)
        s->node[s->node_next++] = s->nedges;
}

/* Records a pointer from block src to block t; 0, or 1 when the budget is spent. Self
 * pointers and repeats of the previous edge change nothing in either phase: not kept. */
static int add_edge(memtap_leak_scan_t *s, uint32_t src, uint32_t t, int interior) {
    if (t == src)
        return 0;
    begin_edges(s, src);
    uint32_t e = t << 1 | (uint32_t)interior;
    uint32_t from = (uint32_t)s->node[src];
    if (s->nedges > from && s->edges[s->nedges - 1] == e)
        return 0;
    if (s->nedges == s->max_edges)
        return 1;
    if (s->nedges == from)
        s->node[src] |= (uint64_t)e << 32;
    s->edges[s->nedges++] = e;
    return 0;
}

/* Looks the batch of candidates up: their slots were prefetched when they were added;
 * reading them gives the candidate blocks, prefetched in turn; then each is settled in
 * order. In the sweep, a block whose edges overflow the budget and all after it stay
 * lazy: the sweep stops there (full). */
static void resolve(memtap_leak_scan_t *s) {
    memtap_leak_cand_t *c = s->cand;
    const memtap_live_block_t *blocks = s->blocks;
    uint32_t n = s->ncand;
    s->ncand = 0;
    for (uint32_t i = 0; i < n; i++) {
        memtap_leak_candidates(c[i].slot, c[i].end, &c[i].a, &c[i].z);
        __builtin_prefetch(&blocks[c[i].a]);
        __builtin_prefetch(&blocks[c[i].z]);
    }
    for (uint32_t i = 0; i < n; i++) {
        int64_t t = memtap_leak_find(blocks, c[i].a, c[i].z, c[i].v);
        if (t < 0)
            continue;
        int start = c[i].v == blocks[t].addr;
        if (s->mode != MEMTAP_LEAK_SWEEP) {
            memtap_leak_hit(s, (uint32_t)t, start, (int)c[i].prior);
        } else if (add_edge(s, c[i].src, (uint32_t)t, !start)) {
            s->node[c[i].src] = (uint32_t)s->node[c[i].src]; /* it and all after it stay lazy */
            s->nedges = s->node[c[i].src];
            s->snapped = c[i].src;
            s->full = 1;
            return;
        }
    }
}

/* Takes the nw words w, found in block src (or a root), that may be pointers. */
static void scan_words(memtap_leak_scan_t *s, const uint64_t *w, size_t nw, uint32_t src,
                       int prior_definite) {
    const uint64_t lo = s->ix.lo, span = s->ix.span;
    for (size_t i = 0; i < nw; i++) {
        uint64_t v = w[i];
        if (v - lo >= span) /* most words: not an address inside the blocks' span */
            continue;
        const memtap_leak_cluster_t *cl = memtap_leak_cluster_of(&s->ix, v);
        if (!cl)
            continue;
        memtap_leak_cand_t *c = &s->cand[s->ncand];
        c->v = v;
        c->slot = memtap_leak_slot_of(cl, v);
        c->end = cl->end;
        c->src = src;
        c->prior = (uint32_t)prior_definite;
        __builtin_prefetch(c->slot);
        if (++s->ncand == MEMTAP_LEAK_BATCH) {
            resolve(s);
            if (s->full)
                return;
        }
    }
}

/* Scans the queued block b's part in item it: all of it in the sweep; otherwise only if
 * it was queued (a lazy block other than the pending ones is read only because it lies
 * between them), with prior_definite from its state now (memcheck's
 * lc_process_markstack: a Possible block passes on only possibility). A block larger than
 * the buffer comes in several items: it stays queued until its last. */
static void scan_block(memtap_leak_scan_t *s, const memtap_leak_item_t *it, const uint64_t *data,
                       uint32_t b) {
    uint64_t ws = 0, we = 0;
    int has = memtap_leak_block_words(s, b, &ws, &we);
    if (s->mode != MEMTAP_LEAK_SWEEP) {
        if (!(s->st[b] & MEMTAP_LEAK_QUEUED))
            return;
        if (!has || we <= it->end)
            s->st[b] &= (uint8_t)~MEMTAP_LEAK_QUEUED;
    }
    if (ws < it->start)
        ws = it->start;
    if (we > it->end)
        we = it->end;
    if (!has || ws >= we)
        return;
    s->stats->heap_bytes += we - ws;
    unsigned cls = s->st[b] & MEMTAP_LEAK_CLASS_MASK;
    scan_words(s, data + (ws - it->start) / 8, (size_t)(we - ws) / 8, b,
               cls != MEMTAP_LEAK_POSSIBLE);
}

int memtap_leak_flush(memtap_leak_scan_t *s) {
    memtap_leak_reader_t *rd = &s->rd;
    if (rd->nitems && !s->full) {
        int rc = memtap_leak_reader_fill(rd);
        if (rc < 0)
            return rc;
    }
    for (uint32_t k = 0; k < rd->nitems && !s->full; k++) {
        const memtap_leak_item_t *it = &rd->items[k];
        const uint64_t *data = (const uint64_t *)(rd->buf + it->off);
        if (it->first == MEMTAP_LEAK_ROOT) {
            s->stats->root_bytes += it->end - it->start;
            scan_words(s, data, (size_t)(it->end - it->start) / 8, MEMTAP_LEAK_ROOT, 1);
            continue;
        }
        for (uint32_t b = it->first; b <= it->last && !s->full; b++)
            scan_block(s, it, data, b);
    }
    if (!s->full)
        resolve(s);
    memtap_leak_reader_clear(rd);
    return 0;
}

int memtap_leak_queue(memtap_leak_scan_t *s, uint64_t ws, uint64_t we, uint32_t first,
                      uint32_t last) {
    while (ws < we && !s->full) {
        uint32_t room = memtap_leak_reader_room(&s->rd) & ~7u;
        if (room == 0) {
            int rc = memtap_leak_flush(s);
            if (rc < 0)
                return rc;
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

/* The last block of a run starting at block b whose words [*ws, *we) are read at once:
 * the following blocks join while the gaps between them are under a page (such a gap
 * holds no whole page, so it reads as well as its neighbours) and the run fits the
 * buffer. */
static size_t run_from(const memtap_leak_scan_t *s, size_t b, uint64_t *ws, uint64_t *we) {
    size_t page = memtap_leak_page_size(), last = b;
    uint32_t room = memtap_leak_reader_room(&s->rd) & ~7u;
    for (size_t next = b + 1; next < s->n; next++) {
        uint64_t nws, nwe;
        if (!memtap_leak_block_words(s, (uint32_t)next, &nws, &nwe))
            continue;
        if (nws - *we >= page || nwe - *ws > room)
            break;
        *we = nwe;
        last = next;
    }
    return last;
}

int memtap_leak_sweep(memtap_leak_scan_t *s) {
    s->mode = MEMTAP_LEAK_SWEEP;
    s->snapped = s->n;
    s->node_next = 0;
    for (size_t b = 0; b < s->n && !s->full;) {
        uint64_t ws, we;
        if (!memtap_leak_block_words(s, (uint32_t)b, &ws, &we)) {
            b++;
            continue;
        }
        size_t last = run_from(s, b, &ws, &we);
        int rc = memtap_leak_queue(s, ws, we, (uint32_t)b, (uint32_t)last);
        if (rc < 0)
            return rc;
        b = last + 1;
    }
    int rc = memtap_leak_flush(s);
    if (rc < 0)
        return rc;
    memtap_leak_reader_clear(&s->rd);
    s->ncand = 0;
    s->full = 0;
    begin_edges(s, (uint32_t)s->snapped); /* node[snapped]: the end of the last list */
    s->stats->edges = s->nedges;
    s->stats->lazy_blocks = s->n - s->snapped;
    return 0;
}

static int queue_root_run(void *ctx, uint64_t start, uint64_t end) {
    uint64_t ws, we;
    if (!memtap_leak_words(start, end, &ws, &we))
        return 0;
    return memtap_leak_queue(ctx, ws, we, MEMTAP_LEAK_ROOT, MEMTAP_LEAK_ROOT);
}

int memtap_leak_scan_roots(memtap_leak_scan_t *s, const memtap_range_t *roots, size_t nroots) {
    s->mode = MEMTAP_LEAK_MARK;
    for (size_t r = 0; r < nroots; r++) {
        memtap_range_t parts[sizeof s->self / sizeof s->self[0] + 1];
        size_t nparts = memtap_leak_subtract(roots[r].start, roots[r].end, s->self, s->nself, parts,
                                             sizeof parts / sizeof parts[0]);
        if (nparts == SIZE_MAX) /* cannot happen: at most nself + 1 parts */
            nparts = 0;
        for (size_t k = 0; k < nparts; k++) {
            int rc = roots[r].flags & MEMTAP_RANGE_RESIDENT_ONLY
                         ? memtap_leak_for_each_run(&s->rd, parts[k].start, parts[k].end,
                                                    queue_root_run, s)
                         : queue_root_run(s, parts[k].start, parts[k].end);
            if (rc < 0)
                return rc;
        }
    }
    return memtap_leak_flush(s);
}
