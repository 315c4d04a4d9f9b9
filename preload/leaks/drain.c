/* The leak scan's traversal (see scan.h): pops the mark stack in waves, walking the
 * snapshot's edges, and reads the pending lazy blocks in address order. The order in
 * which pending blocks are scanned changes nothing: phase 1 rises to the same fixpoint
 * whatever the order (a block whose state rises is scanned again), and a clique gathers
 * what its leader reaches through unreached blocks whatever the order. */
#include "leaks/scan.h"

/* Applies the wave's targets: edges, with the prior_definite of the block they left. */
static void apply(memtap_leak_scan_t *s, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        memtap_leak_hit(s, s->targets[i] >> 1, !(s->targets[i] & 1), s->target_prior[i]);
}

/* Scans up to MEMTAP_LEAK_WAVE blocks off the stack: their nodes (first edge and edge
 * range), then their other edges, then their targets' states and nodes, each step
 * prefetched by the one before, so that the misses of a wave overlap instead of
 * following each other. */
static void wave(memtap_leak_scan_t *s) {
    uint32_t b[MEMTAP_LEAK_WAVE], from[MEMTAP_LEAK_WAVE], to[MEMTAP_LEAK_WAVE];
    uint8_t prior[MEMTAP_LEAK_WAVE];
    uint32_t nb = 0, nt = 0;
    while (nb < MEMTAP_LEAK_WAVE && s->top > 0) {
        uint32_t x = s->stack[--s->top];
        s->st[x] &= (uint8_t)~MEMTAP_LEAK_PENDING;
        prior[nb] = (s->st[x] & MEMTAP_LEAK_CLASS_MASK) != MEMTAP_LEAK_POSSIBLE;
        __builtin_prefetch(&s->node[x]);
        b[nb++] = x;
    }
    for (uint32_t i = 0; i < nb; i++) {
        uint64_t node = s->node[b[i]];
        from[i] = (uint32_t)node;
        to[i] = (uint32_t)s->node[b[i] + 1];
        if (from[i] == to[i])
            continue;
        s->targets[nt] = (uint32_t)(node >> 32); /* the first edge, at hand */
        s->target_prior[nt++] = prior[i];
        __builtin_prefetch(&s->st[node >> 33]);
        __builtin_prefetch(&s->node[node >> 33]); /* in case it is pushed: the next wave's */
        if (++from[i] < to[i])
            __builtin_prefetch(&s->edges[from[i]]);
    }
    for (uint32_t i = 0; i < nb; i++) {
        for (uint32_t k = from[i]; k < to[i]; k++) {
            if (nt == MEMTAP_LEAK_TARGETS) {
                apply(s, nt);
                nt = 0;
            }
            uint32_t t = s->edges[k] >> 1;
            s->targets[nt] = s->edges[k];
            s->target_prior[nt++] = prior[i];
            __builtin_prefetch(&s->st[t]);
            __builtin_prefetch(&s->node[t]);
        }
    }
    apply(s, nt);
}

/* Takes pending lazy block b off the bitmap and marks it queued. */
static void take(memtap_leak_scan_t *s, size_t b) {
    s->lazy[b >> 6] &= ~(1ull << (b & 63));
    s->lazy_count--;
    s->st[b] = (uint8_t)((s->st[b] & ~MEMTAP_LEAK_PENDING) | MEMTAP_LEAK_QUEUED);
}

/* The next pending lazy block at or after b, up to hi, or SIZE_MAX. */
static size_t next_pending(const memtap_leak_scan_t *s, size_t b, size_t hi) {
    while (b <= hi) {
        uint64_t w = s->lazy[b >> 6] >> (b & 63);
        if (w)
            return b + (size_t)__builtin_ctzll(w) <= hi ? b + (size_t)__builtin_ctzll(w) : SIZE_MAX;
        b = (b | 63) + 1;
    }
    return SIZE_MAX;
}

/* Reads and scans the pending lazy blocks in address order, several to a read when they
 * lie close together (as the sweep does). Blocks that become pending behind the pass wait
 * for the next one. */
static int lazy_pass(memtap_leak_scan_t *s) {
    size_t page = memtap_leak_page_size(), hi = s->lazy_hi;
    size_t b = next_pending(s, s->lazy_lo, hi);
    s->lazy_lo = SIZE_MAX;
    s->lazy_hi = 0;
    while (b != SIZE_MAX) {
        uint64_t ws, we;
        take(s, b);
        if (!memtap_leak_block_words(s, (uint32_t)b, &ws, &we)) {
            b = next_pending(s, b + 1, hi);
            continue;
        }
        size_t last = b, next;
        uint32_t room = memtap_leak_reader_room(&s->rd) & ~7u;
        while ((next = next_pending(s, last + 1, hi)) != SIZE_MAX) {
            uint64_t nws, nwe;
            int has = memtap_leak_block_words(s, (uint32_t)next, &nws, &nwe);
            if (has && (nws - we >= page || nwe - ws > room))
                break;
            take(s, next);
            if (has)
                we = nwe;
            last = next;
        }
        int rc = memtap_leak_queue(s, ws, we, (uint32_t)b, (uint32_t)last);
        if (rc < 0)
            return rc;
        b = next;
    }
    return memtap_leak_flush(s);
}

int memtap_leak_drain(memtap_leak_scan_t *s) {
    for (;;) {
        while (s->top > 0)
            wave(s);
        if (s->lazy_count == 0)
            return 0;
        int rc = lazy_pass(s);
        if (rc < 0)
            return rc;
    }
}
